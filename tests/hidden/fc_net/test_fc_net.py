"""Hidden checks of the dropout wiring in ``FullyConnectedNet``.

The submission's net runs with the grader's own dropout layer (``ScriptedDropout`` in
``net_driver.py``, beside this module) in place of the student's, so a broken dropout layer costs
points only in its own checks. That layer draws masks the judge can reproduce and records every
call; the reference is the instructor's net run here through the same driver (``run_net``) with
the same layer, the same parameters and the same inputs. Comparing with the reference
(float64) is stricter than a numeric gradient check and needs no tolerance for ReLU kinks.
Messages name a net in words and state facts in words, never the checks' inputs (sizes, p
values) nor numbers measured on them (losses, errors).
"""

from dataclasses import dataclass

import numpy as np
import pytest

import source_pkg.fc_net as reference_fc_net
import source_pkg.layers as reference_layers
from coursekit.grading.checks import fail, points, rel_error
from coursekit.grading.client import Plan, run_plan

from .net_driver import run_net

MASK_SEED = 9
MATCH = 1e-8  # same float64 operations in a possibly different order


@dataclass
class Case:
    name: str
    words: str  # how messages name this net: no sizes, no p
    hidden_dims: list
    input_dim: int = 15
    num_classes: int = 10
    batch: int = 6
    dropout: float = 0.0
    use_batchnorm: bool = False
    reg: float = 0.0

    @property
    def init(self):
        return {"hidden_dims": self.hidden_dims, "input_dim": self.input_dim, "num_classes": self.num_classes,
                "dropout": self.dropout, "use_batchnorm": self.use_batchnorm, "reg": self.reg}

    def describe(self):
        return f"The {self.words}"


CASES = [
    Case("no-dropout", "net without dropout", [20, 30]),
    Case("dropout-0.25", "net with dropout", [20, 30], dropout=0.25),
    Case("dropout-0.5-reg", "net with dropout and L2 regularization", [20, 30], dropout=0.5, reg=0.1),
    Case("batchnorm-3-hidden", "net with batch norm, dropout and L2 regularization", [12, 9, 7], input_dim=11,
         num_classes=5, batch=8, dropout=0.3, use_batchnorm=True, reg=0.05),
]
DROPOUT_CASES = [case for case in CASES if case.dropout > 0]
SEQUENCES = {"train": ["train"], "test": ["test", "test"]}


def _parameters(case, rng):
    dims = [case.input_dim, *case.hidden_dims, case.num_classes]
    params = {}
    for i in range(1, len(dims)):
        params[f"W{i}"] = rng.randn(dims[i - 1], dims[i]) * 0.4
        params[f"b{i}"] = rng.randn(dims[i]) * 0.1
        if case.use_batchnorm and i < len(dims) - 1:
            params[f"gamma{i}"] = 1 + 0.1 * rng.randn(dims[i])
            params[f"beta{i}"] = 0.1 * rng.randn(dims[i])
    return params


def _run_reference(case, params, inputs):
    """The instructor's net through the same driver the runner uses on the submission's."""
    out, facts = {}, {}
    run_net(reference_fc_net, reference_layers, case.init, params, inputs, MASK_SEED, out, facts)
    return out, facts["trace"]


def _planned():
    """The calls, their inputs and the instructor's net's outputs on them: the same for every
    submission, so made once, when the checks are imported (the checks server imports them before
    it forks each submission's checks)."""
    rng = np.random.RandomState(77)
    plan, cases = Plan("fc_net"), {}
    for case in CASES:
        params = _parameters(case, rng)
        X = rng.randn(case.batch, case.input_dim)
        y = rng.randint(case.num_classes, size=case.batch)
        for name, value in params.items():
            plan.array(f"{case.name}/param/{name}", value)
        plan.array(f"{case.name}/X", X)
        plan.array(f"{case.name}/y", y)
        # A fresh net per sequence, so that test mode is judged apart from the train-mode call
        # (with batch norm, that call would otherwise feed test mode its running averages).
        for sequence, modes in SEQUENCES.items():
            calls = [{"X": f"{case.name}/X", "y": f"{case.name}/y" if mode == "train" else None} for mode in modes]
            plan.add(f"{case.name}/{sequence}", {"op": "net", "init": case.init, "params": f"{case.name}/param/",
                                                 "param_names": sorted(params), "calls": calls, "mask_seed": MASK_SEED},
                     f"loss(X, y) of the {case.words}" if sequence == "train"
                     else f"loss(X), twice, of the {case.words}")
            inputs = [(X, y if mode == "train" else None) for mode in modes]
            cases[f"{case.name}/{sequence}"] = (case, params, *_run_reference(case, params, inputs))
            cases[f"{case.name}/{sequence}/inputs"] = inputs
    return plan, cases


PLAN, REFERENCE_CASES = _planned()


@pytest.fixture(scope="module")
def run(submission, runner_limits):
    return REFERENCE_CASES, run_plan(PLAN, submission, **runner_limits)


def _reference_with_batchnorm_in_train_mode(case, params, inputs):
    """Test-mode scores of the instructor's net if its batch norm layers stayed in train mode."""
    original = reference_layers.batchnorm_forward

    def stuck_in_train_mode(x, gamma, beta, bn_param):
        bn_param["mode"] = "train"
        return original(x, gamma, beta, bn_param)

    reference_layers.batchnorm_forward = stuck_in_train_mode
    try:
        return _run_reference(case, params, inputs)[0]
    finally:
        reference_layers.batchnorm_forward = original


def _outcome(run, case, sequence="train"):
    cases, results = run
    case, params, reference, reference_trace = cases[f"{case.name}/{sequence}"]
    return case, params, results[f"{case.name}/{sequence}"], reference


def _train_forward_calls(trace, phase="train"):
    return [c for c in trace if c["kind"] == "forward" and c["phase"] == phase and c["mode"] == "train"]


def _passes_keep_probability(run):
    """Whether, in every net with dropout, each train-mode dropout call of the first loss call got p = 1 - the
    net's dropout setting: the keep probability in place of the drop probability."""
    calls = {case.name: [c for c in _train_forward_calls(_outcome(run, case)[2].facts.get("trace", []))
                         if c["loss_call"] == 0] for case in DROPOUT_CASES}
    return all(calls[case.name] and all(np.isclose(c["p"], 1 - case.dropout) for c in calls[case.name])
               for case in DROPOUT_CASES)


def _placement_problem(run, case, trace):
    """(message, mistake) if the recorded calls show dropout in the wrong place or with the wrong p, else None."""
    calls = _train_forward_calls(trace)
    first = [c for c in calls if c["loss_call"] == 0]
    expected = [[case.batch, h] for h in case.hidden_dims]
    if not first:
        return ("In train mode the net never calls dropout_forward with mode 'train' although its dropout "
                "setting asks for it.", "dropout-not-applied")
    shapes = [c["shape"] for c in first]
    if [case.batch, case.num_classes] in shapes:
        return ("Dropout is applied to the class scores: it belongs after each hidden ReLU, never after the "
                "last affine layer.", "dropout-after-last-layer")
    if [case.batch, case.input_dim] in shapes and case.input_dim not in case.hidden_dims:
        return ("Dropout is applied to the input X: in this net it belongs after each hidden ReLU only.",
                "dropout-misplaced")
    if any(c["min_input"] < 0 for c in first):
        return ("Dropout receives negative values, so it runs before a ReLU: apply it to the ReLU's "
                "output.", "dropout-misplaced")
    if any(c["p"] != case.dropout for c in first):
        if _passes_keep_probability(run):
            return ("dropout_forward was called with 1 - p, the probability of keeping a unit, where p is the "
                    "net's dropout setting, the probability of dropping one: pass the setting on as it is.",
                    "net-passes-keep-probability")
        return ("dropout_forward was called with another p than the net's dropout setting.", None)
    if shapes != expected:
        return ("In train mode dropout_forward was not called exactly once on the output of each hidden ReLU.",
                None)
    return None


@points(1)
def test_net_without_dropout_unchanged(run):
    case, params, result, reference = _outcome(run, CASES[0])
    loss = result["0/loss"]
    if rel_error(loss, reference["0/loss"]) > MATCH:
        fail("With dropout off, the loss differs from the reference's on the same parameters.")
    for name in params:
        if f"0/grad/{name}" not in result.arrays:
            fail(f"With dropout off, grads has no entry {name!r}.")
        if rel_error(result[f"0/grad/{name}"], reference[f"0/grad/{name}"]) > MATCH:
            fail(f"With dropout off, the gradient of {name} differs from the reference's.")
    trace = result.facts.get("trace", [])
    if any(c["p"] > 0 for c in _train_forward_calls(trace)):
        fail("With dropout off, the net still drops units.", "dropout-not-applied")


@points(2)
def test_loss_with_dropout(run):
    for case in DROPOUT_CASES:
        case, params, result, reference = _outcome(run, case)
        loss = float(result["0/loss"])
        if rel_error(loss, reference["0/loss"]) <= MATCH:
            continue
        problem = _placement_problem(run, case, result.facts.get("trace", []))
        relation = "larger" if loss > reference["0/loss"] else "smaller"
        if problem:
            fail(f"{case.describe()}: the train-mode loss is {relation} than the reference's on the same "
                 f"parameters and dropout masks. {problem[0]}", problem[1])
        fail(f"{case.describe()}: the train-mode loss is {relation} than the reference's on the same parameters "
             "and dropout masks.")


@points(3)
def test_gradients_with_dropout(run):
    for case in DROPOUT_CASES:
        case, params, result, reference = _outcome(run, case)
        result["0/loss"]  # the train-mode call must have run
        trace = result.facts.get("trace", [])
        errors = {}
        for name in params:
            key = f"0/grad/{name}"
            if key not in result.arrays:
                fail(f"{case.describe()}: grads has no entry {name!r}.")
            errors[name] = rel_error(result[key], reference[key])
        wrong = {name: error for name, error in errors.items() if error > MATCH}
        if not wrong:
            continue
        listing = ", ".join(sorted(wrong))
        forwards = _train_forward_calls(trace)
        backwards = [c for c in trace if c["kind"] == "backward"]
        if forwards and not backwards:
            fail(f"{case.describe()}: the gradients of {listing} differ from the reference's and "
                 "dropout_backward is never called: the backward pass must go back through each dropout layer, "
                 "with the cache of its forward call.", "backward-skips-dropout")
        problem = _placement_problem(run, case, trace)
        if problem:
            fail(f"{case.describe()}: the gradients of {listing} differ from the reference's. {problem[0]}",
                 problem[1])
        fail(f"{case.describe()}: the gradients of {listing} differ from the reference's on the same parameters "
             "and dropout masks.")


@points(1)
def test_dropout_after_each_relu(run):
    for case in DROPOUT_CASES:
        case, params, result, reference = _outcome(run, case)
        result["0/loss"]  # the train-mode call must have run
        problem = _placement_problem(run, case, result.facts.get("trace", []))
        if problem:
            fail(f"{case.describe()}: {problem[0]}", problem[1])


@points(2)
def test_test_mode_is_deterministic_and_dropout_free(run):
    for case in DROPOUT_CASES:
        case, params, result, reference = _outcome(run, case, "test")
        trace = result.facts.get("trace", [])
        first, second = result["0/scores"], result["1/scores"]
        if _train_forward_calls(trace, phase="test"):
            fail(f"{case.describe()}: loss(X) without y still runs dropout in train mode: the net must "
                 "switch its dropout layers to test mode when y is None.", "net-not-in-test-mode")
        if first.shape != reference["0/scores"].shape:
            fail(f"{case.describe()}: test-mode scores do not have one row per example and one column per class.")
        if not np.array_equal(first, second):
            fail(f"{case.describe()}: two test-mode calls on the same X gave different scores.")
        if rel_error(first, reference["0/scores"]) > MATCH and case.use_batchnorm:
            stuck = _reference_with_batchnorm_in_train_mode(case, params, run[0][f"{case.name}/test/inputs"])
            if rel_error(first, stuck["0/scores"]) <= MATCH:
                fail(f"{case.describe()}: test-mode scores differ from the reference's and equal what the net "
                     "gives with its batch norm layers in train mode (batch statistics instead of running "
                     "averages): set every bn_param's mode to 'test' when y is None.", "batchnorm-train-at-test")
        if rel_error(first, reference["0/scores"]) > MATCH:
            fail(f"{case.describe()}: test-mode scores differ from the reference's on the same parameters.")
