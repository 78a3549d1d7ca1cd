"""spatial_dropout_forward / spatial_dropout_backward (instructor edition).

The reference is PyTorch's ``nn.Dropout2d``: torch draws the mask, the layer is made to draw the
same one (numpy's uniform draws replaced, for one call, by draws that keep exactly the maps torch
kept), and both the output and the gradient must agree with torch's. The statistics of the
layer's own masks are checked against Hoeffding bounds (coursekit.grading.checks).
"""

import numpy as np
import pytest
import torch

from coursekit.grading.checks import bernoulli_tolerance
from source_pkg import layers
from source_pkg.gradient_check import eval_numerical_gradient_array, rel_error


def _torch_mask(shape, p, seed):
    """(output, kept maps) of torch's train-mode Dropout2d on ones of ``shape``, drawn after manual_seed(seed)."""
    torch.manual_seed(seed)
    layer = torch.nn.Dropout2d(p).train()
    out = layer(torch.ones(shape, dtype=torch.float64))
    return out.numpy(), out.numpy()[:, :, 0, 0] != 0


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_forward_and_backward_match_torch_dropout2d_on_the_same_mask(p, monkeypatch):
    rng = np.random.RandomState(1)
    x, dout = rng.randn(6, 5, 3, 4), rng.randn(6, 5, 3, 4)
    _, kept = _torch_mask(x.shape, p, seed=7)
    assert kept.any() and not kept.all()
    # Uniform draws below 1 - p keep a map: 0 where torch kept it, just under 1 where it dropped it.
    draws = np.where(kept, 0.0, np.nextafter(1.0, 0.0))[:, :, None, None]
    monkeypatch.setattr(np.random, "rand", lambda *shape: draws.reshape(shape))
    out, cache = layers.spatial_dropout_forward(x, {"p": p, "mode": "train"})
    monkeypatch.undo()

    torch.manual_seed(7)
    x_t = torch.tensor(x, requires_grad=True)
    out_t = torch.nn.Dropout2d(p).train()(x_t)
    out_t.backward(torch.tensor(dout))
    assert np.allclose(out, out_t.detach().numpy(), rtol=1e-12, atol=0)
    assert np.allclose(layers.spatial_dropout_backward(dout, cache), x_t.grad.numpy(), rtol=1e-12, atol=0)


def test_test_mode_is_identity_like_torch_eval():
    x = np.random.RandomState(2).randn(3, 4, 2, 2)
    out, cache = layers.spatial_dropout_forward(x, {"p": 0.7, "mode": "test"})
    assert np.array_equal(out, torch.nn.Dropout2d(0.7).eval()(torch.tensor(x)).numpy())
    assert out is not x
    dout = np.ones_like(x)
    assert np.array_equal(layers.spatial_dropout_backward(dout, cache), dout)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_whole_maps_dropped_at_rate_p_and_kept_ones_scaled(p):
    x = np.random.RandomState(3).rand(200, 50, 3, 3) + 1
    out, _ = layers.spatial_dropout_forward(x, {"p": p, "mode": "train", "seed": 4})
    zero = out == 0
    whole = zero.all(axis=(2, 3))
    assert np.array_equal(zero.any(axis=(2, 3)), whole)  # every map all dropped or all kept
    assert abs(whole.mean() - p) <= bernoulli_tolerance(whole.size)
    assert np.allclose(out[~zero], x[~zero] / (1 - p), rtol=1e-12)


def test_maps_independent_across_examples_and_channels():
    p = 0.5
    x = np.random.RandomState(5).rand(400, 64, 2, 2) + 1
    out, _ = layers.spatial_dropout_forward(x, {"p": p, "mode": "train", "seed": 6})
    dropped = (out == 0).all(axis=(2, 3))
    expected = p * p + (1 - p) * (1 - p)  # two independent maps agree with this probability
    rows = np.mean(dropped[0::2] == dropped[1::2])
    columns = np.mean(dropped[:, 0::2] == dropped[:, 1::2])
    assert abs(rows - expected) <= bernoulli_tolerance(dropped[0::2].size)
    assert abs(columns - expected) <= bernoulli_tolerance(dropped[:, 0::2].size)


def test_seed_reproduces_the_mask_and_dtype_is_kept():
    x = (np.random.RandomState(7).rand(8, 6, 3, 3) + 1).astype(np.float32)
    a, _ = layers.spatial_dropout_forward(x, {"p": 0.5, "mode": "train", "seed": 3})
    b, _ = layers.spatial_dropout_forward(x, {"p": 0.5, "mode": "train", "seed": 3})
    c, _ = layers.spatial_dropout_forward(x, {"p": 0.5, "mode": "train", "seed": 4})
    assert a.dtype == np.float32 and np.array_equal(a, b) and not np.array_equal(a == 0, c == 0)
    dx = layers.spatial_dropout_backward(np.ones_like(x), layers.spatial_dropout_forward(x, {"p": 0.5, "mode": "train"})[1])
    assert dx.dtype == np.float32


def test_backward_matches_numerical_gradient():
    rng = np.random.RandomState(8)
    x, dout = rng.randn(3, 4, 2, 5), rng.randn(3, 4, 2, 5)
    param = {"p": 0.4, "mode": "train", "seed": 123}
    dx = layers.spatial_dropout_backward(dout, layers.spatial_dropout_forward(x, param)[1])
    numeric = eval_numerical_gradient_array(lambda v: layers.spatial_dropout_forward(v, param)[0], x, dout)
    assert rel_error(dx, numeric) < 1e-9


def test_input_not_modified_and_bad_input_named():
    x = np.random.RandomState(9).rand(2, 3, 2, 2)
    before = x.copy()
    layers.spatial_dropout_forward(x, {"p": 0.5, "mode": "train"})
    assert np.array_equal(x, before)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\).*\(2, 3\)"):
        layers.spatial_dropout_forward(np.ones((2, 3)), {"p": 0.5, "mode": "train"})
    with pytest.raises(ValueError, match="'p'"):
        layers.spatial_dropout_forward(x, {"p": 1.0, "mode": "train"})
