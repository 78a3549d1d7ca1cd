"""Numerical gradients by centred differences, and the relative error used to compare them."""

import numpy as np


def eval_numerical_gradient(f, x, verbose=True, h=1e-5):
    """Numerical gradient of a scalar function f at x (modified in place, then restored).

    Inputs:
    - f: function of one argument returning a float
    - x: array at which to evaluate the gradient
    - verbose: print each entry's index and gradient
    - h: step of the centred difference

    Returns grad of x's shape.
    """
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        ix = it.multi_index
        old = x[ix]
        x[ix] = old + h
        f_plus = f(x)
        x[ix] = old - h
        f_minus = f(x)
        x[ix] = old
        grad[ix] = (f_plus - f_minus) / (2 * h)
        if verbose:
            print(ix, grad[ix])
        it.iternext()
    return grad


def eval_numerical_gradient_array(f, x, df, h=1e-5):
    """Numerical gradient of sum(f(x) * df) with respect to x, for an array-valued f.

    Inputs:
    - f: function of one array argument returning an array of df's shape
    - x: array at which to evaluate (modified in place, then restored)
    - df: upstream gradient
    - h: step of the centred difference

    Returns grad of x's shape.
    """
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        ix = it.multi_index
        old = x[ix]
        x[ix] = old + h
        pos = f(x).copy()
        x[ix] = old - h
        neg = f(x).copy()
        x[ix] = old
        grad[ix] = np.sum((pos - neg) * df) / (2 * h)
        it.iternext()
    return grad


def rel_error(x, y):
    """Largest elementwise relative error: max(|x - y| / max(1e-8, |x| + |y|))."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))
