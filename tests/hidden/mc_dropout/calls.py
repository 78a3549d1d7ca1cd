"""The calls the checks of ``mc_dropout`` make into student code.

Run only by the runner (coursekit/grading/runner.py), in the sandbox, on the submission's
package: standard library and numpy only. Each public function is an operation the checks may
plan: ``operation(student, op, arrays, facts)``.

The net's dropout layer is replaced, for the call, by a correct one (``_dropout_forward``), so
that mc_dropout_predict is judged on its own and not on the submission's dropout_forward (graded
by its own task). It follows the course's contract, seed included: a prediction that hands the
model's seeded dropout_param to every pass gets the same mask on every pass, as it would with
a correct dropout_forward of its own.
"""

import numpy as np


def _dropout_forward(x, dropout_param):
    """Inverted dropout with numpy's global generator, as the course's dropout_forward does it."""
    _dropout_forward.calls.append((dropout_param.get("mode"), "seed" in dropout_param))
    if "seed" in dropout_param:
        np.random.seed(dropout_param["seed"])
    if dropout_param["mode"] != "train":
        return x.copy(), (dropout_param, None)
    p = dropout_param["p"]
    mask = (np.random.rand(*x.shape) >= p) / (1 - p)
    return (x * mask).astype(x.dtype, copy=False), (dropout_param, mask)


def _state(model) -> dict:
    """What mc_dropout_predict must leave as it was: digests of the parameters and running
    statistics, the dropout_param's keys and mode, the batch norm modes."""
    digest = _state.digest
    return {"params": {name: digest(np.asarray(value)) for name, value in sorted(model.params.items())},
            "dropout_param": {key: repr(value) for key, value in sorted(model.dropout_param.items())},
            "bn": [{key: (digest(np.asarray(value)) if key.startswith("running") else repr(value))
                    for key, value in sorted(bn_param.items())} for bn_param in model.bn_params]}


def mc_predict(student, op: dict, arrays: dict, facts: dict) -> None:
    """Build the judge's net (float64, its parameters, running statistics and modes), then call
    ``mc_dropout_predict(model, X, num_samples[, seed=...])`` with the dropout layer replaced."""
    layers, fc_net = student.module("layers"), student.module("fc_net")
    model = fc_net.FullyConnectedNet(**dict(op["init"], dtype=np.float64))
    for name in op["param_names"]:
        model.params[name] = student.input(op["params"] + name)
    for i, bn_param in enumerate(model.bn_params):
        bn_param["running_mean"] = student.input(f"{op['params']}running_mean{i + 1}")
        bn_param["running_var"] = student.input(f"{op['params']}running_var{i + 1}")
        bn_param["mode"] = op["modes"]["bn"]
    if model.use_dropout:
        model.dropout_param["mode"] = op["modes"]["dropout"]
    _state.digest = student.reference.array_digest
    facts["before"] = _state(model)
    _dropout_forward.calls = []
    saved = [(module, module.__dict__.get("dropout_forward")) for module in (layers, fc_net)]
    for module, _ in saved:
        module.dropout_forward = _dropout_forward
    try:
        seed = {"seed": op["seed"]} if "seed" in op else {}
        returned = fc_net.mc_dropout_predict(model, student.input(op["X"]), op["num_samples"], **seed)
    finally:
        for module, original in saved:
            if original is None:
                module.__dict__.pop("dropout_forward", None)
            else:
                module.dropout_forward = original
        facts["after"] = _state(model)
        facts["dropout_calls"] = {"train": sum(mode == "train" for mode, _ in _dropout_forward.calls),
                                  "seeded": sum(seeded for _, seeded in _dropout_forward.calls)}
    if not (isinstance(returned, tuple) and len(returned) == 2):
        facts["returned"] = student.describe(returned)
        raise student.ContractError(f"mc_dropout_predict returned {facts['returned']}, not the pair "
                                    "(mean_probs, entropy)")
    for name, value in zip(("mean_probs", "entropy"), returned):
        if not isinstance(value, np.ndarray):
            facts["returned"] = student.describe(value)
            raise student.ContractError(f"mc_dropout_predict returned {facts['returned']} as {name}, not a "
                                        "numpy array")
        arrays[name] = value
