"""The calls the checks of ``dropout_backward`` make into student code.

The backward pass is judged against the submission's own forward pass, so these include the
forward call (the same call as the dropout_forward task's). Run only by the runner
(coursekit/grading/runner.py), in the sandbox, on the submission's package: standard library
and numpy only. Each public function is an operation: ``operation(student, op, arrays, facts)``.
"""

import copy

import numpy as np


def dropout_forward(student, op: dict, arrays: dict, facts: dict) -> None:
    """One call of dropout_forward; its cache is kept for a later backward if asked."""
    x = student.input(op["x"])
    returned = student.module("layers").dropout_forward(x, copy.deepcopy(op["param"]))
    if not (isinstance(returned, tuple) and len(returned) == 2):
        facts["returned"] = student.describe(returned)
        raise student.ContractError(f"dropout_forward returned {facts['returned']}, not the pair (out, cache)")
    out, cache = returned
    if not isinstance(out, np.ndarray):
        facts["returned"] = student.describe(out)
        raise student.ContractError(f"dropout_forward returned {facts['returned']} as out, not a numpy array")
    arrays["out"] = np.asarray(out)
    facts["x_after"] = student.reference.array_digest(x)
    if op.get("keep"):
        student.caches[op["keep"]] = cache
    facts["out_type"] = type(out).__name__


def dropout_forward_many(student, op: dict, arrays: dict, facts: dict) -> None:
    """dropout_forward on each of a stack of inputs, outputs stacked."""
    layers = student.module("layers")
    xs = student.input(op["xs"])
    arrays["outs"] = np.stack([np.asarray(layers.dropout_forward(x, copy.deepcopy(op["param"]))[0]) for x in xs])


def dropout_backward(student, op: dict, arrays: dict, facts: dict) -> None:
    """dropout_backward with the cache of an earlier forward operation."""
    if op["cache"] not in student.caches:
        raise RuntimeError("the dropout_forward call whose cache this backward needs did not complete "
                           "(it failed, or an earlier call hung or crashed and the runner restarted)")
    dx = student.module("layers").dropout_backward(student.input(op["dout"]), student.caches[op["cache"]])
    if not isinstance(dx, np.ndarray):
        facts["returned"] = student.describe(dx)
        raise student.ContractError(f"dropout_backward returned {facts['returned']}, not the array dx")
    arrays["dx"] = dx
