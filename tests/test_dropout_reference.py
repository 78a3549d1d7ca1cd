"""The instructor edition's dropout: statistics, test mode, gradients, input validation,
and CS231n's published numbers reproduced in our drop-probability convention."""

import numpy as np
import pytest

from source_pkg.gradient_check import eval_numerical_gradient_array, rel_error
from source_pkg.layers import dropout_backward, dropout_forward


@pytest.mark.parametrize("p", [0.25, 0.4, 0.7])
def test_train_statistics_and_test_identity(p):
    x = np.random.RandomState(1).randn(500, 500) + 10
    out, _ = dropout_forward(x, {"mode": "train", "p": p})
    out_test, _ = dropout_forward(x, {"mode": "test", "p": p})
    assert abs(out.mean() - x.mean()) < 0.01 * x.mean()
    assert abs((out == 0).mean() - p) < 0.01
    assert np.array_equal(out_test, x)
    assert (out_test == 0).mean() == 0


def test_published_forward_statistics():
    """CS231n's keep probabilities 0.25, 0.4, 0.7 are our drop probabilities 0.75, 0.6, 0.3."""
    np.random.seed(231)
    x = np.random.randn(500, 500) + 10
    published = [(0.75, 10.014059116977283, 0.749784),
                 (0.6, 9.977917658761159, 0.600796),
                 (0.3, 9.987811912159428, 0.30074)]
    for p, mean, zero_fraction in published:
        out, _ = dropout_forward(x, {"mode": "train", "p": p})
        dropout_forward(x, {"mode": "test", "p": p})
        assert out.mean() == pytest.approx(mean, rel=1e-12)
        assert (out == 0).mean() == zero_fraction


def test_backward_matches_numeric_gradient():
    np.random.seed(231)
    x = np.random.randn(10, 10) + 10
    dout = np.random.randn(*x.shape)
    param = {"mode": "train", "p": 0.2, "seed": 123}
    out, cache = dropout_forward(x, param)
    dx = dropout_backward(dout, cache)
    numeric = eval_numerical_gradient_array(lambda v: dropout_forward(v, param)[0], x, dout)
    assert rel_error(dx, numeric) < 1e-9
    # CS231n's reference run prints 5.4e-11 for this check.
    assert rel_error(dx, numeric) == pytest.approx(5.4e-11, rel=0.05)


def test_test_mode_backward_is_identity():
    dout = np.random.RandomState(0).randn(3, 4)
    _, cache = dropout_forward(np.ones((3, 4)), {"mode": "test", "p": 0.5})
    assert np.array_equal(dropout_backward(dout, cache), dout)


@pytest.mark.parametrize("mode", ["train", "test"])
def test_shape_dtype_kept_and_input_untouched(mode):
    x = np.random.RandomState(0).randn(4, 3, 5).astype(np.float32)
    before = x.copy()
    out, cache = dropout_forward(x, {"mode": mode, "p": 0.3})
    assert out.shape == x.shape and out.dtype == np.float32
    assert np.array_equal(x, before)
    dx = dropout_backward(np.ones_like(x), cache)
    assert dx.shape == x.shape and dx.dtype == np.float32


def test_seed_makes_the_mask_reproducible():
    x = np.ones((20, 30))
    first, _ = dropout_forward(x, {"mode": "train", "p": 0.5, "seed": 7})
    second, _ = dropout_forward(x, {"mode": "train", "p": 0.5, "seed": 7})
    third, _ = dropout_forward(x, {"mode": "train", "p": 0.5})
    assert np.array_equal(first, second)
    assert not np.array_equal(second, third)


def test_p_zero_keeps_everything():
    x = np.random.RandomState(0).randn(50, 50)
    out, _ = dropout_forward(x, {"mode": "train", "p": 0.0})
    assert np.array_equal(out, x)


@pytest.mark.parametrize("param, words", [
    ({"mode": "train", "p": 1.0}, ["'p'", "1.0"]),
    ({"mode": "train", "p": -0.1}, ["'p'", "-0.1"]),
    ({"mode": "train", "p": "0.5"}, ["'p'", "'0.5'"]),
    ({"mode": "eval", "p": 0.5}, ["'mode'", "'eval'"]),
    ({"p": 0.5}, ["missing", "'mode'"]),
    ({"mode": "train"}, ["missing", "'p'"]),
])
def test_bad_dropout_param_names_key_and_value(param, words):
    with pytest.raises(ValueError) as error:
        dropout_forward(np.ones((2, 2)), param)
    for word in words:
        assert word in str(error.value)
