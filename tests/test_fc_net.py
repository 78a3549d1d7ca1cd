"""FullyConnectedNet: gradient checks, initial loss, test mode, and CS231n's published run."""

import math

import numpy as np
import pytest

from source_pkg.fc_net import FullyConnectedNet
from source_pkg.gradient_check import eval_numerical_gradient, rel_error

# A correct backward pass gives relative errors of 1e-6 or less; ReLU kinks push single
# entries higher (CS231n's own run prints 2.21e-05 for W2). A wrong backward is off by
# 1e-2 or more. 1e-3 sits in that gap: ~45x above the largest correct value, 10x below
# the smallest wrong one.
GRADIENT_TOLERANCE = 1e-3

N, D, H1, H2, C = 2, 15, 20, 30, 10

# A centred difference of a float64 loss near 2.3 with h = 1e-5 carries rounding noise of
# about eps * 2.3 / h ~ 5e-11. Where the true gradient is exactly 0 (a dead ReLU, a bias
# before batch norm) rel_error would divide that noise by its 1e-8 floor, so entries where
# both gradients are below NOISE are left out of the comparison.
NOISE = 1e-9


def gradient_error(analytic, numeric):
    significant = (np.abs(analytic) > NOISE) | (np.abs(numeric) > NOISE)
    if not significant.any():
        return 0.0
    return rel_error(analytic[significant], numeric[significant])


def max_gradient_errors(model, X, y):
    loss, grads = model.loss(X, y)
    errors = {}
    for name in sorted(grads):
        numeric = eval_numerical_gradient(lambda _: model.loss(X, y)[0], model.params[name], verbose=False, h=1e-5)
        errors[name] = gradient_error(grads[name], numeric)
    return loss, errors


@pytest.mark.parametrize("dropout", [0, 0.25, 0.5])
@pytest.mark.parametrize("use_batchnorm, reg", [(False, 0.0), (True, 0.0), (False, 0.7), (True, 3.14)])
def test_gradients_match_numeric(dropout, use_batchnorm, reg):
    np.random.seed(0)  # the weights come from the global generator
    X, y = np.random.randn(N, D), np.random.randint(C, size=N)
    model = FullyConnectedNet([H1, H2], input_dim=D, num_classes=C, weight_scale=5e-2, dtype=np.float64,
                              dropout=dropout, use_batchnorm=use_batchnorm, reg=reg, seed=123)
    loss, errors = max_gradient_errors(model, X, y)
    assert max(errors.values()) < GRADIENT_TOLERANCE, errors
    if reg == 0 and not use_batchnorm:
        assert loss == pytest.approx(math.log(C), abs=0.02)
    expected = {f"{kind}{i}" for i in (1, 2, 3) for kind in "Wb"}
    if use_batchnorm:
        expected |= {f"{kind}{i}" for i in (1, 2) for kind in ("gamma", "beta")}
    assert set(errors) == expected == set(model.params)


def test_published_gradient_check():
    """CS231n's FC-net check, seed 231: initial losses and dropout-free errors (2 significant digits)."""
    np.random.seed(231)
    X = np.random.randn(N, D)
    y = np.random.randint(C, size=(N,))
    published_losses = {0: 2.3004790897684924, 0.25: 2.302371489704412, 0.5: 2.3042759220785896}
    published_errors = {"W1": 1.48e-07, "W2": 2.21e-05, "W3": 3.53e-07, "b1": 5.38e-09, "b2": 2.09e-09, "b3": 5.80e-11}
    for dropout, published_loss in published_losses.items():
        model = FullyConnectedNet([H1, H2], input_dim=D, num_classes=C, weight_scale=5e-2,
                                  dtype=np.float64, dropout=dropout, seed=123)
        loss, errors = max_gradient_errors(model, X, y)
        assert loss == pytest.approx(published_loss, rel=1e-12)
        if dropout == 0:
            assert {name: float(f"{e:.2e}") for name, e in errors.items()} == published_errors


def test_test_mode_is_deterministic_and_dropout_free():
    rng = np.random.RandomState(1)
    X = rng.randn(5, D)
    with_dropout = FullyConnectedNet([H1, H2], input_dim=D, dropout=0.5, dtype=np.float64, seed=None)
    without = FullyConnectedNet([H1, H2], input_dim=D, dropout=0.0, dtype=np.float64)
    without.params = {k: v.copy() for k, v in with_dropout.params.items()}
    first, second = with_dropout.loss(X), with_dropout.loss(X)
    assert first.shape == (5, 10)
    assert np.array_equal(first, second)
    assert np.allclose(first, without.loss(X))


def test_parameters_follow_dtype_and_train_mode_is_random():
    model = FullyConnectedNet([H1], input_dim=D, dropout=0.5, dtype=np.float32)
    assert all(v.dtype == np.float32 for v in model.params.values())
    rng = np.random.RandomState(2)
    X, y = rng.randn(4, D), rng.randint(10, size=4)
    model.params["W1"] *= 100
    losses = {model.loss(X, y)[0] for _ in range(5)}
    assert len(losses) > 1


def test_invalid_dropout_is_rejected():
    with pytest.raises(ValueError, match="dropout.*1"):
        FullyConnectedNet([H1], input_dim=D, dropout=1)
