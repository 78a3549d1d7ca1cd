"""Hidden checks of ``dropout_backward``.

The backward pass is judged against the submission's own forward pass, so a mistake in the
forward pass (say, swapped probabilities) costs points only in the forward checks: given a
train-mode output ``out = x * m``, the gradient must be ``dout * m`` with ``m = out / x``.

Credit policy: a forward pass that drops nothing cannot show that the backward reuses its mask
(an identity backward is consistent with an identity forward), so the train-mode checks give
no credit then. The dtype rule for dx: dout's shape; dout's dtype or float64 (a float64 mask
times a float32 dout is float64, and that is fine). Messages state facts in words, never the
checks' inputs (p values, shapes, seeds) nor numbers measured on them.
"""

import numpy as np
import pytest

from coursekit.grading.checks import bernoulli_tolerance, fail, points, rel_error, where_it_broke
from coursekit.grading.client import Plan, run_plan

MASK_PS = (0.2, 0.5, 0.8)
MASK_CASES = (*MASK_PS, "float32")  # the float32 case: x and dout in float32, p = 0.5
DX_DTYPES = {np.dtype(np.float32): (np.float32, np.float64)}  # dout dtype -> accepted dx dtypes
NUMERIC_P, NUMERIC_SEED, STEP = 0.3, 17, 1e-5
# Dropout is linear in x for a fixed mask, so centred differences are exact up to rounding
# (about 1e-11 relative here); a wrong backward is off by 1e-1 or more.
NUMERIC_TOLERANCE = 1e-7


def _planned():
    """The calls and their inputs: the same for every submission, so planned once, when the checks
    are imported (the checks server imports them before it forks each submission's checks)."""
    rng = np.random.RandomState(6021)
    plan = Plan("dropout_backward")
    for p in MASK_PS:
        x = plan.array(f"mask/{p}/x", np.abs(rng.randn(60, 50)) + 1)
        dout = plan.array(f"mask/{p}/dout", rng.randn(60, 50))
        param = {"p": p, "mode": "train"}
        plan.add(f"mask/{p}/forward", {"op": "dropout_forward", "x": x, "param": param, "keep": f"mask/{p}"},
                 "a train-mode call of dropout_forward")
        plan.add(f"mask/{p}/backward", {"op": "dropout_backward", "dout": dout, "cache": f"mask/{p}"},
                 "dropout_backward(dout, cache) after a train-mode forward")
    param = {"p": 0.5, "mode": "train"}
    x = plan.array("mask/float32/x", (np.abs(rng.randn(40, 30)) + 1).astype(np.float32))
    dout = plan.array("mask/float32/dout", rng.randn(40, 30).astype(np.float32))
    plan.add("mask/float32/forward", {"op": "dropout_forward", "x": x, "param": param, "keep": "mask/float32"},
             "a train-mode call of dropout_forward on a float32 input")
    plan.add("mask/float32/backward", {"op": "dropout_backward", "dout": dout, "cache": "mask/float32"},
             "dropout_backward(dout in float32, cache) after a train-mode forward")
    x = rng.randn(6, 8) + 10
    plan.array("numeric/x", x)
    plan.array("numeric/dout", rng.randn(6, 8))
    param = {"p": NUMERIC_P, "mode": "train", "seed": NUMERIC_SEED}
    plan.add("numeric/forward", {"op": "dropout_forward", "x": "numeric/x", "param": param, "keep": "numeric"},
             "a seeded train-mode call of dropout_forward")
    plan.add("numeric/backward", {"op": "dropout_backward", "dout": "numeric/dout", "cache": "numeric"},
             "dropout_backward(dout, cache) after a seeded train-mode forward")
    steps = np.eye(x.size).reshape(x.size, *x.shape) * STEP
    plan.array("numeric/xs", np.concatenate([x + steps, x - steps]))
    plan.add("numeric/perturbed", {"op": "dropout_forward_many", "xs": "numeric/xs", "param": param},
             "seeded train-mode calls of dropout_forward on slightly moved inputs (numeric differences)")
    for name, shape in (("test/2d", (20, 30)), ("test/3d", (4, 5, 6))):
        plan.array(name + "/x", rng.randn(*shape))
        plan.array(name + "/dout", rng.randn(*shape))
        param = {"p": 0.4, "mode": "test"}
        plan.add(name + "/forward", {"op": "dropout_forward", "x": name + "/x", "param": param, "keep": name},
                 "a test-mode call of dropout_forward")
        plan.add(name + "/backward", {"op": "dropout_backward", "dout": name + "/dout", "cache": name},
                 "dropout_backward(dout, cache) after a test-mode forward")
    return plan


PLAN = _planned()


@pytest.fixture(scope="module")
def run(submission, runner_limits):
    return PLAN, run_plan(PLAN, submission, **runner_limits)


def _backward_written(result):
    """Fail naming backward-not-written if the train-mode backward raised NotImplementedError or
    returned no array."""
    __tracebackhide__ = True
    if result.ok:
        return
    if result.raised == "NotImplementedError":
        fail(f"dropout_backward is not written yet: {result.description} raised NotImplementedError"
             f"{where_it_broke(result)}.", "backward-not-written", where=result.where)
    if result.facts.get("returned") == "None":
        fail(f"dropout_backward is not written yet: {result.description} returned None, not the array dx "
             "(the function ends without returning its result).", "backward-not-written")


def _forward_drops(plan, results, check):
    """Credit policy: the train-mode backward checks count only if the forward drops units."""
    __tracebackhide__ = True
    out = results["mask/0.5/forward"]["out"]
    if out.shape == plan.inputs["mask/0.5/x"].shape and not (out == 0).any():
        fail(f"Not credited: {check} needs a forward pass that drops units, and dropout_forward dropped "
             "none, so reusing its mask cannot be told from ignoring it (see dropout_forward's report).")


@points(3)
def test_backward_reuses_forward_mask(run):
    """dx = dout * m, where m = out / x is the mask (scale included) the forward pass applied."""
    plan, results = run
    _backward_written(results["mask/0.5/backward"])
    _forward_drops(plan, results, "the mask-reuse check")
    for p in MASK_CASES:
        x, dout = plan.inputs[f"mask/{p}/x"], plan.inputs[f"mask/{p}/dout"]
        out = results[f"mask/{p}/forward"]["out"]
        dx = results[f"mask/{p}/backward"]["dx"]
        if dx.shape != dout.shape:
            fail("dx does not have dout's shape.")
        if dx.dtype != dout.dtype and dx.dtype not in DX_DTYPES.get(dout.dtype, ()):
            fail(f"For a dout of dtype {dout.dtype}, dx has dtype {dx.dtype}; it must be {dout.dtype} "
                 "(or float64).")
        if out.shape != x.shape:
            fail("A train-mode forward output does not have the shape of its input.")
        local = out.astype(np.float64) / x  # x has no zero entry
        expected = dout * local
        if rel_error(dx, expected) < (1e-6 if dout.dtype == np.float64 else 1e-5):
            continue
        p = 0.5 if p == "float32" else p
        kept, passed = out != 0, dx != 0
        same_units = float(np.mean(kept == passed))
        if same_units == 1.0:
            ratio = float(np.median(dx[passed] / dout[passed]))
            scale = float(np.median(local[kept]))
            if np.isclose(ratio, 1.0) and not np.isclose(scale, 1.0):
                fail("dx lets the gradient through the kept units unscaled, but the forward pass scaled them "
                     "by 1/(1-p): the backward pass must apply the same scale.", "backward-missing-scale")
            relation = "more" if ratio > scale else "less"
            fail(f"dx passes the gradient through the units the forward pass kept, but scales it {relation} "
                 "than the forward pass scaled them: the backward pass must multiply by the same mask, "
                 "scale included, and by nothing else.")
        if np.array_equal(dx, dout):
            fail("dx equals dout: the backward pass ignores the mask of the forward pass.")
        # Two independent masks that keep each unit with probability 1 - p agree on a unit with
        # probability p^2 + (1 - p)^2; the agreement rate over n units is a Bernoulli mean.
        independent = p * p + (1 - p) * (1 - p)
        if abs(same_units - independent) <= bernoulli_tolerance(kept.size):
            fail("dx passes the gradient through other units than the forward pass kept (they agree about as "
                 "often as two independent masks would): reuse the mask stored in the cache instead of drawing "
                 "a new one.", "new-mask-in-backward")
        fail("dx passes the gradient through other units than the forward pass kept: the backward pass must "
             "multiply dout by the forward pass's mask from the cache.")


@points(2)
def test_backward_matches_numeric_gradient(run):
    """With a fixed seed, dx matches centred differences of sum(dropout_forward(x) * dout)."""
    plan, results = run
    _backward_written(results["numeric/backward"])
    _forward_drops(plan, results, "the numeric gradient check")
    x, dout = plan.inputs["numeric/x"], plan.inputs["numeric/dout"]
    dx = results["numeric/backward"]["dx"]
    outs = results["numeric/perturbed"]["outs"]
    n = x.size
    if outs.shape != (2 * n, *x.shape):
        fail("dropout_forward on slightly moved inputs returned outputs of another shape than its input.")
    plus = np.sum(outs[:n] * dout, axis=(1, 2))
    minus = np.sum(outs[n:] * dout, axis=(1, 2))
    numeric = ((plus - minus) / (2 * STEP)).reshape(x.shape)
    error = rel_error(dx, numeric)
    if error < NUMERIC_TOLERANCE:
        return
    reference = results["numeric/forward"]["out"]
    if not all(np.array_equal(reference == 0, out == 0) for out in (outs[0], outs[n])):
        fail("The numeric gradient check failed: calls with the same dropout_param['seed'] drew different "
             "masks, so the forward pass is not reproducible and cannot be gradient-checked.", "seed-ignored")
    if not np.array_equal(dx != 0, reference != 0):
        fail("dx does not match the numeric gradient: it passes the gradient through other units than the "
             "forward pass kept. Reuse the forward's mask from the cache.", "new-mask-in-backward")
    kept = reference != 0
    ratio = float(np.median(dx[kept] / numeric[kept])) if kept.any() else 1.0
    if np.isclose(ratio, 1 - NUMERIC_P, rtol=1e-6):
        fail("dx is (1 - p) times the numeric gradient: the backward pass misses the 1/(1-p) scale the "
             "forward pass applied.", "backward-missing-scale")
    fail("dx does not match the numeric gradient of dropout_forward with a fixed seed (the relative error is "
         "far above what rounding explains).")


@points(1)
def test_backward_in_test_mode_is_identity(run):
    """The test branch is given code: it earns its point only along with a train branch that returns dx.

    Judged on the test-mode calls that completed; one that raised costs its own task's check."""
    plan, results = run
    _backward_written(results["mask/0.5/backward"])
    results["mask/0.5/backward"]["dx"]
    names = [name for name in ("test/2d", "test/3d") if results[name + "/backward"].ok] or ["test/2d"]
    for name in names:
        dout = plan.inputs[name + "/dout"]
        dx = results[name + "/backward"]["dx"]
        if dx.shape != dout.shape or not np.allclose(dx, dout, rtol=1e-12, atol=0):
            fail("After a test-mode forward, dx must equal dout (test-mode dropout is the identity).")
