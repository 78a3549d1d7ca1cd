"""The calls the checks of ``spatial_dropout`` make into student code.

Run only by the runner (coursekit/grading/runner.py), in the sandbox, on the submission's
package: standard library and numpy only. Each public function is an operation the checks may
plan: ``operation(student, op, arrays, facts)``.
"""

import copy

import numpy as np


def spatial_dropout_forward(student, op: dict, arrays: dict, facts: dict) -> None:
    """One call of spatial_dropout_forward; its cache is kept for a later backward if asked."""
    x = student.input(op["x"])
    returned = student.module("layers").spatial_dropout_forward(x, copy.deepcopy(op["param"]))
    if not (isinstance(returned, tuple) and len(returned) == 2):
        facts["returned"] = student.describe(returned)
        raise student.ContractError(f"spatial_dropout_forward returned {facts['returned']}, not the pair (out, cache)")
    out, cache = returned
    if not isinstance(out, np.ndarray):
        facts["returned"] = student.describe(out)
        raise student.ContractError(f"spatial_dropout_forward returned {facts['returned']} as out, not a numpy array")
    arrays["out"] = out
    facts["x_after"] = student.reference.array_digest(x)  # compared with the judge's own x
    if op.get("keep"):
        student.caches[op["keep"]] = cache


def spatial_dropout_backward(student, op: dict, arrays: dict, facts: dict) -> None:
    """spatial_dropout_backward with the cache of an earlier forward operation."""
    if op["cache"] not in student.caches:
        raise RuntimeError("the spatial_dropout_forward call whose cache this backward needs did not complete "
                           "(it failed, or an earlier call hung or crashed and the runner restarted)")
    dx = student.module("layers").spatial_dropout_backward(student.input(op["dout"]), student.caches[op["cache"]])
    if not isinstance(dx, np.ndarray):
        facts["returned"] = student.describe(dx)
        raise student.ContractError(f"spatial_dropout_backward returned {facts['returned']}, not the array dx")
    arrays["dx"] = dx
