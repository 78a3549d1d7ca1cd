"""The calls the checks of the net make into student code.

Run only by the runner (coursekit/grading/runner.py), in the sandbox, on the submission's
package: standard library and numpy only. Each public function is an operation the checks may
plan: ``operation(student, op, arrays, facts)``.
"""


def net(student, op: dict, arrays: dict, facts: dict) -> None:
    """Build a net, set the judge's parameters, and run a sequence of loss calls on it through
    the driver the checks run on the instructor's net (``net_driver.run_net``)."""
    params = {name: student.input(op["params"] + name) for name in op["param_names"]}
    calls = [(student.input(call["X"]), None if call["y"] is None else student.input(call["y"]))
             for call in op["calls"]]
    student.task_module("net_driver").run_net(student.module("fc_net"), student.module("layers"), op["init"],
                                              params, calls, op["mask_seed"], arrays, facts)
