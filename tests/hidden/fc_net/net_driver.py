"""The trusted driver of the net checks: a scripted dropout layer and the sequence of ``loss``
calls a ``FullyConnectedNet`` is run through.

The hidden checks (``test_fc_net.py``) run it on the instructor's modules, the reference;
``calls.py`` runs it in the runner on the submission's modules (the runner loads this file by
path as ``student.task_module("net_driver")``). So it imports nothing but numpy and the standard
library: never ``source_pkg``, never ``coursekit``.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np


class ScriptedDropout:
    """Inverted dropout whose masks the judge can reproduce, recording how the net calls it.

    The k-th train-mode call during the j-th call of ``loss`` keeps each unit with probability
    1 - p, drawn from ``RandomState(mask_seed, j, k)``; every call is recorded in ``trace``.
    """

    TAG = "judge-dropout"

    def __init__(self, mask_seed: int) -> None:
        self.mask_seed = mask_seed
        self.loss_call = -1
        self.train_calls = 0
        self.phase = ""
        self.trace: list[dict[str, Any]] = []

    def start_loss_call(self, phase: str) -> None:
        """Begin the next call of ``loss``; ``phase`` is "train" (with y) or "test" (without)."""
        self.loss_call += 1
        self.train_calls = 0
        self.phase = phase

    def keep_mask(self, shape: tuple[int, ...], p: float, loss_call: int, k: int) -> np.ndarray:
        """The units kept by the k-th train-mode call during loss call ``loss_call``."""
        rng = np.random.RandomState([self.mask_seed, loss_call, k])
        return rng.rand(*shape) >= p

    def forward(self, x: np.ndarray, dropout_param: dict) -> tuple[np.ndarray, tuple]:
        """``dropout_forward`` with the scripted masks."""
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

    def backward(self, dout: np.ndarray, cache: tuple) -> np.ndarray:
        """``dropout_backward`` for a cache this layer's ``forward`` returned."""
        if not (isinstance(cache, tuple) and len(cache) == 4 and cache[0] == self.TAG):
            raise TypeError("dropout_backward was given a cache that dropout_forward did not return")
        self.trace.append({"kind": "backward", "loss_call": self.loss_call, "phase": self.phase,
                           "forward_call": cache[1], "shape": list(np.shape(dout))})
        scale = cache[2]
        return dout if scale is None else dout * scale


def script_dropout(dropout: ScriptedDropout, modules: list[Any]) -> Callable[[], None]:
    """Replace ``dropout_forward``/``dropout_backward`` of ``modules`` by ``dropout``'s; returns the
    function that puts the originals back."""
    replacements = {"dropout_forward": dropout.forward, "dropout_backward": dropout.backward}
    saved = [(module, {name: module.__dict__[name] for name in replacements if name in module.__dict__})
             for module in modules]
    for module in modules:
        for name, function in replacements.items():
            setattr(module, name, function)

    def restore() -> None:
        for module, originals in saved:
            for name in replacements:
                if name in originals:
                    setattr(module, name, originals[name])
                else:
                    module.__dict__.pop(name, None)

    return restore


def run_net(fc_net: Any, layers: Any, init: dict, params: dict[str, np.ndarray],
            calls: list[tuple[np.ndarray, np.ndarray | None]], mask_seed: int,
            outputs: dict[str, np.ndarray], facts: dict[str, Any]) -> None:
    """Build ``fc_net.FullyConnectedNet(**init)`` in float64 with ``params``, its dropout scripted
    (``ScriptedDropout(mask_seed)`` in place of ``layers``' and ``fc_net``'s), and call
    ``loss(X, y)`` for each ``(X, y)`` of ``calls`` in turn.

    Fills ``outputs`` as it goes (``j/scores`` of a call without y; ``j/loss`` and ``j/grad/<name>``
    of one with y, all float64) and ``facts`` (``trace``: the dropout calls; ``calls_done``), so
    whatever was computed before a call raised is kept.
    """
    dropout = ScriptedDropout(mask_seed)
    facts.update(trace=dropout.trace, calls_done=0)
    restore = script_dropout(dropout, [layers, fc_net])
    try:
        model = fc_net.FullyConnectedNet(**dict(init, dtype=np.float64))
        for name, value in params.items():
            model.params[name] = np.array(value, copy=True)
        for j, (X, y) in enumerate(calls):
            dropout.start_loss_call("train" if y is not None else "test")
            result = model.loss(X, y)
            if y is None:
                outputs[f"{j}/scores"] = np.asarray(result, dtype=np.float64)
            else:
                loss, grads = result
                outputs[f"{j}/loss"] = np.asarray(loss, dtype=np.float64)
                for name, grad in grads.items():
                    outputs[f"{j}/grad/{name}"] = np.asarray(grad, dtype=np.float64)
            facts["calls_done"] = j + 1
    finally:
        restore()
