"""Hidden checks of ``dropout_forward``.

The judge draws every input here, a runner process calls the submission on them, and the
checks below look only at the raw outputs. Inputs are chosen so that the mask can be read off
the output: every input entry is far from 0, so ``out == 0`` exactly where a unit was dropped.

Credit policy (``[credit]`` in the course manifest): the checks of properties that any layer
doing nothing would have (shape and dtype, input unchanged, mask independence, seed) earn their
points only when train mode drops units; the test branch (given code) earns its points only with
a train mode that drops at rate p and keeps the mean, the partner that makes test-mode identity
right. A diagnosis is named only when the measured zero fractions and scales fit one pattern for
every p; otherwise the message states the measured facts in words. Messages never show the
checks' inputs (p values, shapes, seeds) nor numbers measured on them.
"""

import math
from typing import NamedTuple

import numpy as np
import pytest

from coursekit.grading.checks import (DELTA, bernoulli_tolerance, bounded_mean_tolerance, fail, normal_cdf,
                                      once_per_run, points, where_it_broke)
from coursekit.grading.client import Plan, run_plan
from coursekit.grading.reference import array_digest

TRAIN_PS = (0.1, 0.25, 0.4, 0.5, 0.7, 0.9)
TEST_PS = (0.25, 0.5, 0.9)
INDEPENDENCE_PS = (0.25, 0.5)
SEED_P = 0.5


def _forward(plan, name, x, p, mode, seed=None):
    param = {"p": p, "mode": mode}
    if seed is not None:
        param["seed"] = seed
    plan.array(name + "/x", x)
    seeded = " with a seed" if seed is not None else ""
    plan.add(name, {"op": "dropout_forward", "x": name + "/x", "param": param},
             f"a {mode}-mode call of dropout_forward{seeded} on a {x.ndim}-D {x.dtype} input")


def _planned():
    """The calls and their inputs: the same for every submission, so planned once, when the checks
    are imported (the checks server imports them before it forks each submission's checks)."""
    rng = np.random.RandomState(20261123)
    plan = Plan("dropout_forward")
    big = rng.randn(500, 500) + 10  # entries between about 4.5 and 15.5: none is zero
    for p in TRAIN_PS:
        _forward(plan, f"train/{p}", big, p, "train")
    for p in TEST_PS:
        _forward(plan, f"test/{p}", big, p, "test")
    small32 = (rng.randn(64, 40) + 5).astype(np.float32)
    image = rng.rand(8, 3, 5, 4) + 1
    for mode in ("train", "test"):
        _forward(plan, f"float32/{mode}", small32, 0.3, mode)
        _forward(plan, f"4d/{mode}", image, 0.3, mode)
    seeded = rng.rand(50, 60) + 1
    for name, seed in (("seed-a", 5), ("seed-b", 5), ("seed-c", 6), ("unseeded-1", None), ("unseeded-2", None)):
        _forward(plan, f"seed/{name}", seeded, SEED_P, "train", seed)
    return plan


PLAN = _planned()


@pytest.fixture(scope="module")
def run(submission, runner_limits):
    return PLAN, run_plan(PLAN, submission, **runner_limits)


def _case(run, name):
    plan, results = run
    return plan.inputs[name + "/x"], results[name]


def _train_output(run, p):
    """(input, train-mode output) at drop probability p; fails when the shapes differ."""
    x, result = _case(run, f"train/{p}")
    out = result["out"]
    if out.shape != x.shape:
        fail("A train-mode output does not have the shape of its input.")
    return x, out


class TrainFacts(NamedTuple):
    """What one train-mode call at drop probability p shows."""
    zeros: float  # fraction of zeroed entries
    scale: float | None  # median scale out / x of the kept entries (None: none kept)
    exact: bool  # every kept entry has that scale
    uniform_scales: bool  # the kept scales are one factor times uniform draws on [p, 1)


def _scales_uniform_from_p(ratio, p):
    """Whether the kept entries' scales look like one factor times draws uniform on [p, 1), the values a
    mask takes when it keeps the uniform draws at or above p: divided by the largest and mapped onto
    [0, 1], their empirical distribution function is within the Dvoretzky-Kiefer-Wolfowitz bound
    (that of bernoulli_tolerance) of the uniform one, widened by ln(1/DELTA)/n for the largest draw
    standing in for the factor."""
    if ratio.size < 2 or not np.all(ratio > 0):
        return False
    n = ratio.size
    draws = np.sort((ratio / ratio.max() - p) / (1 - p))
    steps = np.arange(1, n + 1) / n
    distance = max(float(np.max(steps - draws)), float(np.max(draws - (steps - 1 / n))))
    return distance <= bernoulli_tolerance(n) + math.log(1 / DELTA) / n


@once_per_run
def _train_facts(run):
    """TrainFacts per train-mode p."""
    facts = {}
    for p in TRAIN_PS:
        x, out = _train_output(run, p)
        kept = out != 0
        ratio = out[kept] / x[kept]
        scale = float(np.median(ratio)) if ratio.size else None
        facts[p] = TrainFacts(float(np.mean(~kept)), scale, bool(ratio.size and np.allclose(ratio, scale, rtol=1e-6)),
                              _scales_uniform_from_p(ratio, p))
    return facts


@once_per_run
def _test_scaling(run):
    """"1 - p" or "p" when test mode multiplies x by that factor for every p tried, else None."""
    cases = [(*_case(run, f"test/{p}"), p) for p in TEST_PS]
    for name, factor in (("1 - p", lambda p: 1 - p), ("p", lambda p: p)):
        if all(result.ok and result["out"].shape == x.shape and np.allclose(result["out"], factor(p) * x, rtol=1e-6)
               for x, result, p in cases):
            return name
    return None


@once_per_run
def _diagnosis(run):
    """(mistake id, what it means) when every train-mode measurement fits one known pattern, else (None, "")."""
    facts = _train_facts(run)
    tolerance = bernoulli_tolerance(_case(run, f"train/{TRAIN_PS[0]}")[0].size)

    def drops(rate):
        return all(abs(fact.zeros - rate(p)) <= tolerance for p, fact in facts.items())

    def scales(factor):
        return all(fact.scale is not None and fact.exact and np.isclose(fact.scale, factor(p), rtol=1e-6)
                   for p, fact in facts.items())

    if all(fact.zeros == 0 for fact in facts.values()):
        return "drops-nothing", ("no unit is dropped in train mode, whatever p: the mask keeps everything "
                                 "(check the comparison that builds it, and its parentheses)")
    test_factor = _test_scaling(run)
    if test_factor and scales(lambda p: 1.0):
        return "scaled-at-test-time", (f"train mode leaves the kept units unscaled and test mode multiplies x by "
                                       f"{test_factor}: that is vanilla dropout; inverted dropout scales by "
                                       "1/(1-p) in training and returns x unchanged in test mode")
    if drops(lambda p: 1 - normal_cdf(p)) or drops(normal_cdf):
        return "mask-from-normal", ("the fraction of dropped units follows the normal distribution's "
                                    "cumulative probability at p, not p: the mask compares normal draws "
                                    "(np.random.randn) with p; compare uniform draws on [0, 1) instead")
    if drops(lambda p: 1 - normal_cdf(1 - p)) or drops(lambda p: normal_cdf(1 - p)):
        return "mask-from-normal-at-keep-rate", ("the fraction of dropped units follows the normal distribution's "
                                                 "cumulative probability at 1 - p, not p, so it comes near p for "
                                                 "some values of p only: the mask compares normal draws "
                                                 "(np.random.randn) with the keep probability 1 - p; compare "
                                                 "uniform draws on [0, 1) instead")
    if drops(lambda p: p) and all(fact.uniform_scales for fact in facts.values()):
        return "mask-not-binary", ("units are dropped with probability p, as they should be, but each kept unit "
                                   "is multiplied by its own uniform draw instead of one common factor: the mask "
                                   "keeps the draws themselves, where it must hold zeros and the one factor 1/(1-p)")
    if drops(lambda p: 1 - p):
        return "keep-drop-swapped", "units are dropped with probability 1 - p instead of p"
    if drops(lambda p: p) and scales(lambda p: 1.0):
        return "survivors-not-scaled", "units are dropped with probability p but the kept ones are not scaled"
    if drops(lambda p: p) and scales(lambda p: 1 / p):
        return "scaled-by-inverse-p", ("units are dropped with probability p, as they should be, but the kept "
                                       "ones are scaled by 1/p instead of 1/(1-p)")
    return None, ""


def _drops_units(run, check):
    """Credit policy: ``check`` counts only if train mode drops units (the 2-D call with p=0.5)."""
    __tracebackhide__ = True
    x, result = _case(run, "train/0.5")
    out = result["out"]
    if out.shape == x.shape and not (out == 0).any():
        fail(f"Not credited: {check} presupposes that train mode drops units, and it dropped none.",
             "drops-nothing")


def _outside(error, tolerance):
    """+1 or -1 when ``error`` is beyond ``tolerance`` on that side, else 0."""
    return 0 if abs(error) <= tolerance else int(np.sign(error))


@once_per_run
def _statistics_problems(run):
    """The values of p whose train-mode zero fraction or mean is outside its Hoeffding bound, with
    the side (+1 above, -1 below, 0 within) of the zero fraction against p and of the output mean
    against the input mean."""
    problems, input_tolerance = {}, {}
    for p in TRAIN_PS:
        x, out = _train_output(run, p)
        # Each entry is dropped independently with probability p: a Bernoulli(p) draw.
        zeros = _outside(float(np.mean(out == 0)) - p, bernoulli_tolerance(x.size))
        # Entry i of the output minus the input is x_i (k_i - (1 - p)) / (1 - p), k_i in {0, 1}:
        # its range has width |x_i| / (1 - p), so the tolerance is that of widths |x_i|, over 1 - p.
        if id(x) not in input_tolerance:  # every p is tried on the same x
            input_tolerance[id(x)] = bounded_mean_tolerance(np.abs(x))
        mean = _outside(float(np.mean(out)) - float(np.mean(x)), input_tolerance[id(x)] / (1 - p))
        if zeros or mean:
            problems[p] = (zeros, mean)
    return problems


def _compared(error, more, fewer, same):
    return more if error > 0 else fewer if error < 0 else same


def _sides(signs, above, below, close):
    """The words for the sides measured over the values of p (+1, -1, 0): one of them, or two for some
    values and others."""
    words = [word for sign, word in ((1, above), (-1, below), (0, close)) if sign in signs]
    return words[0] if len(words) == 1 else f"{words[0]} for some values and {words[1]} for others"


@points(3)
def test_train_statistics(run):
    """Zero fraction within a Hoeffding bound of p; output mean within one of the input mean."""
    problems = _statistics_problems(run)
    if not problems:
        return
    zero_sides, mean_sides = {z for z, _ in problems.values()}, {m for _, m in problems.values()}
    zeros = _sides(zero_sides, "above p", "below p", "close to p")
    mean = _sides(mean_sides, "above the input's mean", "below the input's mean", "close to the input's mean")
    if len(zero_sides) > 1 or len(mean_sides) > 1:  # the sides already say "for some values"
        lead = "over the values of p tried"
    else:
        lead = "for every value of p tried" if len(problems) == len(TRAIN_PS) else "for some of the values of p tried"
    figures = (f"{lead}, the fraction of zeroed entries in the train-mode output is {zeros}, "
               f"and the output's mean is {mean} (inverted dropout keeps the mean)")
    mistake, meaning = _diagnosis(run)
    if mistake:
        fail(f"{meaning[0].upper()}{meaning[1:]}: {figures}.", mistake)
    fail(f"Train-mode statistics are off: {figures}.")


@points(1)
def test_train_values(run):
    """Every output entry is 0 or x / (1 - p)."""
    sides = set()
    for p in TRAIN_PS:
        x, out = _train_output(run, p)
        kept = out != 0
        if not kept.any():
            fail("For some p, every train-mode output entry is 0.")
        ratio = out[kept] / x[kept]
        if not np.allclose(ratio, 1 / (1 - p), rtol=1e-6):
            sides.add(int(np.sign(float(np.median(ratio)) - 1 / (1 - p))))
    if not sides:
        return
    factor = _sides(sides, "larger than 1/(1-p)", "smaller than 1/(1-p)", "other than 1/(1-p)")
    where = f"the kept entries are x times a factor {factor}, where inverted dropout gives x / (1 - p)"
    mistake, meaning = _diagnosis(run)
    if mistake:
        fail(f"{meaning[0].upper()}{meaning[1:]}: {where}.", mistake)
    fail(f"Output entries are neither 0 nor x / (1 - p): {where}.")


@points(2)
def test_test_mode_identity(run):
    """In test mode the output is exactly the input, whatever p."""
    _drops_units(run, "the test-mode check")
    identity = all(np.array_equal(_case(run, f"test/{p}")[1]["out"], _case(run, f"test/{p}")[0]) for p in TEST_PS)
    if identity and _statistics_problems(run):
        fail("Not credited: the test branch is given code, and returning x unchanged is right only as the "
             "partner of a train mode that drops units with probability p and keeps the mean (see the "
             "train statistics check).", _diagnosis(run)[0])
    for p in TEST_PS:
        x, result = _case(run, f"test/{p}")
        out = result["out"]
        if out.shape == x.shape and np.array_equal(out, x):
            continue
        if out.shape != x.shape:
            fail("In test mode the output does not have the shape of its input.")
        if (out == 0).any():
            fail("In test mode some output entries are zero although the input has none: dropout must "
                 "do nothing at test time.", "active-in-test-mode")
        for name, factor in (("1 - p", 1 - p), ("p", p)):
            if np.allclose(out, factor * x, rtol=1e-6):
                fail(f"In test mode the output is the input times {name}: that is vanilla dropout's "
                     "test-time scaling; inverted dropout scales in training and returns x unchanged in "
                     "test mode.", "scaled-at-test-time")
        fail("In test mode the output differs from the input; it must be x unchanged.")


@points(1)
def test_shape_and_dtype_kept(run):
    _drops_units(run, "the shape and dtype check")
    for name in ("float32/train", "float32/test", "4d/train", "4d/test"):
        x, result = _case(run, name)
        mode = name.split("/")[1]
        if not result.ok and result.raised and x.ndim != 2 and _case(run, "train/0.5")[1].ok:
            fail(f"A {mode}-mode call on a {x.ndim}-D input raised {result.raised}{where_it_broke(result)}, while "
                 "2-D inputs work: dropout_forward must take an input of any shape (draw the mask with x.shape "
                 "as a whole instead of unpacking it into N, D).", "assumes-2d-input", where=result.where)
        out = result["out"]
        if out.shape != x.shape:
            fail(f"In {mode} mode the output of a {x.ndim}-D input does not have the input's shape.")
        if out.dtype != x.dtype:
            fail(f"In {mode} mode an input of dtype {x.dtype} gave an output of dtype {out.dtype}; "
                 "the output must keep the input's dtype.", "dtype-changed")


@points(1)
def test_input_not_modified(run):
    """Judged on every call that returned; a call that raised costs its own check, not this one."""
    _drops_units(run, "the input-unchanged check")
    plan, results = run
    digests = {}  # many calls share one input
    for name in plan.names:
        if name == "import" or not results[name].ok:
            continue
        x, result = _case(run, name)
        if id(x) not in digests:
            digests[id(x)] = array_digest(x)
        if result.facts.get("x_after") != digests[id(x)]:
            fail(f"{result.description[0].upper()}{result.description[1:]} changed entries of its input x; the "
                 "caller's array must stay as it was (compute a new array instead of writing into x).",
                 "input-modified")


@points(1)
def test_masks_independent(run):
    """Each unit of each example is dropped on its own draw.

    Disjoint pairs of rows (and of columns) are compared: for independent draws two entries
    agree (both dropped or both kept) with probability a = q^2 + (1 - q)^2 (q the drop rate), so the agreement
    rate over n disjoint pairs is a Bernoulli(a) mean, within bernoulli_tolerance(n) of a.
    """
    _drops_units(run, "the mask-independence check")
    for p in INDEPENDENCE_PS:
        x, result = _case(run, f"train/{p}")
        kept = result["out"] != 0
        if kept.shape != x.shape:
            fail("A train-mode output does not have the shape of its input.")
        if kept.all():
            fail("For some p no unit is dropped, so there is no mask to check.")
        # Judged at the measured drop rate q, so that a wrong rate costs the statistics check
        # only; estimating q moves q^2 + (1 - q)^2 by at most 2 |q - E q|: widen the bounds by that.
        q = float(np.mean(~kept))
        expected = q * q + (1 - q) * (1 - q)
        rows = float(np.mean(kept[0::2] == kept[1::2]))
        columns = float(np.mean(kept[:, 0::2] == kept[:, 1::2]))
        row_tolerance = bernoulli_tolerance(kept[0::2].size) + 2 * bernoulli_tolerance(kept.size)
        column_tolerance = bernoulli_tolerance(kept[:, 0::2].size) + 2 * bernoulli_tolerance(kept.size)
        # A shared mask makes the other direction's agreement rate noisy too: name it first.
        if rows > 0.99:
            fail("Every example in the batch gets the same mask (the rows of the output are dropped in the "
                 "same places): draw the mask with the input's full shape, not one row broadcast over the "
                 "batch.", "mask-shared-across-batch")
        if columns > 0.99:
            fail("Each example keeps or drops all its units together (whole rows of the output are kept or "
                 "zeroed): each unit needs its own draw.", "mask-shared-across-units")
        if abs(rows - expected) > row_tolerance:
            fail("The masks of different examples are not independent: neighbouring rows of the output are "
                 f"dropped in the same places {_compared(rows - expected, 'more', 'less', 'as')} often than "
                 "independent draws would be.")
        if abs(columns - expected) > column_tolerance:
            fail("The units of one example are not dropped independently: neighbouring columns of the output "
                 f"are dropped together {_compared(columns - expected, 'more', 'less', 'as')} often than "
                 "independent draws would be.")


@points(1)
def test_seed_makes_mask_reproducible(run):
    _drops_units(run, "the seed check")
    a = _case(run, "seed/seed-a")[1]["out"]
    b = _case(run, "seed/seed-b")[1]["out"]
    c = _case(run, "seed/seed-c")[1]["out"]
    first = _case(run, "seed/unseeded-1")[1]["out"]
    second = _case(run, "seed/unseeded-2")[1]["out"]
    if not (a == 0).any():
        fail("With a seed no unit is dropped, so there is no mask to reproduce.")
    if not np.array_equal(a, b):
        fail("Two train-mode calls with the same dropout_param['seed'] gave different masks: the mask "
             "must come from the random generator the seed initialises, as gradient checks need.",
             "seed-ignored")
    if np.array_equal(a == 0, c == 0):
        fail("Train-mode calls with two different seeds gave the same mask: the mask does not depend on the "
             "seed.", "seed-ignored")
    if np.array_equal(first == 0, second == 0):
        fail("Two train-mode calls without a seed gave the same mask: a new mask must be drawn on "
             "every call.")
