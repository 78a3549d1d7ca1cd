"""Hidden checks of ``mc_dropout_predict``.

The nets here are small enough to enumerate every keep/drop pattern of their hidden units, so
the judge knows exactly what one stochastic pass gives on average (``_exact``); the mean of T
passes must lie within a Hoeffding bound of it (coursekit.grading.checks). The same enumeration
gives what the known mistakes would produce (averaged scores, batch norm in train mode, one
mask for every pass, no dropout, the mean entropy of the passes), which names the mistake.
calls.py builds the nets in the runner and replaces their dropout layer by a correct one, so
the submission's own dropout_forward (another task) does not matter here.

Credit policy: a prediction whose passes are not stochastic (dropout switched off) earns no
point for the checks that presuppose stochastic passes (entropy, model left as it was).
Messages never show the checks' inputs nor numbers measured on them.
"""

import itertools

import numpy as np
import pytest

from coursekit.grading.checks import DELTA, bounded_mean_tolerance, fail, once_per_run, points
from coursekit.grading.client import Plan, run_plan
from coursekit.manifest import COURSE

TASK = "mc_dropout"

INPUT_DIM, CLASSES, EXAMPLES = 4, 3, 6
CASES = {  # name -> (net settings, number of passes, seed argument, modes the model is in)
    "bn": ({"hidden_dims": [3], "dropout": 0.5, "use_batchnorm": True}, 3000, 7, ("train", "train")),
    "deep": ({"hidden_dims": [3, 2], "dropout": 0.3, "seed": 5}, 3000, None, ("test", "test")),
    "one": ({"hidden_dims": [3], "dropout": 0.5, "use_batchnorm": True}, 1, 3, ("train", "train")),
    "plain": ({"hidden_dims": [3], "dropout": 0.0, "use_batchnorm": True}, 4, None, ("test", "test")),
    "zero": ({"hidden_dims": [3], "dropout": 0.5}, 50, 1, ("train", "train")),
    **{f"seed/{name}": ({"hidden_dims": [8], "dropout": 0.5}, 2, seed, ("train", "train"))
       for name, seed in (("a", 11), ("b", 11), ("c", 12), ("unseeded-1", None), ("unseeded-2", None))},
}
EXPECTATION_CASES = ("bn", "deep")
ENTROPY_CASES = ("bn", "deep", "zero")
STATE_CASES = ("bn", "deep", "one", "plain")


def _net(rng, settings, name):
    """The parameters and running statistics of a case's net: weights large enough that single
    passes disagree strongly, running statistics far from the batch's."""
    dims = [INPUT_DIM, *settings["hidden_dims"], CLASSES]
    params = {}
    for i in range(1, len(dims)):
        params[f"W{i}"] = rng.randn(dims[i - 1], dims[i]) * (3.0 if i == len(dims) - 1 else 1.5)
        params[f"b{i}"] = rng.randn(dims[i]) * 0.5
        if settings.get("use_batchnorm") and i < len(dims) - 1:
            params[f"gamma{i}"] = 1 + 0.3 * rng.randn(dims[i])
            params[f"beta{i}"] = 0.5 + 0.3 * rng.randn(dims[i])
            params[f"running_mean{i}"] = 2 * rng.randn(dims[i])
            params[f"running_var{i}"] = rng.rand(dims[i]) + 0.5
    if name == "zero":
        params[f"b{len(dims) - 1}"] = np.array([0.0, 0.5, -1000.0])  # the last class's probability is 0
    return params


def _planned():
    rng = np.random.RandomState(20261208)
    plan = Plan(TASK)
    X = plan.array("X", rng.randn(EXAMPLES, INPUT_DIM))
    nets = {}
    for name, (settings, passes, seed, (dropout_mode, bn_mode)) in CASES.items():
        shared = "seed" if name.startswith("seed/") else "bn" if name in ("one", "plain") else name
        if shared not in nets:
            nets[shared] = _net(rng, settings, name)
        params = nets[shared]
        for key, value in params.items():
            plan.array(f"{name}/{key}", value)
        init = {"input_dim": INPUT_DIM, "num_classes": CLASSES, **settings}
        op = {"op": "mc_predict", "init": init, "params": f"{name}/", "X": X, "num_samples": passes,
              "param_names": [k for k in params if not k.startswith("running")],
              "modes": {"dropout": dropout_mode, "bn": bn_mode}, **({"seed": seed} if seed is not None else {})}
        kind = "with batch normalization" if settings.get("use_batchnorm") else "without batch normalization"
        plan.add(name, op, f"a call of mc_dropout_predict on a net {kind}" + (" and a seed" if seed else ""))
    return plan


PLAN = _planned()


@pytest.fixture(scope="module")
def run(submission, runner_limits):
    return PLAN, run_plan(PLAN, submission, **runner_limits)


def _softmax(scores):
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def _entropy(probs):
    return -(probs * np.log(np.where(probs > 0, probs, 1.0))).sum(axis=1)


def _scores(params, X, keeps, p, batch_statistics=False):
    """Class scores with hidden units kept where ``keeps`` says (one 0/1 array per hidden layer)."""
    h = X
    for i, keep in enumerate(keeps, start=1):
        a = h @ params[f"W{i}"] + params[f"b{i}"]
        if f"gamma{i}" in params:
            mean, var = ((a.mean(axis=0), a.var(axis=0)) if batch_statistics
                         else (params[f"running_mean{i}"], params[f"running_var{i}"]))
            a = params[f"gamma{i}"] * (a - mean) / np.sqrt(var + 1e-5) + params[f"beta{i}"]
        h = np.maximum(a, 0) * keep / (1 - p)
    L = len(keeps) + 1
    return h @ params[f"W{L}"] + params[f"b{L}"]


@once_per_run
def _exact(run):
    """Per case: every mask's probabilities, scores and entropy, weighted by the mask's probability."""
    plan, _ = run
    exact = {}
    for name, (settings, passes, _, _) in CASES.items():
        params = {key[len(name) + 1:]: value for key, value in plan.inputs.items() if key.startswith(name + "/")}
        X, p, sizes = plan.inputs["X"], settings["dropout"], settings["hidden_dims"]
        outcomes = []  # (weight, probs, scores, entropy, probs with batch statistics)
        for bits in itertools.product((0, 1), repeat=sum(sizes) if p > 0 else 0):
            keeps = np.split(np.array(bits), np.cumsum(sizes)[:-1]) if p > 0 else [np.ones(s) for s in sizes]
            weight = float(np.prod([1 - p if b else p for b in bits]))
            scores = _scores(params, X, keeps, p)
            outcomes.append((weight, _softmax(scores), scores, _entropy(_softmax(scores)),
                             _softmax(_scores(params, X, keeps, p, batch_statistics=True))))

        def mean_and_width(k):
            values = np.array([outcome[k] for outcome in outcomes])
            weights = np.array([outcome[0] for outcome in outcomes]).reshape(-1, *[1] * (values.ndim - 1))
            return (weights * values).sum(axis=0), values.max(axis=0) - values.min(axis=0)

        exact[name] = {"passes": passes, "configurations": [outcome[1] for outcome in outcomes],
                       "batch_configurations": [outcome[4] for outcome in outcomes],
                       "deterministic": _softmax(_scores(params, X, [np.ones(s) for s in sizes], 0.0)),
                       **{key: mean_and_width(k) for key, k in
                          (("probs", 1), ("scores", 2), ("entropy", 3), ("batch_statistics", 4))}}
    return exact


def _within(estimate, expected_and_width, passes):
    """Whether every entry of the mean of ``passes`` draws is within its Hoeffding bound of its expectation."""
    expected, width = expected_and_width
    tolerance = width * bounded_mean_tolerance(np.ones(passes), DELTA)
    return estimate.shape == expected.shape and bool(np.all(np.abs(estimate - expected) <= tolerance + 1e-9))


def _one_configuration(estimate, configurations):
    """Whether each row of ``estimate`` is the probabilities of one mask (one pass, or one mask for all)."""
    return all(any(np.allclose(row, c[n], rtol=1e-6, atol=1e-9) for c in configurations)
               for n, row in enumerate(estimate))


def _mean_probs(run, name):
    _, results = run
    mean_probs = results[name]["mean_probs"]
    if mean_probs.shape != (EXAMPLES, CLASSES):
        fail("mean_probs does not have the shape (N, C): one row per example, one column per class.")
    return mean_probs.astype(np.float64)


@once_per_run
def _stochastic(run):
    """Whether the passes are stochastic: two seeds, or two calls without a seed, give different results."""
    a, c = _mean_probs(run, "seed/a"), _mean_probs(run, "seed/c")
    first, second = _mean_probs(run, "seed/unseeded-1"), _mean_probs(run, "seed/unseeded-2")
    return not (np.array_equal(a, c) and np.array_equal(first, second))


def _presupposes_stochastic(run, check):
    __tracebackhide__ = True
    if not _stochastic(run):
        fail(f"Not credited: {check} presupposes stochastic passes, and every call gave the same result: dropout "
             "is not active in the passes.", "mc-dropout-off")


@points(4)
def test_mean_probabilities_match_the_expectation(run):
    """mean_probs within a Hoeffding bound of the exact mean of one stochastic pass."""
    exact = _exact(run)
    for name in EXPECTATION_CASES:
        estimate, case = _mean_probs(run, name), exact[name]
        if _within(estimate, case["probs"], case["passes"]):
            continue
        scores_tolerance = float(np.max(case["scores"][1])) * bounded_mean_tolerance(np.ones(case["passes"]), DELTA)
        if np.allclose(estimate, case["deterministic"], rtol=1e-6, atol=1e-9):
            fail("mean_probs is the softmax of the net without dropout: every pass ran with dropout switched off "
                 "(test mode), so there is nothing to average.", "mc-dropout-off")
        if _one_configuration(estimate, case["configurations"]):
            fail("mean_probs is the softmax of a single dropout mask: every pass used the same mask (a mask drawn "
                 "once, or a seed handed to every pass), so the average is that of one pass.",
                 "mc-same-mask-every-pass")
        if name == "bn" and _within(estimate, case["batch_statistics"], case["passes"]):
            fail("mean_probs is what the passes give with batch normalization in train mode (the batch's own "
                 "statistics): batch normalization must use its running statistics (test mode) while dropout "
                 "stays active.", "mc-batchnorm-train-mode")
        if (np.max(np.abs(estimate - case["scores"][0])) <= scores_tolerance
                or np.max(np.abs(estimate - _softmax(case["scores"][0]))) <= 0.5 * scores_tolerance + 1e-9):
            fail("mean_probs follows the average of the passes' class scores, not the average of their softmax "
                 "probabilities: apply the softmax to each pass, then average.", "mc-averages-logits")
        rows = "sum to one" if np.allclose(estimate.sum(axis=1), 1, atol=1e-6) else "do not even sum to one"
        fail(f"mean_probs is farther from the expected probabilities of one stochastic pass than the chance "
             f"deviation of the passes allows (its rows {rows}).")


@points(2)
def test_entropy_of_the_mean_in_nats(run):
    """entropy = -sum_c mean_probs * log(mean_probs), natural log, 0 log 0 = 0, of the returned mean_probs."""
    _presupposes_stochastic(run, "the entropy check")
    _, results = run
    exact = _exact(run)
    for name in ENTROPY_CASES:
        mean_probs, entropy = _mean_probs(run, name), results[name]["entropy"].astype(np.float64)
        if entropy.shape != (EXAMPLES,):
            fail("entropy does not have the shape (N,): one value per example.")
        if not np.isfinite(entropy).all():
            if name == "zero":
                fail("The entropy is not finite where a class has probability zero: the log of zero is -inf and "
                     "zero times -inf is nan; a zero probability contributes nothing to the entropy.",
                     "entropy-log-of-zero")
            fail("The entropy is not finite.")
        own = _entropy(mean_probs)
        if np.allclose(entropy, own, rtol=1e-6, atol=1e-6):
            continue
        if np.allclose(entropy, own / np.log(2), rtol=1e-6, atol=1e-6):
            fail("The entropy is in bits (a base-two logarithm); the course measures it in nats (natural log).",
                 "entropy-in-bits")
        if np.allclose(entropy, -own, rtol=1e-6, atol=1e-6):
            fail("The entropy has the wrong sign: it is -sum p log p, never negative.")
        case = exact.get(name)
        if name in EXPECTATION_CASES and _within(entropy, case["entropy"], case["passes"]):
            fail("The entropy is the mean of the passes' entropies (the expected entropy), not the entropy of the "
                 "mean probabilities (the predictive entropy).", "entropy-of-each-pass")
        fail("The entropy is not -sum_c p_c log p_c of the returned mean_probs.")


@points(2)
def test_model_left_as_it_was(run):
    """Parameters, running statistics, dropout_param and batch norm modes as they were before the call."""
    _presupposes_stochastic(run, "the model check")
    _, results = run
    for name in STATE_CASES:
        facts = results[name].facts
        if "after" not in facts:
            fail(f"{results[name].description[0].upper()}{results[name].description[1:]} could not be run to the "
                 f"end: {results[name].why()}.")
        before, after = facts["before"], facts["after"]
        if before["params"] != after["params"]:
            fail("mc_dropout_predict changed the model's parameters (model.params); a prediction must leave "
                 "them as they were.", "mc-params-changed")
        running = [{k: v for k, v in bn.items() if k.startswith("running")} for bn in before["bn"]]
        if running != [{k: v for k, v in bn.items() if k.startswith("running")} for bn in after["bn"]]:
            fail("mc_dropout_predict moved batch normalization's running statistics: batch norm ran in train "
                 "mode, which also updates them. It must run in test mode during the passes.",
                 "mc-batchnorm-train-mode")
        if before != after:
            fail("mc_dropout_predict left the model's modes changed (model.dropout_param or a batch norm "
                 "layer's bn_param): put back exactly what was there, even if a pass raises.",
                 "mc-modes-not-restored")


@points(1)
def test_seed_reproduces_the_passes(run):
    a, b, c = (_mean_probs(run, f"seed/{name}") for name in "abc")
    if not np.array_equal(a, b):
        fail("Two calls with the same seed gave different results: the seed must be set once, before the "
             "first pass.", "seed-ignored")
    if not _stochastic(run):
        fail("Every call gave the same result, with any seed or none: dropout is not active in the passes.",
             "mc-dropout-off")
    if np.array_equal(a, c):
        fail("Calls with two different seeds gave the same result: the passes do not depend on the seed.",
             "seed-ignored")
    if np.array_equal(_mean_probs(run, "seed/unseeded-1"), _mean_probs(run, "seed/unseeded-2")):
        fail("Two calls without a seed gave the same result: without a seed, new masks must be drawn on "
             "every call.")


@points(1)
def test_one_pass_and_no_dropout(run):
    """T = 1 gives the probabilities of one mask; a net without dropout gives its plain softmax."""
    exact = _exact(run)
    one = _mean_probs(run, "one")
    if not _one_configuration(one, exact["one"]["configurations"]):
        if np.allclose(one, exact["one"]["deterministic"], rtol=1e-6, atol=1e-9):
            fail("With one pass, mean_probs is the softmax of the net without dropout: the pass ran with "
                 "dropout switched off.", "mc-dropout-off")
        if _one_configuration(one, exact["one"]["batch_configurations"]):
            fail("With one pass, mean_probs is what one mask gives with batch normalization in train mode (the "
                 "batch's own statistics): it must use its running statistics.", "mc-batchnorm-train-mode")
        fail("With one pass, mean_probs is not the softmax of the net under any single dropout mask (with "
             "batch normalization in test mode).")
    plain = _mean_probs(run, "plain")
    if not np.allclose(plain, exact["plain"]["deterministic"], rtol=1e-6, atol=1e-9):
        fail("For a net without dropout (dropout set to zero), mean_probs is not the softmax of its scores: with "
             "nothing to drop, every pass is the plain test-mode forward pass.")
