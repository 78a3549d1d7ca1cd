"""Hidden checks of ``spatial_dropout_forward`` and ``spatial_dropout_backward``.

The judge draws every input here, a runner process calls the submission on them (calls.py), and
the checks look only at the raw outputs. Every input entry is positive, so ``out == 0`` exactly
where an entry was dropped, and the feature maps (H x W) have a height and a width that differ
from each other and from the number of channels, so a mask laid along the wrong axis shows.

Credit policy (``[credit]`` in the manifest): the checks of properties a layer that drops
nothing would have (whole maps, independence, dtype and input, seed, gradient) earn their points
only when train mode drops maps; the test branch (given code) only with a train mode whose
statistics are right. Messages never show the checks' inputs nor numbers measured on them.
"""

import numpy as np
import pytest

from coursekit.grading.checks import bernoulli_tolerance, bounded_mean_tolerance, fail, once_per_run, points
from coursekit.grading.client import Plan, run_plan
from coursekit.grading.reference import array_digest
from coursekit.manifest import COURSE

TASK = "spatial_dropout"

TRAIN_PS = (0.2, 0.5, 0.8)
TEST_PS = (0.3, 0.7)
SEED_P = 0.5


def _forward(plan, name, x, p, mode, seed=None, keep=None):
    param = {"p": p, "mode": mode, **({"seed": seed} if seed is not None else {})}
    plan.array(name + "/x", x)
    op = {"op": "spatial_dropout_forward", "x": name + "/x", "param": param, **({"keep": keep} if keep else {})}
    seeded = " with a seed" if seed is not None else ""
    plan.add(name, op, f"a {mode}-mode call of spatial_dropout_forward{seeded} on a {x.dtype} input")


def _planned():
    """The calls and their inputs, the same for every submission: planned once, at import."""
    rng = np.random.RandomState(20261207)
    plan = Plan(TASK)
    maps = rng.rand(120, 40, 3, 5) + 1  # N, C, H, W all different; entries in [1, 2)
    for p in TRAIN_PS:
        _forward(plan, f"train/{p}", maps, p, "train")
    for p in TEST_PS:
        _forward(plan, f"test/{p}", maps, p, "test")
    small32 = (rng.rand(8, 6, 4, 4) + 1).astype(np.float32)
    for mode in ("train", "test"):
        _forward(plan, f"float32/{mode}", small32, 0.5, mode)
    seeded = rng.rand(20, 16, 2, 3) + 1
    for name, seed in (("seed-a", 5), ("seed-b", 5), ("seed-c", 6), ("unseeded-1", None), ("unseeded-2", None)):
        _forward(plan, f"seed/{name}", seeded, SEED_P, "train", seed)
    _forward(plan, "backward/forward", rng.rand(10, 12, 3, 4) + 1, 0.4, "train", keep="backward")
    plan.array("backward/dout", rng.randn(10, 12, 3, 4))
    plan.add("backward", {"op": "spatial_dropout_backward", "dout": "backward/dout", "cache": "backward"},
             "a call of spatial_dropout_backward with the cache of a train-mode forward call")
    return plan


PLAN = _planned()


@pytest.fixture(scope="module")
def run(submission, runner_limits):
    return PLAN, run_plan(PLAN, submission, **runner_limits)


def _case(run, name):
    plan, results = run
    return plan.inputs[name + "/x"], results[name]


def _output(run, name):
    """(input, output) of a forward call; fails when the shapes differ."""
    x, result = _case(run, name)
    out = result["out"]
    if out.shape != x.shape:
        fail("An output of spatial_dropout_forward does not have the shape (N, C, H, W) of its input.")
    return x, out


def _drops(run, check):
    """Credit policy: ``check`` counts only if train mode drops something."""
    __tracebackhide__ = True
    x, out = _output(run, "train/0.5")
    if not (out == 0).any():
        fail(f"Not credited: {check} presupposes that train mode drops feature maps, and it dropped none.",
             "drops-nothing")


@once_per_run
def _train_facts(run):
    """Per p: (fraction of zeroed entries, median scale of the kept entries or None, all kept scales equal)."""
    facts = {}
    for p in TRAIN_PS:
        x, out = _output(run, f"train/{p}")
        kept = out != 0
        ratio = out[kept] / x[kept]
        scale = float(np.median(ratio)) if ratio.size else None
        facts[p] = (float(np.mean(~kept)), scale, bool(ratio.size and np.allclose(ratio, scale, rtol=1e-6)))
    return facts


@once_per_run
def _diagnosis(run):
    """(mistake id, what it means) when every train-mode measurement fits one pattern, else (None, "")."""
    facts = _train_facts(run)
    x, _ = _case(run, f"train/{TRAIN_PS[0]}")
    tolerance = bernoulli_tolerance(x.shape[0] * x.shape[1])

    def drops(rate):
        return all(abs(zeros - rate(p)) <= tolerance for p, (zeros, _, _) in facts.items())

    def scales(factor):
        return all(scale is not None and exact and np.isclose(scale, factor(p), rtol=1e-6)
                   for p, (_, scale, exact) in facts.items())

    if all(zeros == 0 for zeros, _, _ in facts.values()):
        return "drops-nothing", "no feature map is dropped in train mode, whatever p"
    if drops(lambda p: p) and scales(lambda p: 1.0):
        return "survivors-not-scaled", "maps are dropped with probability p but the kept ones are not scaled"
    if drops(lambda p: p) and scales(lambda p: 1 / p):
        return "scaled-by-inverse-p", "maps are dropped with probability p but the kept ones are scaled by 1/p"
    if drops(lambda p: 1 - p):
        return "keep-drop-swapped", "feature maps are dropped with probability 1 - p instead of p"
    return None, ""


def _failure(run, lead, figures):
    mistake, meaning = _diagnosis(run)
    if mistake:
        fail(f"{meaning[0].upper()}{meaning[1:]}: {figures}.", mistake)
    fail(f"{lead}: {figures}.")


@once_per_run
def _statistics_problems(run):
    """The values of p whose zeroed fraction or mean is outside its Hoeffding bound: p -> (zeros side, mean side)."""
    problems = {}
    for p in TRAIN_PS:
        x, out = _output(run, f"train/{p}")
        n_maps = x.shape[0] * x.shape[1]
        # Each map is dropped on its own Bernoulli(p) draw, and all maps have one size: the zeroed
        # fraction of entries is the dropped fraction of maps, a mean of n_maps draws.
        zeros = float(np.mean(out == 0)) - p
        # The output's mean is the mean over maps of map_mean(x) * k / (1 - p), k in {0, 1}.
        map_means = np.abs(x.reshape(n_maps, -1).mean(axis=1))
        mean = float(np.mean(out)) - float(np.mean(x))
        sides = tuple(0 if abs(error) <= limit else int(np.sign(error)) for error, limit in
                      ((zeros, bernoulli_tolerance(n_maps)), (mean, bounded_mean_tolerance(map_means) / (1 - p))))
        if any(sides):
            problems[p] = sides
    return problems


@points(2)
def test_train_statistics(run):
    """Fraction of dropped entries within a Hoeffding bound of p; output mean within one of the input mean."""
    problems = _statistics_problems(run)
    if not problems:
        return
    zero_words = {1: "above p", -1: "below p", 0: "close to p"}
    mean_words = {1: "above the input's mean", -1: "below the input's mean", 0: "close to the input's mean"}
    zeros = " or ".join(sorted({zero_words[z] for z, _ in problems.values()}))
    mean = " or ".join(sorted({mean_words[m] for _, m in problems.values()}))
    which = "every value" if len(problems) == len(TRAIN_PS) else "some of the values"
    _failure(run, "Train-mode statistics are off",
             f"for {which} of p tried, the fraction of zeroed entries is {zeros} and the output's mean is {mean} "
             "(inverted dropout keeps the mean)")


@points(1)
def test_kept_maps_scaled(run):
    """Every nonzero output entry is x / (1 - p)."""
    for p in TRAIN_PS:
        x, out = _output(run, f"train/{p}")
        kept = out != 0
        if not kept.any():
            fail("For some p, every train-mode output entry is zero.")
        if not np.allclose(out[kept] / x[kept], 1 / (1 - p), rtol=1e-6):
            _failure(run, "Output entries are neither 0 nor x / (1 - p)",
                     "the kept entries are x times a factor other than 1/(1-p)")


@once_per_run
def _partial_maps(run):
    """(mistake id or None, message) when some train-mode map is partly zeroed, else None."""
    for p in TRAIN_PS:
        x, out = _output(run, f"train/{p}")
        zeros = out == 0
        partial = zeros.any(axis=(2, 3)) & ~zeros.all(axis=(2, 3))
        if not partial.any():
            continue
        if np.array_equal(zeros, np.broadcast_to(zeros[:, :1, :1, :], zeros.shape)):
            return "spatial-mask-channels-last", (
                "Feature maps are dropped in pieces: the zeros form columns that run through every channel of an "
                "example. The mask is drawn along the last axis, as for channels-last input (N, H, W, C); here the "
                "input is (N, C, H, W) and the mask needs one entry per map x[n, c], broadcast over H and W.")
        if not (np.array_equal(zeros, np.broadcast_to(zeros[:, :, :1, :], zeros.shape))
                or np.array_equal(zeros, np.broadcast_to(zeros[:, :, :, :1], zeros.shape))):
            return "spatial-mask-elementwise", (
                "Feature maps are dropped in pieces: entries of one map are zeroed on their own draws, as in "
                "ordinary dropout. Spatial dropout draws one decision per map x[n, c], broadcast over H and W, "
                "and drops or keeps the whole map.")
        return None, "Feature maps are dropped in pieces: some maps are partly zeroed; each map must be dropped whole."
    return None


@points(2)
def test_whole_maps_dropped_or_kept(run):
    """Every feature map x[n, c] of a train-mode output is all zero or all nonzero."""
    _drops(run, "the whole-maps check")
    partial = _partial_maps(run)
    if partial:
        fail(partial[1], partial[0])


@points(1)
def test_maps_independent(run):
    """Maps are dropped on independent draws, across examples and across channels.

    Disjoint pairs of examples (and of channels) are compared: two independent maps agree (both
    dropped or both kept) with probability a = q^2 + (1 - q)^2 at drop rate q, so the agreement
    rate over n disjoint pairs is within bernoulli_tolerance(n) of a, widened by 2 tolerances of q.
    """
    _drops(run, "the independence check")
    if _partial_maps(run):
        mistake, _ = _partial_maps(run)
        fail("Not credited: the independence check compares whole maps, and some maps are dropped in pieces "
             "(see the whole-maps check).", mistake)
    x, out = _output(run, "train/0.5")
    dropped = (out == 0).all(axis=(2, 3))
    q = float(np.mean(dropped))
    expected = q * q + (1 - q) * (1 - q)
    examples = float(np.mean(dropped[0::2] == dropped[1::2]))
    channels = float(np.mean(dropped[:, 0::2] == dropped[:, 1::2]))
    widen = 2 * bernoulli_tolerance(dropped.size)
    if examples > 0.99:
        fail("Every example gets the same maps dropped: the mask is drawn once for the batch and broadcast over "
             "the examples; draw one decision per map of every example.", "mask-shared-across-batch")
    if channels > 0.99:
        fail("Each example keeps or drops all its feature maps together: one decision per example is broadcast "
             "over the channels; each map x[n, c] needs its own draw.", "mask-shared-across-units")
    if abs(examples - expected) > bernoulli_tolerance(dropped[0::2].size) + widen:
        fail("The masks of different examples are not independent: they drop the same maps "
             f"{'more' if examples > expected else 'less'} often than independent draws would.")
    if abs(channels - expected) > bernoulli_tolerance(dropped[:, 0::2].size) + widen:
        fail("The maps of one example are not dropped independently: neighbouring channels are dropped together "
             f"{'more' if channels > expected else 'less'} often than independent draws would.")


@points(1)
def test_test_mode_identity(run):
    """In test mode the output is exactly the input, whatever p."""
    _drops(run, "the test-mode check")
    if _statistics_problems(run):
        fail("Not credited: the test branch is given code, and returning x unchanged is right only as the "
             "partner of a train mode that drops maps with probability p and keeps the mean (see the train "
             "statistics check).", _diagnosis(run)[0])
    for p in TEST_PS:
        x, out = _output(run, f"test/{p}")
        if np.array_equal(out, x):
            continue
        if (out == 0).any():
            fail("In test mode some output entries are zero although the input has none: spatial dropout must do "
                 "nothing at test time.", "active-in-test-mode")
        fail("In test mode the output differs from the input; it must be x unchanged.")


@points(1)
def test_dtype_and_input_kept(run):
    """float32 in, float32 out, in both modes; no call changes its input."""
    _drops(run, "the dtype and input check")
    for mode in ("train", "test"):
        x, out = _output(run, f"float32/{mode}")
        if out.dtype != x.dtype:
            fail(f"In {mode} mode an input of dtype {x.dtype} gave an output of dtype {out.dtype}; the output must "
                 "keep the input's dtype.", "dtype-changed")
    plan, results = run
    for name in plan.names:
        if name + "/x" not in plan.inputs or not results[name].ok:
            continue
        x, result = _case(run, name)
        if result.facts.get("x_after") != array_digest(x):
            fail(f"{result.description[0].upper()}{result.description[1:]} changed entries of its input x; the "
                 "caller's array must stay as it was (compute a new array instead of writing into x).",
                 "input-modified")


@points(1)
def test_seed_makes_mask_reproducible(run):
    _drops(run, "the seed check")
    a, b, c, first, second = (_output(run, f"seed/{name}")[1] for name in
                              ("seed-a", "seed-b", "seed-c", "unseeded-1", "unseeded-2"))
    if not (a == 0).any():
        fail("With a seed no map is dropped, so there is no mask to reproduce.")
    if not np.array_equal(a, b):
        fail("Two train-mode calls with the same dropout_param['seed'] gave different masks: the mask must come "
             "from the random generator the seed initialises.", "seed-ignored")
    if np.array_equal(a == 0, c == 0):
        fail("Train-mode calls with two different seeds gave the same mask: the mask does not depend on the seed.",
             "seed-ignored")
    if np.array_equal(first == 0, second == 0):
        fail("Two train-mode calls without a seed gave the same mask: a new mask must be drawn on every call.")


@points(1)
def test_backward_reuses_forward_mask(run):
    """dx = dout * out / x: the forward's own mask and scale (x has no zero entry)."""
    x, out = _output(run, "backward/forward")
    if not (out == 0).any():
        fail("Not credited: the gradient check presupposes that the forward call drops maps, and it dropped none.",
             "drops-nothing")
    plan, results = run
    dout, dx = plan.inputs["backward/dout"], results["backward"]["dx"]
    if dx.shape != dout.shape:
        fail("spatial_dropout_backward returned dx of another shape than dout.")
    expected = dout * (out / x)
    if np.allclose(dx, expected, rtol=1e-6, atol=1e-12):
        return
    if not np.array_equal(dx == 0, out == 0):
        fail("The gradient is zero in other places than the forward pass dropped: the backward pass must reuse the "
             "forward's mask, not draw a new one.", "new-mask-in-backward")
    if np.allclose(dx, dout * (out != 0), rtol=1e-6, atol=1e-12):
        fail("The gradient is dout where the forward kept a map, without the 1/(1-p) scale the forward applied.",
             "backward-missing-scale")
    fail("The gradient is not dout times the forward's scaled mask (zero where a map was dropped, 1/(1-p) where "
         "kept).")
