"""Hidden checks for lesson 3: staged and compact backward passes, (N, D) and (N, C, H, W).

The student's backward is always fed the cache of the student's own forward
(whatever its layout) and compared with the reference gradients.
"""
import numpy as np

from .. import reference as ref
from . import helpers as h
from . import register, rng
from .forward import EPS, affine_hints, features, images, normalize_hints, unpack_forward
from .questions import choice


def _readonly_cache(cache):
    """The cache with every array in it made read-only (tuples, lists and dicts are walked)."""
    if isinstance(cache, np.ndarray):
        return h.readonly(cache)
    if isinstance(cache, (tuple, list)):
        return type(cache)(_readonly_cache(v) for v in cache)
    if isinstance(cache, dict):
        return {k: _readonly_cache(v) for k, v in cache.items()}
    return cache


def unpack_backward(result, name):
    if not (isinstance(result, tuple) and len(result) == 3):
        raise AssertionError(f"{name} must return a tuple (dx, dgamma, dbeta); got {type(result).__name__}")
    return result


def dx_hints(x, gamma, dout, eps=EPS):
    """Wrong dx of (N, D) batch norm, each with the mistake it shows."""
    m = x.shape[0]
    mu, var = x.mean(axis=0), x.var(axis=0)
    xc = x - mu
    inv_std = 1 / np.sqrt(var + eps)
    xhat = xc * inv_std
    dxhat = dout * gamma
    dvar = np.sum(dxhat * xc, axis=0) * -0.5 * inv_std ** 3
    direct = dxhat * inv_std
    via_var = 2 * xc / m * dvar
    right = ref.batchnorm_backward(dout, (xhat, gamma, inv_std))[0]
    var_u = var * m / (m - 1)
    inv_u = 1 / np.sqrt(var_u + eps)
    xhat_u = xc * inv_u
    stray = (gamma * inv_u / m) * (m * dout - dout.sum(axis=0) - xhat_u * (dout * xhat_u).sum(axis=0))
    return [
        ("the branch through the variance is missing: x - mean feeds both xhat and var, "
         "and the gradients of the two branches must be added", direct - direct.mean(axis=0)),
        ("the branch through the mean is missing: every x_i also changes the mean, "
         "which subtracts the average of the other gradients", direct + via_var),
        ("only the direct branch dxhat / std is there: add the branches through the mean and the variance", direct),
        ("a stray N/(N-1) factor: the backward uses the unbiased variance while the forward used the biased one",
         right * m / (m - 1)),
        ("the backward uses the unbiased variance (N-1) while the forward used the biased one (N)", stray),
        ("dx is missing the factor gamma", right / gamma),
    ]


def param_hints(dout, xhat, x):
    return [
        ("dgamma/dbeta have shape (1, D): sum over axis 0 without keepdims",
         (dout * xhat).sum(axis=0, keepdims=True)),
        ("dgamma/dbeta have shape (1, D): sum over axis 0 without keepdims", dout.sum(axis=0, keepdims=True)),
        ("dgamma/dbeta were not summed over the batch: they have one entry per parameter, shape (D,)",
         dout * xhat),
        ("dgamma/dbeta were not summed over the batch: they have one entry per parameter, shape (D,)", dout),
        ("dgamma used x instead of the normalised xhat", (dout * x).sum(axis=0)),
        ("dgamma and dbeta are swapped", dout.sum(axis=0)),
        ("dgamma and dbeta are swapped", (dout * xhat).sum(axis=0)),
    ]


def _cases(seed):
    r = rng(seed)
    for n, d in [(6, 4), (3, 7), (2, 3)]:
        x = features(r, n, d)
        gamma, beta = r.uniform(0.5, 2.5, size=d), r.uniform(-3, 3, size=d)
        yield x, gamma, beta, r.standard_normal((n, d))


def _grads(forward, backward, x, gamma, beta, dout, name):
    _, cache = unpack_forward(h.call(forward, x.copy(), gamma.copy(), beta.copy()), "batchnorm_forward")
    return unpack_backward(h.call(backward, dout.copy(), cache), name)


def _check_dx(forward, backward, seed, name):
    for x, gamma, beta, dout in _cases(seed):
        dx, _, _ = _grads(forward, backward, x, gamma, beta, dout, name)
        want, _, _ = ref.batchnorm_backward(dout, ref.batchnorm_forward(x, gamma, beta)[1])
        h.check_array(f"dx from {name} for x of shape {x.shape}", dx, want, tol=1e-6,
                      hints=dx_hints(x, gamma, dout))


def _check_params(forward, backward, seed, name):
    for x, gamma, beta, dout in _cases(seed):
        _, dgamma, dbeta = _grads(forward, backward, x, gamma, beta, dout, name)
        out, cache = ref.batchnorm_forward(x, gamma, beta)
        _, want_dgamma, want_dbeta = ref.batchnorm_backward(dout, cache)
        hints = param_hints(dout, cache[0], x)
        h.check_array(f"dgamma from {name} for x of shape {x.shape}", dgamma, want_dgamma, tol=1e-6, hints=hints)
        h.check_array(f"dbeta from {name} for x of shape {x.shape}", dbeta, want_dbeta, tol=1e-6, hints=hints)


@register("staged_fwd_values")
def staged_fwd_values(forward):
    for x, gamma, beta, _ in _cases(301):
        out, _ = unpack_forward(h.call(forward, x.copy(), gamma.copy(), beta.copy()), "batchnorm_forward")
        want, (xhat, _, _) = ref.batchnorm_forward(x, gamma, beta)
        hints = [(m, gamma * v + beta) for m, v in normalize_hints(x)] + affine_hints(xhat, gamma, beta)
        h.check_array(f"out for x of shape {x.shape}", out, want, hints=hints)


@register("staged_bwd_dx")
def staged_bwd_dx(forward, backward):
    _check_dx(forward, backward, 302, "batchnorm_backward_staged")


@register("staged_bwd_params")
def staged_bwd_params(forward, backward):
    _check_params(forward, backward, 303, "batchnorm_backward_staged")


@register("bwd_dx")
def bwd_dx(forward, backward):
    _check_dx(forward, backward, 304, "batchnorm_backward")


@register("bwd_params")
def bwd_params(forward, backward):
    _check_params(forward, backward, 305, "batchnorm_backward")


@register("bwd_no_mutation")
def bwd_no_mutation(forward, backward):
    x, gamma, beta, dout = next(_cases(306))
    _, cache = unpack_forward(h.call(forward, x, gamma, beta), "batchnorm_forward")
    unpack_backward(h.call(backward, h.readonly(dout), _readonly_cache(cache)), "batchnorm_backward")


# --- spatial -------------------------------------------------------------------

def _spatial_cases(seed):
    r = rng(seed)
    for shape in [(3, 5, 2, 7), (2, 4, 3, 5), (4, 2, 1, 3)]:
        c = shape[1]
        yield (images(r, shape), r.uniform(0.5, 2.5, size=c), r.uniform(-3, 3, size=c),
               r.standard_normal(shape))


def _spatial_grads(forward, backward, x, gamma, beta, dout):
    _, cache = unpack_forward(h.call(forward, x.copy(), gamma.copy(), beta.copy()), "spatial_batchnorm_forward")
    with h.naming_broadcast_errors(x.shape):
        return unpack_backward(h.call(backward, dout.copy(), cache), "spatial_batchnorm_backward")


@register("spatial_bwd_dx")
def spatial_bwd_dx(forward, backward):
    for x, gamma, beta, dout in _spatial_cases(311):
        dx, _, _ = _spatial_grads(forward, backward, x, gamma, beta, dout)
        want = ref.spatial_batchnorm_backward(dout, ref.spatial_batchnorm_forward(x, gamma, beta)[1])[0]
        c = x.shape[1]
        (xhat, g, inv_std), _ = ref.spatial_batchnorm_forward(x, gamma, beta)[1]
        mixed = ref.batchnorm_backward(dout.reshape(-1, c), (xhat, g, inv_std))[0]
        hints = [
            ("dout was reshaped to (-1, C) without first moving C to the last axis "
             "(the forward moved it: transpose(0, 2, 3, 1))", mixed.reshape(x.shape)),
            ("dx was reshaped back to (N, C, H, W) without undoing the transpose",
             ref.batchnorm_backward(ref._to_rows(dout), (xhat, g, inv_std))[0].reshape(x.shape)),
        ]
        h.check_array(f"dx for x of shape {x.shape}", dx, want, tol=1e-6, hints=hints)


@register("spatial_bwd_params")
def spatial_bwd_params(forward, backward):
    for x, gamma, beta, dout in _spatial_cases(312):
        _, dgamma, dbeta = _spatial_grads(forward, backward, x, gamma, beta, dout)
        _, cache = ref.spatial_batchnorm_forward(x, gamma, beta)
        _, want_dgamma, want_dbeta = ref.spatial_batchnorm_backward(dout, cache)
        xhat = ref._from_rows(cache[0][0], x.shape)
        hints = [
            ("summed over axis 0 only: sum over all of (0, 2, 3)", (dout * xhat).sum(axis=0)),
            ("summed over axis 0 only: sum over all of (0, 2, 3)", dout.sum(axis=0)),
            ("shape (1, C, 1, 1): sum without keepdims, the gradients have the shape of gamma, (C,)",
             (dout * xhat).sum(axis=(0, 2, 3), keepdims=True)),
            ("shape (1, C, 1, 1): sum without keepdims, the gradients have the shape of gamma, (C,)",
             dout.sum(axis=(0, 2, 3), keepdims=True)),
        ]
        h.check_array(f"dgamma for x of shape {x.shape}", dgamma, want_dgamma, tol=1e-6, hints=hints)
        h.check_array(f"dbeta for x of shape {x.shape}", dbeta, want_dbeta, tol=1e-6, hints=hints)


@register("q_dx_sum")
def q_dx_sum(answer):
    r = rng(321)
    x, dout = 5 * r.standard_normal((6, 4)) + 12, r.standard_normal((6, 4))
    gamma, beta = r.uniform(0.5, 2, 4), r.standard_normal(4)
    dx, _, dbeta = ref.batchnorm_backward(dout, ref.batchnorm_forward(x, gamma, beta)[1])
    options = {"a": dbeta, "b": np.zeros(4), "c": gamma * dbeta / np.sqrt(x.var(axis=0) + EPS)}
    right = next((k for k, v in options.items() if np.allclose(dx.sum(axis=0), v, rtol=0, atol=1e-12)), "d")
    choice("Question 1 (what dx sums to over the batch)", answer, right, "abcd", {
        "a": "dbeta, the sum of dout, is the gradient of beta, a shift added after the normalisation. A shift of x "
             "comes before it: ask what adding one number to every row of a column of x does to its mean, and so "
             "to out.",
        "c": "That is what dx sums to when the mean and variance are constants, as the running statistics are in "
             "eval mode (dx = dout * gamma / sqrt(var + eps)). In training mode they are computed from x: the "
             "branches through the mean and the variance are part of dx too.",
        "d": "Each element of dx depends on dout and x, but their sum over the batch need not: ask what adding one "
             "number to every row of a column of x does to out.",
    })
