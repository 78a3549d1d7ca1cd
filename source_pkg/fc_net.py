"""A fully connected network with optional batch normalization and dropout."""

import numpy as np

from .layers import (
    affine_backward,
    affine_bn_relu_backward,
    affine_bn_relu_forward,
    affine_forward,
    affine_relu_backward,
    affine_relu_forward,
    dropout_backward,
    dropout_forward,
    softmax_loss,
)


class FullyConnectedNet:
    """A network of L layers: ``{affine - [batch norm] - relu - [dropout]} x (L - 1) - affine - softmax``.

    Learnable parameters live in ``self.params``: ``W1, b1, ..., WL, bL`` and, with batch
    normalization, ``gamma1, beta1, ..., gamma{L-1}, beta{L-1}``.
    """

    def __init__(self, hidden_dims, input_dim=3 * 32 * 32, num_classes=10, dropout=0.0,
                 use_batchnorm=False, reg=0.0, weight_scale=1e-2, dtype=np.float32, seed=None):
        """
        Inputs:
        - hidden_dims: list of the sizes of the hidden layers
        - input_dim: size D of one flattened input
        - num_classes: number C of classes
        - dropout: probability of dropping a hidden unit; 0 means no dropout
        - use_batchnorm: whether to put batch normalization after each hidden affine layer
        - reg: L2 strength; the loss gains 0.5 * reg * sum(W ** 2) for every weight matrix
        - weight_scale: standard deviation of the random initial weights
        - dtype: numpy dtype of all parameters and computations (float64 for gradient checks)
        - seed: if not None, passed to the dropout layers so their masks are reproducible
        """
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout is the probability of dropping a unit and must satisfy "
                             f"0 <= dropout < 1, got {dropout!r}")
        self.use_batchnorm = use_batchnorm
        self.use_dropout = dropout > 0
        self.reg = reg
        self.num_layers = 1 + len(hidden_dims)
        self.dtype = dtype
        self.params = {}

        # Same order of random draws as CS231n, so its published numbers reproduce.
        layer_dims = [input_dim, *hidden_dims, num_classes]
        for i in range(1, self.num_layers + 1):
            self.params[f"W{i}"] = np.random.randn(layer_dims[i - 1], layer_dims[i]) * weight_scale
            self.params[f"b{i}"] = np.zeros(layer_dims[i])
            if use_batchnorm and i < self.num_layers:
                self.params[f"gamma{i}"] = np.ones(layer_dims[i])
                self.params[f"beta{i}"] = np.zeros(layer_dims[i])

        # One dict shared by every dropout layer; loss() sets its mode.
        self.dropout_param = {}
        if self.use_dropout:
            self.dropout_param = {"mode": "train", "p": dropout}
            if seed is not None:
                self.dropout_param["seed"] = seed

        # Each batch norm layer keeps its own running statistics.
        self.bn_params = [{"mode": "train"} for _ in range(self.num_layers - 1)] if use_batchnorm else []

        for name, value in self.params.items():
            self.params[name] = value.astype(dtype)

    def loss(self, X, y=None):
        """Class scores, or the loss and its gradients.

        Inputs:
        - X: input data, shape (N, d_1, ..., d_k)
        - y: labels, shape (N,); None asks for test-mode scores

        Returns:
        - if y is None: scores of shape (N, C), computed in test mode (no dropout, batch norm
          with running statistics)
        - otherwise (loss, grads): the scalar loss, and grads[name] of the same shape as
          self.params[name] for every parameter
        """
        X = X.astype(self.dtype)
        mode = "test" if y is None else "train"
        for bn_param in self.bn_params:
            bn_param["mode"] = mode

        # Forward pass through the hidden layers; h is the last hidden activation and
        # caches[i - 1] holds what layer i needs for its backward pass.
        h = X
        caches = []
        # Task: set the dropout mode, then run every hidden layer (self._hidden_layer_forward)
        # followed by dropout when self.use_dropout, appending what the backward pass needs.
        ### BEGIN SOLUTION
        if self.use_dropout:
            self.dropout_param["mode"] = mode
        for i in range(1, self.num_layers):
            h, cache = self._hidden_layer_forward(h, i)
            dropout_cache = None
            if self.use_dropout:
                h, dropout_cache = dropout_forward(h, self.dropout_param)
            caches.append((cache, dropout_cache))
        ### END SOLUTION

        L = self.num_layers
        scores, last_cache = affine_forward(h, self.params[f"W{L}"], self.params[f"b{L}"])
        if mode == "test":
            return scores

        loss, dscores = softmax_loss(scores, y)
        weights = [self.params[f"W{i}"] for i in range(1, L + 1)]
        loss += 0.5 * self.reg * sum(np.sum(W * W) for W in weights)

        grads = {}
        dh, grads[f"W{L}"], grads[f"b{L}"] = affine_backward(dscores, last_cache)

        # Backward pass through the hidden layers, last to first.
        # Task: send dh back through each hidden layer's dropout (when used) and then
        # through the layer itself (self._hidden_layer_backward), which fills grads.
        ### BEGIN SOLUTION
        for i in range(L - 1, 0, -1):
            cache, dropout_cache = caches[i - 1]
            if self.use_dropout:
                dh = dropout_backward(dh, dropout_cache)
            dh = self._hidden_layer_backward(dh, cache, i, grads)
        ### END SOLUTION

        for i in range(1, L + 1):
            grads[f"W{i}"] += self.reg * self.params[f"W{i}"]
        return loss, grads

    def _hidden_layer_forward(self, x, i):
        """Hidden layer i without dropout: affine - [batch norm] - relu. Returns (out, cache)."""
        w, b = self.params[f"W{i}"], self.params[f"b{i}"]
        if self.use_batchnorm:
            return affine_bn_relu_forward(x, w, b, self.params[f"gamma{i}"], self.params[f"beta{i}"],
                                          self.bn_params[i - 1])
        return affine_relu_forward(x, w, b)

    def _hidden_layer_backward(self, dout, cache, i, grads):
        """Backward pass of hidden layer i: stores its parameter gradients in grads, returns dx."""
        if self.use_batchnorm:
            dx, grads[f"W{i}"], grads[f"b{i}"], grads[f"gamma{i}"], grads[f"beta{i}"] = (
                affine_bn_relu_backward(dout, cache))
        else:
            dx, grads[f"W{i}"], grads[f"b{i}"] = affine_relu_backward(dout, cache)
        return dx


def mc_dropout_predict(model, X, num_samples, seed=None):
    """Monte Carlo dropout prediction (Gal and Ghahramani, 2016).

    Runs ``num_samples`` stochastic forward passes of ``model`` (a FullyConnectedNet) on X, each
    with dropout active as in training (a new mask on every pass, whatever seed the model was
    built with) and batch normalization in test mode (running statistics), and averages the
    softmax probabilities of the passes.

    Inputs:
    - model: a FullyConnectedNet; its parameters and modes are left as they were
    - X: input data, shape (N, d_1, ..., d_k)
    - num_samples: the number T >= 1 of stochastic passes
    - seed: if not None, np.random.seed(seed) is called once, before the first pass

    Returns (mean_probs, entropy):
    - mean_probs: shape (N, C), the mean over the passes of the softmax probabilities
    - entropy: shape (N,), the predictive entropy -sum_c mean_probs[:, c] * log(mean_probs[:, c])
      in nats (a probability of 0 contributes 0)
    """
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) or num_samples < 1:
        raise ValueError(f"num_samples must be a whole number >= 1, got {num_samples!r}")
    X = np.asarray(X).astype(model.dtype)
    if seed is not None:
        np.random.seed(seed)

    bn_modes = [bn_param["mode"] for bn_param in model.bn_params]
    try:
        # Task: set every batch norm layer to test mode, run num_samples passes with dropout in
        # train mode (model._hidden_layer_forward, then dropout_forward when model.use_dropout,
        # then the last affine layer), average their softmax probabilities (_softmax) into
        # mean_probs and compute entropy. Leave model.dropout_param as it is.
        ### BEGIN SOLUTION
        for bn_param in model.bn_params:
            bn_param["mode"] = "test"
        pass_param = {"mode": "train", "p": model.dropout_param["p"]} if model.use_dropout else None
        mean_probs = 0.0
        for _ in range(num_samples):
            h = X
            for i in range(1, model.num_layers):
                h, _ = model._hidden_layer_forward(h, i)
                if pass_param is not None:
                    h, _ = dropout_forward(h, pass_param)
            last = model.num_layers
            scores, _ = affine_forward(h, model.params[f"W{last}"], model.params[f"b{last}"])
            mean_probs = mean_probs + _softmax(scores) / num_samples
        logs = np.log(np.where(mean_probs > 0, mean_probs, 1.0))
        entropy = -(mean_probs * logs).sum(axis=1)
        ### END SOLUTION
    finally:
        # Batch norm's modes as they were, even when a pass raised.
        for bn_param, mode in zip(model.bn_params, bn_modes):
            bn_param["mode"] = mode
    return mean_probs, entropy


def _softmax(scores):
    """Row-wise softmax of class scores of shape (N, C), computed stably."""
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)
