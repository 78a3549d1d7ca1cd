"""Every layer's backward pass against centred-difference numerical gradients (float64)."""

import numpy as np
import pytest

from source_pkg import layers
from source_pkg.gradient_check import eval_numerical_gradient, eval_numerical_gradient_array, rel_error

TOLERANCE = 1e-8


@pytest.fixture
def rng():
    return np.random.RandomState(0)


def test_affine_backward(rng):
    x, w, b = rng.randn(4, 2, 3), rng.randn(6, 5), rng.randn(5)
    dout = rng.randn(4, 5)
    dx, dw, db = layers.affine_backward(dout, layers.affine_forward(x, w, b)[1])
    assert rel_error(dx, eval_numerical_gradient_array(lambda v: layers.affine_forward(v, w, b)[0], x, dout)) < TOLERANCE
    assert rel_error(dw, eval_numerical_gradient_array(lambda v: layers.affine_forward(x, v, b)[0], w, dout)) < TOLERANCE
    assert rel_error(db, eval_numerical_gradient_array(lambda v: layers.affine_forward(x, w, v)[0], b, dout)) < TOLERANCE


def test_affine_forward_value():
    x = np.linspace(-0.1, 0.5, num=2 * 4 * 5 * 6).reshape(2, 4, 5, 6)
    w = np.linspace(-0.2, 0.3, num=120 * 3).reshape(120, 3)
    b = np.linspace(-0.3, 0.1, num=3)
    out, _ = layers.affine_forward(x, w, b)
    assert np.allclose(out, x.reshape(2, -1) @ w + b)
    assert out.shape == (2, 3)


def test_relu_backward(rng):
    x = rng.randn(10, 10)
    dout = rng.randn(10, 10)
    dx = layers.relu_backward(dout, layers.relu_forward(x)[1])
    assert rel_error(dx, eval_numerical_gradient_array(lambda v: layers.relu_forward(v)[0], x, dout)) < TOLERANCE


def test_affine_relu_backward(rng):
    x, w, b = rng.randn(2, 3, 4), rng.randn(12, 10), rng.randn(10)
    dout = rng.randn(2, 10)
    dx, dw, db = layers.affine_relu_backward(dout, layers.affine_relu_forward(x, w, b)[1])
    f = layers.affine_relu_forward
    assert rel_error(dx, eval_numerical_gradient_array(lambda v: f(v, w, b)[0], x, dout)) < TOLERANCE
    assert rel_error(dw, eval_numerical_gradient_array(lambda v: f(x, v, b)[0], w, dout)) < TOLERANCE
    assert rel_error(db, eval_numerical_gradient_array(lambda v: f(x, w, v)[0], b, dout)) < TOLERANCE


def test_batchnorm_backward(rng):
    x, gamma, beta = 5 * rng.randn(4, 5) + 12, rng.randn(5), rng.randn(5)
    dout = rng.randn(4, 5)

    def f(x=x, gamma=gamma, beta=beta):
        return layers.batchnorm_forward(x, gamma, beta, {"mode": "train"})[0]

    dx, dgamma, dbeta = layers.batchnorm_backward(dout, layers.batchnorm_forward(x, gamma, beta, {"mode": "train"})[1])
    assert rel_error(dx, eval_numerical_gradient_array(lambda v: f(x=v), x, dout)) < 1e-7
    assert rel_error(dgamma, eval_numerical_gradient_array(lambda v: f(gamma=v), gamma, dout)) < TOLERANCE
    assert rel_error(dbeta, eval_numerical_gradient_array(lambda v: f(beta=v), beta, dout)) < TOLERANCE


def test_batchnorm_train_normalizes_and_test_uses_running_statistics(rng):
    x = 3 * rng.randn(200, 4) + 7
    bn_param = {"mode": "train"}
    for _ in range(200):
        out, _ = layers.batchnorm_forward(x, np.ones(4), np.zeros(4), bn_param)
    assert np.allclose(out.mean(axis=0), 0, atol=1e-7) and np.allclose(out.std(axis=0), 1, atol=1e-3)
    bn_param["mode"] = "test"
    out_test, _ = layers.batchnorm_forward(x, np.ones(4), np.zeros(4), bn_param)
    assert np.allclose(out_test, out, atol=1e-3)
    with pytest.raises(ValueError, match="mode"):
        layers.batchnorm_forward(x, np.ones(4), np.zeros(4), {"mode": "eval"})


def test_affine_bn_relu_backward(rng):
    x, w, b = rng.randn(4, 3), rng.randn(3, 5), rng.randn(5)
    gamma, beta = rng.randn(5), rng.randn(5)
    dout = rng.randn(4, 5)
    args = dict(x=x, w=w, b=b, gamma=gamma, beta=beta)

    def f(**changed):
        return layers.affine_bn_relu_forward(**{**args, **changed}, bn_param={"mode": "train"})[0]

    grads = layers.affine_bn_relu_backward(dout, layers.affine_bn_relu_forward(**args, bn_param={"mode": "train"})[1])
    for name, grad in zip(["x", "w", "b", "gamma", "beta"], grads):
        numeric = eval_numerical_gradient_array(lambda v: f(**{name: v}), args[name], dout)
        if name == "b":  # batch norm subtracts the mean, so the bias has no effect at all
            assert np.abs(grad).max() < 1e-12 and np.abs(numeric).max() < 1e-8
        else:
            assert rel_error(grad, numeric) < 1e-7, name


def test_softmax_loss(rng):
    N, C = 50, 10
    x = 0.001 * rng.randn(N, C)
    y = rng.randint(C, size=N)
    loss, dx = layers.softmax_loss(x, y)
    assert abs(loss - np.log(C)) < 1e-2
    assert rel_error(dx, eval_numerical_gradient(lambda v: layers.softmax_loss(v, y)[0], x, verbose=False)) < TOLERANCE


def test_softmax_loss_is_stable_for_large_scores():
    loss, dx = layers.softmax_loss(np.array([[1000.0, 0.0]]), np.array([0]))
    assert np.isfinite(loss) and np.all(np.isfinite(dx))
