"""Hidden checks for lesson 6: layer norm with its backward pass, group norm forward and backward.

As in lesson 3, the student's backward is fed the cache of the student's own forward
(whatever its layout) and compared with the reference gradients.
"""
import numpy as np

from .. import reference as ref
from . import helpers as h
from . import register, rng
from .backward import unpack_backward
from .forward import EPS, features, images, unpack_forward
from .questions import choice


def _ln_cases(seed):
    r = rng(seed)
    for n, d in [(5, 7), (4, 4), (1, 6)]:
        x = features(r, n, d)
        x[:, -1] = r.standard_normal(n)  # layer norm mixes features: no tiny-variance column
        yield x, r.uniform(0.5, 2.5, d), r.uniform(-3, 3, d), r.standard_normal((n, d))


def _standardise(v, axes):
    return (v - v.mean(axis=axes, keepdims=True)) / np.sqrt(v.var(axis=axes, keepdims=True) + EPS)


@register("ln_forward")
def ln_forward(fn):
    for x, gamma, beta, _ in _ln_cases(601):
        out, _ = unpack_forward(h.call(fn, x.copy(), gamma.copy(), beta.copy()), "layernorm_forward")
        hints = [("normalised over axis 0: that is batch norm; layer norm uses axis 1 (per example)",
                  gamma * _standardise(x, 0) + beta),
                 ("used the unbiased variance (ddof=1)",
                  gamma * (x - x.mean(axis=1, keepdims=True)) / np.sqrt(x.var(axis=1, ddof=1, keepdims=True) + EPS)
                  + beta)]
        h.check_array(f"out for x of shape {x.shape}", out, ref.layernorm_forward(x, gamma, beta), hints=hints)


def ln_dx_hints(x, gamma, dout):
    xhat = _standardise(x, 1)
    inv_std = 1 / np.sqrt(x.var(axis=1, keepdims=True) + EPS)
    d = x.shape[1]
    factored = gamma * inv_std / d * (d * dout - dout.sum(axis=1, keepdims=True)
                                      - xhat * (dout * xhat).sum(axis=1, keepdims=True))
    hints = [("gamma was factored out in front, as in batch norm; in layer norm it varies along the averaged axis, "
              "so the sums must be of dxhat = dout * gamma", factored),
             ("dx is missing the factor gamma", ref.layernorm_backward(dout, x, np.ones_like(gamma))[0])]
    if x.shape[0] > 1:
        hints.append(("the sums are over axis 0 (batch norm's axis); layer norm's statistics are over axis 1",
                      ref.batchnorm_backward(dout, ref.batchnorm_forward(x, gamma, np.zeros_like(gamma))[1])[0]))
    return hints


@register("ln_backward")
def ln_backward(forward, backward):
    for x, gamma, beta, dout in _ln_cases(602):
        _, cache = unpack_forward(h.call(forward, x.copy(), gamma.copy(), beta.copy()), "layernorm_forward")
        dx, dgamma, dbeta = unpack_backward(h.call(backward, dout.copy(), cache), "layernorm_backward")
        want_dx, want_dgamma, want_dbeta = ref.layernorm_backward(dout, x, gamma)
        xhat = _standardise(x, 1)
        h.check_array(f"dx for x of shape {x.shape}", dx, want_dx, tol=1e-6, hints=ln_dx_hints(x, gamma, dout))
        param_hints = [("dgamma/dbeta were summed over axis 1: gamma and beta are per feature, so their gradients "
                        "sum over the batch (axis 0)", (dout * xhat).sum(axis=1)),
                       ("dgamma/dbeta were summed over axis 1: gamma and beta are per feature, so their gradients "
                        "sum over the batch (axis 0)", dout.sum(axis=1)),
                       ("dgamma used x instead of the normalised xhat", (dout * x).sum(axis=0))]
        h.check_array(f"dgamma for x of shape {x.shape}", dgamma, want_dgamma, tol=1e-6, hints=param_hints)
        h.check_array(f"dbeta for x of shape {x.shape}", dbeta, want_dbeta, tol=1e-6, hints=param_hints)


# --- group norm -------------------------------------------------------------------

GN_CASES = [((2, 6, 3, 4), 3), ((2, 6, 3, 4), 1), ((3, 4, 2, 3), 4), ((1, 8, 2, 2), 2), ((5, 8, 1, 1), 4)]


def _gn_cases(seed):
    r = rng(seed)
    for shape, G in GN_CASES:
        c = shape[1]
        yield images(r, shape), G, r.uniform(0.5, 2.5, c), r.uniform(-3, 3, c), r.standard_normal(shape)


def _affine(v, gamma, beta):
    return gamma.reshape(1, -1, 1, 1) * v + beta.reshape(1, -1, 1, 1)


def gn_forward_hints(x, G, gamma, beta):
    n, c, hgt, w = x.shape
    grouped = x.reshape(n, G, c // G, hgt, w)
    interleaved = x.reshape(n, c // G, G, hgt, w)
    hints = []
    if 1 < G < c:
        hints.append(("the groups are channels c, c + G, c + 2G, ...: a group is C // G consecutive channels",
                      _affine(_standardise(interleaved, (1, 3, 4)).reshape(x.shape), gamma, beta)))
    if n > 1:
        hints.append(("the statistics also average over the batch: group norm is per sample",
                      _affine(_standardise(grouped, (0, 2, 3, 4)).reshape(x.shape), gamma, beta)))
    if G < c:
        hints.append(("each channel was normalised on its own (instance norm): a group has C // G channels",
                      _affine(_standardise(x, (2, 3)), gamma, beta)))
    if G > 1:
        hints.append(("all channels of a sample share one statistic (layer norm): use G groups",
                      _affine(_standardise(x, (1, 2, 3)), gamma, beta)))
    k = x[0].size // G
    if k > 1:
        unbiased = (grouped - grouped.mean(axis=(2, 3, 4), keepdims=True)) / np.sqrt(
            grouped.var(axis=(2, 3, 4), ddof=1, keepdims=True) + EPS)
        hints.append(("used the unbiased variance (ddof=1)", _affine(unbiased.reshape(x.shape), gamma, beta)))
    return hints


@register("gn_forward")
def gn_forward(fn):
    for x, G, gamma, beta, _ in _gn_cases(611):
        with h.naming_broadcast_errors(x.shape):  # (C,) parameters used without a reshape
            out, _ = unpack_forward(h.call(fn, x.copy(), gamma.copy(), beta.copy(), G), "groupnorm_forward")
        h.check_array(f"out for x of shape {x.shape}, G = {G}", out, ref.groupnorm_forward(x, gamma, beta, G),
                      hints=gn_forward_hints(x, G, gamma, beta))


@register("gn_backward")
def gn_backward(forward, backward):
    for x, G, gamma, beta, dout in _gn_cases(612):
        with h.naming_broadcast_errors(x.shape):
            _, cache = unpack_forward(h.call(forward, x.copy(), gamma.copy(), beta.copy(), G), "groupnorm_forward")
            dx, dgamma, dbeta = unpack_backward(h.call(backward, dout.copy(), cache), "groupnorm_backward")
        want_dx, want_dgamma, want_dbeta = ref.groupnorm_backward(dout, x, gamma, G)
        what = f"for x of shape {x.shape}, G = {G}"
        n, c = x.shape[:2]
        xhat = ref.groupnorm_forward(x, np.ones(c), np.zeros(c), G)
        rows, drows = xhat.reshape(n, G, -1), (dout * gamma.reshape(1, c, 1, 1)).reshape(n, G, -1)
        inv_std = 1 / np.sqrt(x.reshape(n, G, -1).var(axis=2, keepdims=True) + EPS)
        k = rows.shape[2]
        no_mean = (inv_std / k * (k * drows - rows * (drows * rows).sum(axis=2, keepdims=True))).reshape(x.shape)
        h.check_array(f"dx {what}", dx, want_dx, tol=1e-6, hints=[
            ("the term -sum(dxhat) / K is missing: every value of a group also moves the group's mean", no_mean),
            ("dx is missing the factor gamma", ref.groupnorm_backward(dout, x, np.ones(c), G)[0])])
        per_group = [("dgamma/dbeta have one entry per group; gamma and beta are per channel, shape (C,)",
                      (dout * xhat).reshape(n, G, -1).sum(axis=(0, 2))),
                     ("dgamma/dbeta have one entry per group; gamma and beta are per channel, shape (C,)",
                      dout.reshape(n, G, -1).sum(axis=(0, 2))),
                     ("dgamma/dbeta have shape (1, C, 1, 1): sum without keepdims",
                      (dout * xhat).sum(axis=(0, 2, 3), keepdims=True)),
                     ("dgamma/dbeta have shape (1, C, 1, 1): sum without keepdims",
                      dout.sum(axis=(0, 2, 3), keepdims=True))]
        h.check_array(f"dgamma {what}", dgamma, want_dgamma, tol=1e-6, hints=per_group)
        h.check_array(f"dbeta {what}", dbeta, want_dbeta, tol=1e-6, hints=per_group)


# --- concept questions ---------------------------------------------------------------

@register("q_instance_1x1")
def q_instance_1x1(answer):
    r = rng(621)
    x = 5 * r.standard_normal((3, 4, 1, 1)) + 2                      # 1 x 1 images
    gamma, beta = r.uniform(0.5, 2, 4), r.uniform(-1, 1, 4)
    # the fact the question asks about, measured: instance norm (G = C) outputs beta whatever x is
    assert np.allclose(ref.groupnorm_forward(x, gamma, beta, 4), beta.reshape(1, 4, 1, 1)), \
        "the reference contradicts the question"
    choice("the question on instance norm of 1 x 1 images", answer, "d", "abcd", {
        "a": "Instance norm's statistics are per sample and channel: they never average over the batch, whatever "
             "H and W are.",
        "b": "-1 and +1 come from statistics of two values each (batch norm with a batch of two, section 4). Here "
             "each statistic averages a single value: compare that value with its own mean.",
        "c": "eps is inside the square root: a variance of 0 gives a standard deviation of sqrt(eps), not a "
             "division by zero.",
    })
