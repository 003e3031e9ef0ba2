"""The grading oracle, checked against numpy and explicit loops (independently of the notebooks)."""
import itertools

import numpy as np
import pytest

from autograder import reference as ref


@pytest.mark.parametrize("shape", [(3, 5), (2, 3, 4, 5), (7,)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reduced_shape_matches_numpy(shape, keepdims):
    x = np.zeros(shape)
    axes = [None] + list(range(-len(shape), len(shape)))
    axes += [c for r in range(2, len(shape) + 1) for c in itertools.combinations(range(len(shape)), r)]
    for axis in axes:
        assert ref.reduced_shape(shape, axis, keepdims) == x.mean(axis=axis, keepdims=keepdims).shape


def test_channel_stats_match_explicit_loops():
    x = 5 * np.random.default_rng(0).standard_normal((3, 4, 2, 5)) + 12
    mean, var = ref.channel_stats(x)
    assert mean.shape == var.shape == (1, 4, 1, 1)
    n, c_count, h, w = x.shape
    for c in range(c_count):
        values = [x[i, c, r, k] for i in range(n) for r in range(h) for k in range(w)]
        m = sum(values) / len(values)
        assert np.isclose(mean[0, c, 0, 0], m)
        assert np.isclose(var[0, c, 0, 0], sum((v - m) ** 2 for v in values) / len(values))
        assert np.isclose(ref.channel_mean_loop(x, c), m)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_standardize_columns_has_zero_mean_unit_std_and_keeps_dtype(dtype):
    x = (5 * np.random.default_rng(1).standard_normal((6, 3)) + 12).astype(dtype)
    out = ref.standardize_columns(x)
    assert out.dtype == dtype and out.shape == x.shape
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert np.allclose(out.mean(axis=0), 0, atol=tol)
    assert np.allclose(out.std(axis=0), 1, atol=tol)
