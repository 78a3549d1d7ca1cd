"""Run a submission's functions on inputs the judge chose and hand back raw outputs.

This is the only grading code that imports student code, and it runs in a process of its own:
``python -I runner.py JOB_DIR``. Whatever the student's code does here (patch numpy, print,
raise, hang, exit) can only change the raw outputs written back, never how they are judged.

JOB_DIR holds ``request.json`` (the submission folder, the operations, where to start) and
``inputs.npz`` (the arrays the operations name). For operation k the runner writes
``started-k`` before calling student code, then ``result-k.npz`` (arrays) and ``result-k.json``
(status, error text, small facts), each renamed into place when complete, so the judge keeps
every result written before a hang or a crash. The module also defines the grader's trusted
dropout (``ScriptedDropout``) that replaces the student's layer in the network checks; the
judge imports it to compute the reference with the very same masks.
"""

import copy
import json
import os
import sys
import traceback
from pathlib import Path

import numpy as np

PACKAGE = "source_pkg"


class ScriptedDropout:
    """Inverted dropout whose masks the judge can reproduce, recording how the net calls it.

    The k-th train-mode call during the j-th call of ``loss`` keeps each unit with probability
    1 - p, drawn from ``RandomState(mask_seed, j, k)``; every call is recorded in ``trace``.
    """

    TAG = "judge-dropout"

    def __init__(self, mask_seed):
        self.mask_seed = mask_seed
        self.loss_call = -1
        self.train_calls = 0
        self.trace = []

    def start_loss_call(self, phase):
        self.loss_call += 1
        self.train_calls = 0
        self.phase = phase

    def keep_mask(self, shape, p, loss_call, k):
        rng = np.random.RandomState([self.mask_seed, loss_call, k])
        return rng.rand(*shape) >= p

    def forward(self, x, dropout_param):
        p, mode = dropout_param["p"], dropout_param["mode"]
        x = np.asarray(x)
        call = {"kind": "forward", "loss_call": self.loss_call, "phase": self.phase,
                "shape": list(x.shape), "p": float(p), "mode": mode,
                "min_input": float(x.min()) if x.size else 0.0}
        self.trace.append(call)
        if mode != "train":
            return x.copy(), (self.TAG, len(self.trace) - 1, None, p)
        keep = self.keep_mask(x.shape, p, self.loss_call, self.train_calls)
        self.train_calls += 1
        scale = keep / (1 - p)
        return (x * scale).astype(x.dtype, copy=False), (self.TAG, len(self.trace) - 1, scale, p)

    def backward(self, dout, cache):
        if not (isinstance(cache, tuple) and len(cache) == 4 and cache[0] == self.TAG):
            raise TypeError("dropout_backward was given a cache that dropout_forward did not return")
        self.trace.append({"kind": "backward", "loss_call": self.loss_call, "phase": self.phase,
                           "forward_call": cache[1], "shape": list(np.shape(dout))})
        scale = cache[2]
        return dout if scale is None else dout * scale


def _describe_exception(exc):
    frames = traceback.format_exception(type(exc), exc, exc.__traceback__)
    return {"type": type(exc).__name__, "message": str(exc)[:2000], "traceback": "".join(frames)[-4000:]}


def _save_arrays(path, arrays):
    with open(path, "wb") as file:
        np.savez(file, **arrays)


def _write_atomically(path, write):
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


class Runner:
    def __init__(self, job_dir):
        self.job_dir = Path(job_dir)
        self.request = json.loads((self.job_dir / "request.json").read_text())
        with np.load(self.job_dir / "inputs.npz", allow_pickle=False) as inputs:
            self.inputs = {name: inputs[name] for name in inputs.files}
        self.submission = Path(self.request["submission"]).resolve()
        self.caches = {}
        self.package = None

    def input(self, name):
        return self.inputs[name].copy()

    def run(self):
        ops = self.request["ops"]
        skip = set(self.request.get("skip", ()))
        # Student code that draws from numpy's global generator without a seed gives the same
        # masks on every grading run, so a regrade gives the same verdict.
        np.random.seed(0)
        for k in range(self.request.get("start", 0), len(ops)):
            if k in skip:
                continue
            (self.job_dir / f"started-{k}").touch()
            arrays, facts = {}, {}
            try:
                self.dispatch(ops[k], arrays, facts)
                status = {"ok": True, "facts": facts}
            except BaseException as exc:  # SystemExit and KeyboardInterrupt from student code too
                status = {"ok": False, "error": _describe_exception(exc), "facts": facts}
            _write_atomically(self.job_dir / f"result-{k}.npz", lambda tmp: _save_arrays(tmp, arrays))
            _write_atomically(self.job_dir / f"result-{k}.json",
                              lambda tmp: tmp.write_text(json.dumps(status)))

    def dispatch(self, op, arrays, facts):
        kind = op["op"]
        if kind == "import":
            return self.import_package(facts)
        if self.package is None:  # a restart after a hang or a crash begins past the import
            self.import_package({})
        return getattr(self, "op_" + kind)(op, arrays, facts)

    def import_package(self, facts):
        sys.path.insert(0, str(self.submission))
        os.chdir(self.submission)
        import importlib

        package = importlib.import_module(PACKAGE)
        layers = importlib.import_module(PACKAGE + ".layers")
        fc_net = importlib.import_module(PACKAGE + ".fc_net")
        files = {name: getattr(module, "__file__", None) or ""
                 for name, module in (("package", package), ("layers", layers), ("fc_net", fc_net))}
        for name, file in files.items():
            if not file or not Path(file).resolve().is_relative_to(self.submission):
                raise ImportError(f"the imported {PACKAGE} ({name}: {file or 'no file'}) is not the "
                                  f"submission's own package in {self.submission}")
        facts["files"] = files
        self.package = (layers, fc_net)

    def op_dropout_forward(self, op, arrays, facts):
        layers = self.package[0]
        x = self.input(op["x"])
        out, cache = layers.dropout_forward(x, copy.deepcopy(op["param"]))
        arrays["out"] = np.asarray(out)
        arrays["x_after"] = np.asarray(x)
        if op.get("keep"):
            self.caches[op["keep"]] = cache
        facts["out_type"] = type(out).__name__

    def op_dropout_forward_many(self, op, arrays, facts):
        layers = self.package[0]
        xs = self.input(op["xs"])
        arrays["outs"] = np.stack([np.asarray(layers.dropout_forward(x, copy.deepcopy(op["param"]))[0])
                                   for x in xs])

    def op_dropout_backward(self, op, arrays, facts):
        layers = self.package[0]
        if op["cache"] not in self.caches:
            raise RuntimeError("the dropout_forward call whose cache this backward needs did not complete "
                               "(it failed, or an earlier call hung or crashed and the runner restarted)")
        arrays["dx"] = np.asarray(layers.dropout_backward(self.input(op["dout"]), self.caches[op["cache"]]))

    def op_net(self, op, arrays, facts):
        """Build a net, set the judge's parameters, and run a sequence of loss calls on it."""
        layers, fc_net = self.package
        dropout = ScriptedDropout(op["mask_seed"])
        for module in (layers, fc_net):
            module.dropout_forward = dropout.forward
            module.dropout_backward = dropout.backward
        init = dict(op["init"], dtype=np.float64)
        model = fc_net.FullyConnectedNet(**init)
        for name in op["param_names"]:
            model.params[name] = self.input(op["params"] + name)
        facts.update(trace=dropout.trace, calls_done=0)
        for j, call in enumerate(op["calls"]):
            X = self.input(call["X"])
            y = None if call["y"] is None else self.input(call["y"])
            dropout.start_loss_call("train" if y is not None else "test")
            result = model.loss(X, y)
            if y is None:
                arrays[f"{j}/scores"] = np.asarray(result, dtype=np.float64)
            else:
                loss, grads = result
                arrays[f"{j}/loss"] = np.asarray(loss, dtype=np.float64)
                for name, grad in grads.items():
                    arrays[f"{j}/grad/{name}"] = np.asarray(grad, dtype=np.float64)
            facts["calls_done"] = j + 1


def main(argv):
    if len(argv) != 2:
        print("usage: python -I runner.py JOB_DIR", file=sys.stderr)
        return 2
    Runner(argv[1]).run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
