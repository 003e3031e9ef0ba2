"""Reference implementations: the oracle the hidden tests grade against.

Conventions (PyTorch semantics): 2-D input ``x: (N, D)``, sequences ``x: (N, C, L)``,
spatial input ``x: (N, C, H, W)``; batch statistics per feature / per channel; biased
variance (divide by m) for normalising; ``eps = 1e-5`` inside the square root.
"""
import numpy as np


# --- Lesson 1: axis reductions -------------------------------------------------

def reduced_shape(shape, axis=None, keepdims=False):
    """Shape of ``np.mean(x, axis=axis, keepdims=keepdims)`` for ``x`` of ``shape``.

    axis: None (all axes), an int or a tuple of ints; negative axes count from the end.
    """
    ndim = len(shape)
    if axis is None:
        axes = set(range(ndim))
    else:
        axes = {a % ndim for a in ((axis,) if np.ndim(axis) == 0 else axis)}
    if keepdims:
        return tuple(1 if i in axes else n for i, n in enumerate(shape))
    return tuple(n for i, n in enumerate(shape) if i not in axes)


def channel_mean_loop(x, c):
    """Mean of channel ``c`` of ``x: (N, C, H, W)``, as a Python float."""
    return float(np.mean(x[:, c], dtype=np.float64))


def standardize_columns(x):
    """Each column of ``x: (N, D)`` shifted to mean 0 and scaled to (biased) std 1."""
    return (x - x.mean(axis=0)) / x.std(axis=0)


def channel_stats(x):
    """Per-channel mean and biased variance of ``x: (N, C, H, W)``, each ``(1, C, 1, 1)``."""
    return x.mean(axis=(0, 2, 3), keepdims=True), x.var(axis=(0, 2, 3), keepdims=True)


# --- Lesson 2: forward pass ---------------------------------------------------

def batchnorm_forward(x, gamma, beta, eps=1e-5):
    """Training-mode batch norm of ``x: (N, D)`` with batch statistics.

    gamma, beta: (D,). Biased variance, eps inside the square root.
    Returns ``out: (N, D)`` and ``cache = (xhat, gamma, inv_std)`` for the backward pass.
    """
    mean = x.mean(axis=0)
    var = x.var(axis=0)
    inv_std = 1.0 / np.sqrt(var + eps)
    xhat = (x - mean) * inv_std
    return gamma * xhat + beta, (xhat, gamma, inv_std)


def _to_rows(x):
    """(N, C, *S) -> (N*prod(S), C): one row per position, channels last ((N, C) stays as it is)."""
    return np.moveaxis(x, 1, -1).reshape(-1, x.shape[1])


def _from_rows(rows, shape):
    """Inverse of ``_to_rows`` for an input of ``shape``."""
    return np.moveaxis(rows.reshape((shape[0],) + tuple(shape[2:]) + (shape[1],)), -1, 1)


def spatial_batchnorm_forward(x, gamma, beta, eps=1e-5):
    """Training-mode batch norm of ``x: (N, C, H, W)``: statistics over (0, 2, 3), m = N*H*W.

    gamma, beta: (C,). Returns ``out: (N, C, H, W)`` and a cache.
    """
    out, cache = batchnorm_forward(_to_rows(x), gamma, beta, eps)
    return _from_rows(out, x.shape), (cache, x.shape)


# --- Lesson 3: backward pass --------------------------------------------------

def batchnorm_backward(dout, cache):
    """Gradients of training-mode batch norm. dout: (N, D) -> dx (N, D), dgamma (D,), dbeta (D,)."""
    xhat, gamma, inv_std = cache
    m = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhat).sum(axis=0)
    dx = (gamma * inv_std / m) * (m * dout - dbeta - xhat * dgamma)
    return dx, dgamma, dbeta


def spatial_batchnorm_backward(dout, cache):
    """Gradients for ``spatial_batchnorm_forward``: dx (N, C, H, W), dgamma (C,), dbeta (C,)."""
    cache2d, shape = cache
    dx, dgamma, dbeta = batchnorm_backward(_to_rows(dout), cache2d)
    return _from_rows(dx, shape), dgamma, dbeta


# --- Lesson 4: running statistics and modes -------------------------------------

def update_running_stats(running_mean, running_var, batch_mean, batch_var, m,
                         momentum=0.1, num_batches_tracked=1):
    """New running statistics after one training batch (PyTorch semantics).

    running_* and batch_*: (D,). batch_var is the biased batch variance of m values per
    feature; the running variance is updated with the unbiased ``batch_var * m / (m - 1)``.
    PyTorch momentum direction: ``new = (1 - momentum) * running + momentum * batch``;
    ``momentum=None`` is a cumulative average with factor ``1 / num_batches_tracked``
    (the count including this batch). Returns new arrays; the inputs are not modified.
    """
    factor = 1.0 / num_batches_tracked if momentum is None else momentum
    unbiased = batch_var * m / (m - 1)
    return ((1 - factor) * running_mean + factor * batch_mean,
            (1 - factor) * running_var + factor * unbiased)


def _per_channel(v, ndim):
    """(C,) -> shape that broadcasts along axis 1 of an ndim-dimensional input."""
    return v.reshape((1, -1) + (1,) * (ndim - 2))


def batchnorm_eval(x, gamma, beta, running_mean, running_var, eps=1e-5):
    """Eval-mode batch norm of ``x: (N, D)`` or ``(N, C, H, W)`` with the running statistics.

    gamma, beta, running_mean, running_var: (D,) / (C,). Works for a batch of one.
    """
    shape = lambda v: _per_channel(np.asarray(v), x.ndim)  # noqa: E731
    scale = shape(gamma) / np.sqrt(shape(running_var) + eps)
    return (x - shape(running_mean)) * scale + shape(beta)


def keras_to_torch_momentum(momentum_keras):
    """Keras / CS231n ``running = m * running + (1 - m) * batch`` -> PyTorch momentum ``1 - m``."""
    return 1.0 - momentum_keras


def _verify_batch_size(shape, m):
    """Refuse batch statistics of ``m == 1`` value per channel for an input of ``shape``, as PyTorch's
    ``F.batch_norm`` does in training mode: the mean would be the value itself and the variance 0 (and the
    unbiased ``m / (m - 1)`` a division by zero)."""
    if m == 1:
        raise ValueError(f"Expected more than 1 value per channel when training, got input size {tuple(shape)}")


class BatchNorm:
    """Batch-norm layer for ``(N, C)``, ``(N, C, L)`` or ``(N, C, H, W)`` input, as ``nn.BatchNorm1d/2d``.

    The math is in the pure functions above; this class keeps state: gamma, beta (learned,
    ``(C,)``; ``None`` when ``affine=False``), running_mean, running_var (buffers, ``(C,)``,
    updated by a running average in training mode) and num_batches_tracked (all three ``None``
    when ``track_running_stats=False``: then eval mode normalises with batch statistics too),
    and the ``training`` flag. Statistics over every axis but 1. Batch statistics of one value per
    channel (``N``, ``N*L`` or ``N*H*W`` equal to 1) raise ``ValueError``, as PyTorch does; eval mode
    with running statistics takes a batch of one.
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True):
        self.eps, self.momentum = eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self.gamma = np.ones(num_features) if affine else None
        self.beta = np.zeros(num_features) if affine else None
        self.running_mean = np.zeros(num_features) if track_running_stats else None
        self.running_var = np.ones(num_features) if track_running_stats else None
        self.num_batches_tracked = 0 if track_running_stats else None
        self.training = True
        self._c = num_features

    def reset_running_stats(self):
        """Buffers back to their initial values (running_mean 0, running_var 1, no batch seen)."""
        if self.track_running_stats:
            self.running_mean, self.running_var = np.zeros(self._c), np.ones(self._c)
            self.num_batches_tracked = 0

    def train(self):
        self.training = True
        return self

    def eval(self):
        self.training = False
        return self

    def _affine(self):
        return (self.gamma, self.beta) if self.affine else (np.ones(self._c), np.zeros(self._c))

    def forward(self, x):
        gamma, beta = self._affine()
        if not self.training and self.track_running_stats:
            self.cache = None
            return batchnorm_eval(x, gamma, beta, self.running_mean, self.running_var, self.eps)
        rows = _to_rows(x)
        _verify_batch_size(x.shape, rows.shape[0])
        out, self.cache = batchnorm_forward(rows, gamma, beta, self.eps)
        if self.training and self.track_running_stats:
            self.num_batches_tracked += 1
            self.running_mean, self.running_var = update_running_stats(
                self.running_mean, self.running_var, rows.mean(axis=0), rows.var(axis=0), rows.shape[0],
                self.momentum, self.num_batches_tracked)
        return _from_rows(out, x.shape)

    def backward(self, dout):
        """dout shaped like the last batch-statistics input -> dx; sets self.dgamma, self.dbeta (None without affine)."""
        dx, self.dgamma, self.dbeta = batchnorm_backward(_to_rows(dout), self.cache)
        if not self.affine:
            self.dgamma = self.dbeta = None
        return _from_rows(dx, dout.shape)


def fold_into_linear(W, b, gamma, beta, running_mean, running_var, eps=1e-5):
    """Fold eval-mode batch norm into the preceding affine layer ``y = x @ W + b``.

    W: (D_in, D), b: (D,); BN parameters and running statistics: (D,).
    Returns ``(W_folded, b_folded)`` with ``x @ W_folded + b_folded == batchnorm_eval(x @ W + b, ...)``
    (paper, Algorithm 2).
    """
    scale = gamma / np.sqrt(running_var + eps)
    return W * scale, (b - running_mean) * scale + beta


# --- Lesson 5: batch norm inside a network --------------------------------------------

def layernorm_forward(x, gamma, beta, eps=1e-5):
    """Layer norm of ``x: (N, D)``: statistics per sample over axis 1. gamma, beta: (D,)."""
    mean = x.mean(axis=1, keepdims=True)
    var = x.var(axis=1, keepdims=True)
    return gamma * (x - mean) / np.sqrt(var + eps) + beta


def network_forward(net, x):
    """Scores of the MLP ``net`` (see bn_helpers.init_network) for x: (N, D_in) -> (scores, caches)."""
    from .checks import helpers as h
    caches = []
    for i in range(len(net["W"]) - 1):
        x, affine = h.affine_forward(x, net["W"][i], net["b"][i])
        if net["bn"]:
            x = net["bn"][i].forward(x)
        x, relu = h.relu_forward(x)
        caches.append((affine, relu))
    scores, affine = h.affine_forward(x, net["W"][-1], net["b"][-1])
    caches.append(affine)
    return scores, caches


def network_backward(net, dscores, caches):
    """Gradients of the MLP: {"W": [...], "b": [...], "gamma": [...], "beta": [...]}, one entry per layer."""
    from .checks import helpers as h
    layers = len(net["W"])
    grads = {"W": [None] * layers, "b": [None] * layers,
             "gamma": [None] * len(net["bn"]), "beta": [None] * len(net["bn"])}
    d, grads["W"][-1], grads["b"][-1] = h.affine_backward(dscores, caches[-1])
    for i in reversed(range(layers - 1)):
        affine, relu = caches[i]
        d = h.relu_backward(d, relu)
        if net["bn"]:
            d = net["bn"][i].backward(d)
            grads["gamma"][i], grads["beta"][i] = net["bn"][i].dgamma, net["bn"][i].dbeta
        d, grads["W"][i], grads["b"][i] = h.affine_backward(d, affine)
    return grads


# --- Lesson 6: the normalisation family ------------------------------------------------

def _normalize_rows(rows, eps):
    """Each row of ``rows: (R, K)`` to mean 0 and biased variance 1 -> (xhat, inv_std (R, 1))."""
    mean = rows.mean(axis=1, keepdims=True)
    inv_std = 1.0 / np.sqrt(rows.var(axis=1, keepdims=True) + eps)
    return (rows - mean) * inv_std, inv_std


def _normalize_rows_backward(dxhat, xhat, inv_std):
    """Gradient through ``_normalize_rows``: the compact batch-norm formula over axis 1, with K values per row."""
    k = xhat.shape[1]
    return inv_std / k * (k * dxhat - dxhat.sum(axis=1, keepdims=True)
                          - xhat * (dxhat * xhat).sum(axis=1, keepdims=True))


def layernorm_backward(dout, x, gamma, eps=1e-5):
    """Gradients of ``layernorm_forward`` at ``x: (N, D)``: dx (N, D), dgamma (D,), dbeta (D,).

    Recomputes the statistics from x (the students' version reads them from its cache).
    gamma varies along the normalised axis, so it enters through dxhat = dout * gamma.
    """
    xhat, inv_std = _normalize_rows(x, eps)
    return _normalize_rows_backward(dout * gamma, xhat, inv_std), (dout * xhat).sum(axis=0), dout.sum(axis=0)


def _group_rows(x, G):
    """(N, C, H, W) -> (N*G, C//G*H*W): one row per (sample, group of C//G consecutive channels)."""
    n, c = x.shape[:2]
    if c % G:
        raise ValueError(f"{c} channels do not split into {G} groups")
    return x.reshape(n * G, -1)


def groupnorm_forward(x, gamma, beta, G, eps=1e-5):
    """Group norm (Wu and He, 2018) of ``x: (N, C, H, W)``: statistics per sample over each group of C // G
    consecutive channels and all H*W positions. gamma, beta: (C,), per channel. ``G = C`` is instance norm,
    ``G = 1`` layer norm over (C, H, W). Biased variance. Returns ``out: (N, C, H, W)``.
    """
    xhat, _ = _normalize_rows(_group_rows(x, G), eps)
    per_channel = _per_channel(gamma, x.ndim)
    return per_channel * xhat.reshape(x.shape) + _per_channel(beta, x.ndim)


def groupnorm_backward(dout, x, gamma, G, eps=1e-5):
    """Gradients of ``groupnorm_forward`` at x: dx (N, C, H, W), dgamma (C,), dbeta (C,)."""
    xhat, inv_std = _normalize_rows(_group_rows(x, G), eps)
    dxhat = dout * _per_channel(gamma, x.ndim)
    dx = _normalize_rows_backward(_group_rows(dxhat, G), xhat, inv_std).reshape(x.shape)
    axes = (0,) + tuple(range(2, x.ndim))
    return dx, (dout * xhat.reshape(x.shape)).sum(axis=axes), dout.sum(axis=axes)
