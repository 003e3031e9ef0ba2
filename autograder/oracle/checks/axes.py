"""Hidden checks for lesson 1: axis reductions and keepdims."""
import itertools

import numpy as np

from .. import reference as ref
from . import helpers as h
from . import questions, register, rng as _rng


def _reduced_shape_cases(keepdims):
    for shape in [(3, 5), (2, 3, 4, 5), (6,), (4, 1, 7)]:
        ndim = len(shape)
        yield shape, None
        for a in range(-ndim, ndim):
            yield shape, a
        for r in range(2, ndim + 1):
            for axes in itertools.combinations(range(ndim), r):
                yield shape, axes
        if ndim >= 3:
            yield shape, (0, -1)


def _check_reduced_shape(reduced_shape, keepdims):
    for shape, axis in _reduced_shape_cases(keepdims):
        got = h.call(reduced_shape, shape, axis, keepdims=keepdims)
        want = ref.reduced_shape(shape, axis, keepdims=keepdims)
        try:
            got_t = tuple(int(n) for n in got)
        except TypeError:
            raise AssertionError(f"reduced_shape returned {got!r}; expected a tuple of ints") from None
        if got_t != want:
            hint = ""
            if axis is not None and not isinstance(axis, int) and any(a < 0 for a in axis):
                hint = " Negative axes count from the end: -1 is the last axis."
            elif isinstance(axis, int) and axis < 0:
                hint = " Negative axes count from the end: -1 is the last axis."
            elif axis is None:
                hint = " axis=None reduces over every axis."
            elif got_t == ref.reduced_shape(shape, axis, keepdims=not keepdims):
                hint = " That is the shape for keepdims=%s." % (not keepdims)
            raise AssertionError(
                f"reduced_shape({shape}, axis={axis}, keepdims={keepdims}) returned {got_t}; "
                f"expected {want}.{hint}"
            )


@register("reduced_shape_no_keepdims")
def reduced_shape_no_keepdims(reduced_shape):
    _check_reduced_shape(reduced_shape, keepdims=False)


@register("reduced_shape_keepdims")
def reduced_shape_keepdims(reduced_shape):
    _check_reduced_shape(reduced_shape, keepdims=True)


@register("channel_mean_loop")
def channel_mean_loop(fn):
    rng = _rng(11)
    for shape in [(3, 5, 2, 7), (2, 4, 6, 3), (1, 2, 1, 1)]:
        x = 5 * rng.standard_normal(shape) + 12
        for c in range(shape[1]):
            got = h.call(fn, h.readonly(x), c)
            want = ref.channel_mean_loop(x, c)
            hints = [
                ("averaged x[c] (sample c) instead of channel c", x[min(c, shape[0] - 1)].mean()),
                ("summed without dividing by the count N*H*W", x[:, c].sum()),
                ("divided by a different count than N*H*W", x[:, c].sum() / (shape[0] * shape[2])),
            ]
            try:
                h.check_close(f"channel_mean_loop(x, c={c}) for x of shape {shape}", got, want, tol=1e-9)
            except AssertionError as err:
                for mistake, wrong in hints:
                    if not np.isclose(want, wrong) and np.isclose(float(got), wrong):
                        raise AssertionError(f"{err}. Likely mistake: {mistake}") from None
                raise


def standardize_hints(x):
    mean0, std0 = x.mean(axis=0), x.std(axis=0)
    return [
        ("standardised each row (axis=1) instead of each column (axis=0)",
         (x - x.mean(axis=1, keepdims=True)) / x.std(axis=1, keepdims=True)),
        ("used the unbiased std (ddof=1); batch norm divides by N (ddof=0)",
         (x - mean0) / x.std(axis=0, ddof=1)),
        ("subtracted the mean but did not divide by the std", x - mean0),
        ("divided by the variance instead of the std", (x - mean0) / x.var(axis=0)),
        ("divided by the std before subtracting the mean", x / std0 - mean0),
    ]


@register("standardize_values")
def standardize_values(fn):
    rng = _rng(21)
    for shape, dtype in [((7, 3), np.float64), ((4, 9), np.float64), ((6, 5), np.float32), ((2, 4), np.float64)]:
        x = (5 * rng.standard_normal(shape) + 12).astype(dtype)
        got = h.call(fn, x.copy())
        h.check_array(f"standardize_columns(x) for x of shape {shape} ({np.dtype(dtype).name})",
                      got, ref.standardize_columns(x), hints=standardize_hints(x))


@register("standardize_no_mutation")
def standardize_no_mutation(fn):
    x = 3 * _rng(22).standard_normal((5, 3)) - 2
    h.call(fn, h.readonly(x))


def channel_stats_hints(x):
    n, c = x.shape[:2]
    flat = x.reshape(-1, c)  # reshaped without moving C last: mixes channels
    return [
        ("reduced without keepdims=True; the statistics must broadcast against (N, C, H, W)",
         x.mean(axis=(0, 2, 3))),
        ("reduced over (2, 3) only: that gives one value per sample and channel",
         x.mean(axis=(2, 3), keepdims=True)),
        ("reshaped to (-1, C) without first moving C to the last axis, which mixes channels",
         flat.mean(axis=0).reshape(1, c, 1, 1)),
        ("reshaped to (-1, C) without first moving C to the last axis, which mixes channels",
         flat.var(axis=0).reshape(1, c, 1, 1)),
        ("used the unbiased variance (ddof=1); normalising uses the biased one (ddof=0)",
         x.var(axis=(0, 2, 3), ddof=1, keepdims=True)),
        ("returned the standard deviation instead of the variance",
         x.std(axis=(0, 2, 3), keepdims=True)),
    ]


def _channel_stats_outputs(fn, x):
    got = h.call(fn, x)
    if not isinstance(got, tuple) or len(got) != 2:
        raise AssertionError(f"channel_stats must return a tuple (mean, var); got {type(got).__name__}")
    return got


@register("channel_stats_shape")
def channel_stats_shape(fn):
    for shape in [(3, 5, 2, 7), (4, 2, 3, 1)]:
        x = _rng(31).standard_normal(shape)
        mean, var = _channel_stats_outputs(fn, x)
        want = (1, shape[1], 1, 1)
        for name, value in [("mean", mean), ("var", var)]:
            value = np.asarray(value)
            if value.shape != want:
                hint = ""
                if value.shape == (shape[1],):
                    hint = " Pass keepdims=True so the result broadcasts against x."
                elif value.shape == (shape[0], shape[1], 1, 1):
                    hint = " Reduce over the batch axis 0 as well as over H and W."
                raise AssertionError(
                    f"channel_stats {name} has shape {value.shape} for x of shape {shape}; "
                    f"expected {want}.{hint}"
                )


@register("channel_stats_values")
def channel_stats_values(fn):
    rng = _rng(32)
    for shape, dtype in [((3, 5, 2, 7), np.float64), ((2, 3, 4, 6), np.float32), ((5, 2, 3, 3), np.float64)]:
        x = (5 * rng.standard_normal(shape) + 12).astype(dtype)
        mean, var = _channel_stats_outputs(fn, x)
        want_mean, want_var = ref.channel_stats(x)
        hints = channel_stats_hints(x)
        # a missing keepdims is the shape test's business; compare values in any layout of C
        c = shape[1]
        mean = np.asarray(mean)
        var = np.asarray(var)
        if mean.size == c:
            mean = mean.reshape(want_mean.shape)
        if var.size == c:
            var = var.reshape(want_var.shape)
        h.check_array(f"channel_stats mean for x of shape {shape} ({np.dtype(dtype).name})",
                      mean, want_mean, hints=hints)
        h.check_array(f"channel_stats var for x of shape {shape} ({np.dtype(dtype).name})",
                      var, want_var, hints=hints)


# --- concept questions ------------------------------------------------------------

@register("q_layer_norm_axes")
def q_layer_norm_axes(answer):
    questions.choice("Which call gives layer norm's means", answer, "b", "abcd", {
        "a": "x.mean(axis=(0, 2, 3)) is batch norm's statistic: one mean per channel, taken across the samples of "
             "the batch. Layer norm keeps the samples apart and averages within one sample.",
        "c": "x.mean(axis=(2, 3)) gives one mean per sample and channel, over one feature map's H*W positions: that "
             "is instance norm's statistic. Layer norm's mean also averages over the channels.",
        "d": "x.mean(axis=0) averages each channel and position over the samples of the batch: a batch statistic, "
             "while layer norm uses no other sample's values. `axis` names the axes averaged away.",
    })


@register("q_values_per_channel")
def q_values_per_channel(answer):
    n, c, hh, w = 8, 16, 5, 7
    right = n * hh * w                                              # m, the values of one channel
    questions.number("How many values one output of x.mean(axis=(0, 2, 3)) averages", answer, right, [
        (n, "That counts only the samples; the mean over (0, 2, 3) also averages every position of the H x W map."),
        (hh * w, "That is one sample's feature map, H*W values: the batch axis 0 is averaged over too."),
        (c * hh * w, "That is C*H*W, all of one sample's values (layer norm's count); axis 1 is not averaged, so "
                     "each output belongs to one channel."),
        (n * c * hh * w, "That is every element of x (axis=None); axis 1 is not averaged, so each output belongs to "
                         "one channel."),
        (c, "That is how many outputs there are, one per channel, not how many values each one averages."),
    ])
