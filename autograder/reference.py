"""Reference implementations: the oracle the hidden tests grade against.

Conventions (PyTorch semantics): 2-D input ``x: (N, D)``, spatial input
``x: (N, C, H, W)``; statistics per feature / per channel; biased variance
(divide by m) for normalising; ``eps = 1e-5`` inside the square root.
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
