"""Layers of a fully connected network, as forward/backward pairs.

Every ``*_forward`` returns ``(out, cache)``; the matching ``*_backward`` takes the
upstream gradient and that cache and returns the gradients of the forward's inputs.
The cache is opaque to callers.

Dropout convention: ``p`` is the probability of *dropping* a unit (as in PyTorch,
Keras and d2l.ai). Older CS231n handouts use the keep probability instead.
"""

import numpy as np

DROPOUT_MODES = ("train", "test")


def affine_forward(x, w, b):
    """Affine layer: ``out = x.reshape(N, D) @ w + b``.

    Inputs:
    - x: array of shape (N, d_1, ..., d_k); each example is flattened to D = d_1 * ... * d_k
    - w: weights, shape (D, M)
    - b: biases, shape (M,)

    Returns (out, cache): out of shape (N, M); cache = (x, w, b).
    """
    out = x.reshape(x.shape[0], -1) @ w + b
    return out, (x, w, b)


def affine_backward(dout, cache):
    """Backward pass of an affine layer.

    Inputs:
    - dout: upstream gradient, shape (N, M)
    - cache: (x, w, b) from affine_forward

    Returns (dx, dw, db) of shapes x.shape, (D, M) and (M,).
    """
    x, w, b = cache
    dx = (dout @ w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T @ dout
    db = dout.sum(axis=0)
    return dx, dw, db


def relu_forward(x):
    """Rectified linear unit: ``out = max(0, x)``, elementwise.

    Returns (out, cache): out of x's shape; cache = x.
    """
    return np.maximum(0, x), x


def relu_backward(dout, cache):
    """Backward pass of a ReLU: the gradient flows where the input was positive.

    Returns dx of dout's shape.
    """
    x = cache
    return dout * (x > 0)


def affine_relu_forward(x, w, b):
    """An affine layer followed by a ReLU.

    Returns (out, cache): out of shape (N, M).
    """
    a, affine_cache = affine_forward(x, w, b)
    out, relu_cache = relu_forward(a)
    return out, (affine_cache, relu_cache)


def affine_relu_backward(dout, cache):
    """Backward pass of affine_relu_forward. Returns (dx, dw, db)."""
    affine_cache, relu_cache = cache
    da = relu_backward(dout, relu_cache)
    return affine_backward(da, affine_cache)


def batchnorm_forward(x, gamma, beta, bn_param):
    """Batch normalization over the batch axis (Ioffe and Szegedy, 2015).

    Inputs:
    - x: data of shape (N, D)
    - gamma, beta: scale and shift, shape (D,)
    - bn_param: dict with
      - mode: "train" or "test"
      - eps: constant for numeric stability (default 1e-5)
      - momentum: decay of the running averages (default 0.9)
      - running_mean, running_var: shape (D,), created on first use and updated in place
        in train mode; test mode normalizes with them.

    Returns (out, cache): out of shape (N, D).
    """
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    D = x.shape[1]
    running_mean = bn_param.get("running_mean", np.zeros(D, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.zeros(D, dtype=x.dtype))

    if mode == "train":
        mean = x.mean(axis=0)
        var = x.var(axis=0)
        inv_std = 1.0 / np.sqrt(var + eps)
        x_hat = (x - mean) * inv_std
        out = gamma * x_hat + beta
        cache = (x_hat, gamma, inv_std)
        running_mean = momentum * running_mean + (1 - momentum) * mean
        running_var = momentum * running_var + (1 - momentum) * var
    elif mode == "test":
        x_hat = (x - running_mean) / np.sqrt(running_var + eps)
        out = gamma * x_hat + beta
        cache = None
    else:
        raise ValueError(f'bn_param["mode"] must be "train" or "test", got {mode!r}')

    bn_param["running_mean"] = running_mean
    bn_param["running_var"] = running_var
    return out, cache


def batchnorm_backward(dout, cache):
    """Backward pass of batch normalization in train mode.

    Inputs: dout of shape (N, D); cache from batchnorm_forward in train mode.
    Returns (dx, dgamma, dbeta) of shapes (N, D), (D,), (D,).
    """
    x_hat, gamma, inv_std = cache
    N = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    dx_hat = dout * gamma
    dx = inv_std / N * (N * dx_hat - dx_hat.sum(axis=0) - x_hat * (dx_hat * x_hat).sum(axis=0))
    return dx, dgamma, dbeta


def affine_bn_relu_forward(x, w, b, gamma, beta, bn_param):
    """Affine layer, then batch normalization, then a ReLU.

    Returns (out, cache): out of shape (N, M).
    """
    a, affine_cache = affine_forward(x, w, b)
    n, bn_cache = batchnorm_forward(a, gamma, beta, bn_param)
    out, relu_cache = relu_forward(n)
    return out, (affine_cache, bn_cache, relu_cache)


def affine_bn_relu_backward(dout, cache):
    """Backward pass of affine_bn_relu_forward. Returns (dx, dw, db, dgamma, dbeta)."""
    affine_cache, bn_cache, relu_cache = cache
    dn = relu_backward(dout, relu_cache)
    da, dgamma, dbeta = batchnorm_backward(dn, bn_cache)
    dx, dw, db = affine_backward(da, affine_cache)
    return dx, dw, db, dgamma, dbeta


def softmax_loss(x, y):
    """Mean softmax cross-entropy loss and its gradient.

    Inputs:
    - x: class scores, shape (N, C)
    - y: labels, shape (N,), with 0 <= y[i] < C

    Returns (loss, dx): a scalar and the gradient of shape (N, C).
    """
    shifted = x - x.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    N = x.shape[0]
    loss = -log_probs[np.arange(N), y].mean()
    dx = np.exp(log_probs)
    dx[np.arange(N), y] -= 1
    dx /= N
    return loss, dx


def check_dropout_param(dropout_param):
    """Raise ValueError naming the key and value if dropout_param is malformed."""
    if not isinstance(dropout_param, dict):
        raise ValueError(f"dropout_param must be a dict, got {type(dropout_param).__name__}")
    for key in ("p", "mode"):
        if key not in dropout_param:
            raise ValueError(f"dropout_param is missing the key {key!r} (it has {sorted(dropout_param)})")
    p = dropout_param["p"]
    if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)) or not 0 <= p < 1:
        raise ValueError(f"dropout_param['p'] is the probability of dropping a unit and must "
                         f"satisfy 0 <= p < 1, got {p!r}")
    mode = dropout_param["mode"]
    if mode not in DROPOUT_MODES:
        raise ValueError(f"dropout_param['mode'] must be 'train' or 'test', got {mode!r}")


def dropout_forward(x, dropout_param):
    """Inverted dropout.

    Inputs:
    - x: input of any shape
    - dropout_param: dict with
      - p: probability of dropping each unit, 0 <= p < 1
      - mode: "train" drops units and scales the survivors by 1 / (1 - p);
        "test" returns x unchanged
      - seed (optional): seeds the random number generator so the mask is reproducible,
        as gradient checks need

    Returns (out, cache): out has x's shape and dtype; cache = (dropout_param, mask), where
    mask is None in test mode. x itself is never modified.
    """
    check_dropout_param(dropout_param)
    p, mode = dropout_param["p"], dropout_param["mode"]
    if "seed" in dropout_param:
        np.random.seed(dropout_param["seed"])

    mask = None
    if mode == "train":
        # Task: draw a mask that keeps each unit with probability 1 - p, set out to x with
        # the dropped units zeroed and the kept ones scaled by 1 / (1 - p), keep the mask.
        ### BEGIN SOLUTION
        mask = (np.random.rand(*x.shape) < 1 - p) / (1 - p)
        out = x * mask
        ### END SOLUTION
    else:
        out = x.copy()

    out = out.astype(x.dtype, copy=False)
    return out, (dropout_param, mask)


def dropout_backward(dout, cache):
    """Backward pass of inverted dropout.

    Inputs:
    - dout: upstream gradient, shape of the forward's x
    - cache: (dropout_param, mask) from dropout_forward

    Returns dx of dout's shape, in dout's dtype (float64 is accepted too).
    """
    dropout_param, mask = cache
    if dropout_param["mode"] == "train":
        # Task: set dx to the gradient of the train-mode forward, reusing its mask.
        ### BEGIN SOLUTION
        dx = dout * mask
        ### END SOLUTION
    else:
        dx = dout
    return dx.astype(dout.dtype, copy=False)


def spatial_dropout_forward(x, dropout_param):
    """Spatial dropout (Tompson et al., 2015): inverted dropout of whole feature maps.

    Inputs:
    - x: input of shape (N, C, H, W): N examples, C feature maps of H x W each
    - dropout_param: as for dropout_forward; p is the probability of dropping a feature map

    Returns (out, cache): out of shape (N, C, H, W) in x's dtype. In train mode each map
    x[n, c] is either zeroed whole (probability p) or scaled whole by 1 / (1 - p), on its own
    draw; in test mode out is x unchanged. cache = (dropout_param, mask), mask of shape
    (N, C, 1, 1) (None in test mode). x itself is never modified.
    """
    check_dropout_param(dropout_param)
    if np.ndim(x) != 4:
        raise ValueError(f"spatial_dropout_forward needs an input of shape (N, C, H, W), got shape {np.shape(x)}")
    p, mode = dropout_param["p"], dropout_param["mode"]
    if "seed" in dropout_param:
        np.random.seed(dropout_param["seed"])

    mask = None
    if mode == "train":
        # Task: draw one decision per feature map x[n, c] that keeps it with probability 1 - p,
        # set out to x with the dropped maps zeroed and the kept ones scaled by 1 / (1 - p),
        # keep the mask.
        ### BEGIN SOLUTION
        mask = (np.random.rand(*x.shape[:2], 1, 1) < 1 - p) / (1 - p)
        out = x * mask
        ### END SOLUTION
    else:
        out = x.copy()

    out = out.astype(x.dtype, copy=False)
    return out, (dropout_param, mask)


def spatial_dropout_backward(dout, cache):
    """Backward pass of spatial dropout.

    Inputs:
    - dout: upstream gradient, shape (N, C, H, W)
    - cache: (dropout_param, mask) from spatial_dropout_forward

    Returns dx of shape (N, C, H, W), in dout's dtype.
    """
    dropout_param, mask = cache
    if dropout_param["mode"] == "train":
        # Task: set dx to the gradient of the train-mode forward, reusing its mask.
        ### BEGIN SOLUTION
        dx = dout * mask
        ### END SOLUTION
    else:
        dx = dout
    return dx.astype(dout.dtype, copy=False)
