"""The calls the checks of ``dropout_forward`` make into student code.

Run only by the runner (coursekit/grading/runner.py), in the sandbox, on the submission's
package: standard library and numpy only. Each public function is an operation the checks may
plan: ``operation(student, op, arrays, facts)``.
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
    facts["x_after"] = student.reference.array_digest(x)  # compared with the judge's own x
    if op.get("keep"):
        student.caches[op["keep"]] = cache
    facts["out_type"] = type(out).__name__
