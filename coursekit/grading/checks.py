"""What the hidden checks (tests/hidden) share: failures that name a mistake, and tolerances.

Statistical tolerances come from Hoeffding's inequality, which needs no distributional
approximation: for n independent terms a_i <= Z_i <= b_i,

    P(|mean(Z) - E[mean(Z)]| >= t) <= 2 exp(-2 n^2 t^2 / sum((b_i - a_i)^2)).

Setting the right side to DELTA and solving for t gives the tolerance. With DELTA = 1e-9 per
comparison and fewer than 1000 statistical comparisons in all the hidden checks (about 40 today),
the union bound keeps the chance that a correct implementation fails any of them below 1e-6.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, NoReturn, TypeVar

import numpy as np
import pytest

from ..manifest import COURSE

DELTA = 1e-9
Measured = TypeVar("Measured")


class CheckFailure(AssertionError):
    """A hidden check failed; ``mistake`` is the id of the diagnosed mistake, or None; ``where`` is
    where the student's code raised (file, line, source), when the failure is about that."""

    def __init__(self, message: str, mistake: str | None = None, where: dict[str, str] | None = None) -> None:
        if mistake is not None and mistake not in COURSE.mistakes:
            raise ValueError(f"unknown mistake id {mistake!r}")
        super().__init__(message)
        self.mistake = mistake
        self.where = dict(where or {})


def fail(message: str, mistake: str | None = None, where: dict[str, str] | None = None) -> NoReturn:
    """Fail the current check with a plain-words message and, if diagnosed, the mistake's id."""
    __tracebackhide__ = True
    raise CheckFailure(message, mistake, where)


def once_per_run(measure: Callable[[Any], Measured]) -> Callable[[Any], Measured]:
    """``measure(run)``, computed once for the run it was last given: the checks of a module share
    one run (a module-scoped fixture), and several of them need the same measurements of it. A
    measurement that fails the check is not kept: it fails again in the next check that asks."""
    last: list = []

    @functools.wraps(measure)
    def measured(run: Any) -> Measured:
        if not last or last[0] is not run:
            last[:] = [run, measure(run)]
        return last[1]

    return measured


def bernoulli_tolerance(n: int, delta: float = DELTA) -> float:
    """t such that the mean of n independent Bernoulli draws is within t of their probability,
    except with probability delta (Hoeffding with b_i - a_i = 1: t = sqrt(ln(2/delta) / (2n)))."""
    return math.sqrt(math.log(2 / delta) / (2 * n))


def bounded_mean_tolerance(ranges: np.ndarray, delta: float = DELTA) -> float:
    """t for the mean of independent terms whose i-th lies in an interval of width ranges[i]:
    t = sqrt(ln(2/delta) * sum(ranges**2) / 2) / n."""
    ranges = np.asarray(ranges, dtype=np.float64).ravel()
    return math.sqrt(math.log(2 / delta) * float(np.sum(ranges**2)) / 2) / ranges.size


def rel_error(x: np.ndarray | float, y: np.ndarray | float) -> float:
    """Largest elementwise relative error, as CS231n defines it."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        return math.inf
    if x.size == 0:
        return 0.0
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def normal_cdf(value: float) -> float:
    """P(Z <= value) for a standard normal Z: the keep rate of a mask built as ``randn(...) < value``."""
    return 0.5 * (1 + math.erf(value / math.sqrt(2)))


def where_it_broke(result: Any) -> str:
    """`` at source_pkg/layers.py, line 12 (<source line>)`` for a call that raised in student code, else ""."""
    where = result.where
    if not where:
        return ""
    return f" at {where['file']}, line {where['line']}" + (f" ({where['source']})" if where.get("source") else "")


def points(n: float) -> pytest.MarkDecorator:
    """Marker: the check is worth n points of its task."""
    return pytest.mark.points(n)
