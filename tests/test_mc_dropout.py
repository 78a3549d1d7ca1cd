"""mc_dropout_predict (instructor edition) against the exact expectation over dropout masks.

The nets are small enough to enumerate every keep/drop pattern of their hidden units, so the
expected softmax probabilities of one stochastic pass are computed exactly, here, with our own
forward pass (affine - [batch norm with running statistics] - relu - dropout, then affine). The
mean of T passes is within a Hoeffding bound of that expectation (coursekit.grading.checks).
"""

import itertools

import numpy as np
import pytest

from coursekit.grading.checks import DELTA, bounded_mean_tolerance
from source_pkg.fc_net import FullyConnectedNet, mc_dropout_predict


def _softmax(scores):
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def _net(hidden, p, batchnorm=False, seed=None, rng_seed=0, scale=1.5):
    """A float64 net with random parameters and, with batch norm, running statistics far from 0 and 1."""
    rng = np.random.RandomState(rng_seed)
    np.random.seed(rng_seed)  # the net draws its weights from numpy's global generator: the same net whatever ran before
    model = FullyConnectedNet(hidden, input_dim=4, num_classes=3, dropout=p, use_batchnorm=batchnorm,
                              weight_scale=scale, dtype=np.float64, seed=seed)
    for name in model.params:
        model.params[name] = model.params[name] + 0.3 * rng.randn(*model.params[name].shape)
    for i, bn_param in enumerate(model.bn_params):
        bn_param["running_mean"] = rng.randn(hidden[i])
        bn_param["running_var"] = rng.rand(hidden[i]) + 0.5
    return model


def _scores_with(model, X, keeps, p):
    """Class scores of every example with the hidden units kept where ``keeps`` (one array per layer) says."""
    h = X
    for i, keep in enumerate(keeps, start=1):
        a = h @ model.params[f"W{i}"] + model.params[f"b{i}"]
        if model.use_batchnorm:
            bn = model.bn_params[i - 1]
            a = (a - bn["running_mean"]) / np.sqrt(bn["running_var"] + 1e-5)
            a = model.params[f"gamma{i}"] * a + model.params[f"beta{i}"]
        h = np.maximum(a, 0) * keep / (1 - p)
    L = model.num_layers
    return h @ model.params[f"W{L}"] + model.params[f"b{L}"]


def _exact(model, X, p):
    """(expected probabilities, their range over the masks): every mask enumerated, weighted by its probability."""
    sizes = [model.params[f"W{i}"].shape[1] for i in range(1, model.num_layers)]
    expected, low, high = 0.0, np.inf, -np.inf
    for bits in itertools.product((0, 1), repeat=sum(sizes)):
        bits = np.array(bits)
        weight = np.prod(np.where(bits == 1, 1 - p, p))
        keeps = np.split(bits, np.cumsum(sizes)[:-1])
        probs = _softmax(_scores_with(model, X, keeps, p))
        expected = expected + weight * probs
        low, high = np.minimum(low, probs), np.maximum(high, probs)
    return expected, high - low


def _entropy(probs):
    return -(probs * np.log(np.where(probs > 0, probs, 1.0))).sum(axis=1)


X = np.random.RandomState(11).randn(5, 4)


@pytest.mark.parametrize("hidden, batchnorm, seed", [([3], True, None), ([3, 2], False, None), ([4], False, 9)])
def test_mean_probabilities_within_hoeffding_bound_of_the_exact_expectation(hidden, batchnorm, seed):
    p, T = 0.5, 4000
    model = _net(hidden, p, batchnorm, seed)
    expected, widths = _exact(model, X, p)
    mean_probs, entropy = mc_dropout_predict(model, X, T, seed=1)
    assert mean_probs.shape == (5, 3) and entropy.shape == (5,)
    tolerance = np.array([[bounded_mean_tolerance(np.full(T, w), DELTA / widths.size) for w in row] for row in widths])
    # Where every mask gives the same probabilities (width 0) the bound is 0, and the mean of
    # T equal numbers still differs from them by rounding (1e-14 was seen): allow that much.
    assert np.all(np.abs(mean_probs - expected) <= tolerance + 1e-12)
    assert np.allclose(entropy, _entropy(mean_probs), rtol=1e-12)
    # Averaging logits instead of probabilities lands far from the expectation on these nets.
    assert np.abs(expected - _softmax(_scores_with(model, X, [np.ones(h) * (1 - p) for h in hidden], p))).max() > 0.05


def test_one_pass_is_one_mask_and_no_dropout_is_the_deterministic_net():
    p = 0.5
    model = _net([3], p, batchnorm=True)
    one, _ = mc_dropout_predict(model, X, 1, seed=2)
    configurations = [_softmax(_scores_with(model, X, [np.array(bits)], p))
                      for bits in itertools.product((0, 1), repeat=3)]
    for n in range(len(X)):
        assert any(np.allclose(one[n], probs[n], rtol=1e-10) for probs in configurations), n
    plain = _net([3], 0.0, batchnorm=True)
    mean_probs, entropy = mc_dropout_predict(plain, X, 3)
    assert np.allclose(mean_probs, _softmax(plain.loss(X)), rtol=1e-10)
    assert np.allclose(entropy, _entropy(mean_probs))


@pytest.mark.parametrize("mode", ["train", "test"])
def test_model_left_as_it_was(mode):
    model = _net([3], 0.5, batchnorm=True, seed=4)
    model.dropout_param["mode"] = mode
    for bn_param in model.bn_params:
        bn_param["mode"] = mode
    before = {name: value.copy() for name, value in model.params.items()}
    stats = [{k: np.copy(v) for k, v in bn.items()} for bn in model.bn_params]
    dropout_param = dict(model.dropout_param)
    mc_dropout_predict(model, X, 5)
    assert model.dropout_param == dropout_param
    assert all(np.array_equal(model.params[name], value) for name, value in before.items())
    for bn, saved in zip(model.bn_params, stats):
        assert bn.keys() == saved.keys() and all(np.array_equal(bn[k], saved[k]) for k in saved)


def test_passes_are_stochastic_and_the_seed_reproduces_them():
    model = _net([4], 0.5, seed=3)  # a model seed must not freeze the passes' masks
    a = mc_dropout_predict(model, X, 1, seed=5)[0]
    assert np.array_equal(a, mc_dropout_predict(model, X, 1, seed=5)[0])
    assert not np.array_equal(a, mc_dropout_predict(model, X, 1, seed=6)[0])
    assert not np.array_equal(mc_dropout_predict(model, X, 1)[0], mc_dropout_predict(model, X, 1)[0])
    two, _ = mc_dropout_predict(model, X, 2, seed=5)
    assert not np.allclose(two, a)  # the second pass drew another mask


def test_zero_probabilities_give_a_finite_entropy_and_bad_counts_are_named():
    model = _net([3], 0.5)
    model.params["b2"] = np.array([0.0, 0.0, -1000.0])  # the last class's probability underflows to 0
    mean_probs, entropy = mc_dropout_predict(model, X, 20, seed=0)
    assert (mean_probs == 0).any() and np.isfinite(entropy).all()
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="num_samples"):
            mc_dropout_predict(model, X, bad)
