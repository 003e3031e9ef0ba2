"""The grading oracle, checked against numpy and explicit loops (independently of the notebooks)."""
import itertools
import re

import numpy as np
import pytest

from autograder.oracle import reference as ref


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


# --- lessons 2-4 -------------------------------------------------------------------

from bn_helpers import numerical_gradient, rel_error  # noqa: E402  (solutions/batchnorm on sys.path: conftest)


def _x(shape, seed=0):
    r = np.random.default_rng(seed)
    return 5 * r.standard_normal(shape) + 12


@pytest.mark.parametrize("shape", [(7, 3), (2, 5)])
def test_forward_gives_zero_mean_unit_variance_then_beta_gamma(shape):
    x = _x(shape)
    d = shape[1]
    out, _ = ref.batchnorm_forward(x, np.ones(d), np.zeros(d))
    assert np.allclose(out.mean(axis=0), 0, atol=1e-10)
    shrink = x.var(axis=0) / (x.var(axis=0) + 1e-5)  # eps makes the variance slightly less than 1
    assert np.allclose(out.var(axis=0), shrink)
    gamma, beta = np.linspace(0.5, 2, d), np.linspace(-1, 1, d)
    out, _ = ref.batchnorm_forward(x, gamma, beta)
    assert np.allclose(out.mean(axis=0), beta) and np.allclose(out.std(axis=0), gamma * np.sqrt(shrink))


def test_spatial_forward_normalises_each_channel_over_batch_and_positions():
    x = _x((3, 4, 2, 5))
    out, _ = ref.spatial_batchnorm_forward(x, np.ones(4), np.zeros(4))
    assert np.allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-10)
    assert np.allclose(out.var(axis=(0, 2, 3)), 1, atol=1e-5)


def test_backward_matches_numerical_gradients():
    r = np.random.default_rng(1)
    x, gamma, beta = _x((5, 3)), r.uniform(0.5, 2, 3), r.standard_normal(3)
    dout = r.standard_normal((5, 3))
    _, cache = ref.batchnorm_forward(x, gamma, beta)
    dx, dgamma, dbeta = ref.batchnorm_backward(dout, cache)
    assert rel_error(dx, numerical_gradient(lambda v: ref.batchnorm_forward(v, gamma, beta)[0], x, dout)) < 1e-7
    assert rel_error(dgamma, numerical_gradient(lambda g: ref.batchnorm_forward(x, g, beta)[0], gamma, dout)) < 1e-7
    assert rel_error(dbeta, numerical_gradient(lambda b: ref.batchnorm_forward(x, gamma, b)[0], beta, dout)) < 1e-7


def test_spatial_backward_matches_numerical_gradients():
    r = np.random.default_rng(2)
    x, gamma, beta = _x((2, 3, 2, 4)), r.uniform(0.5, 2, 3), r.standard_normal(3)
    dout = r.standard_normal(x.shape)
    dx, dgamma, _ = ref.spatial_batchnorm_backward(dout, ref.spatial_batchnorm_forward(x, gamma, beta)[1])
    f = lambda v: ref.spatial_batchnorm_forward(v, gamma, beta)[0]  # noqa: E731
    assert rel_error(dx, numerical_gradient(f, x, dout)) < 1e-7
    g = lambda v: ref.spatial_batchnorm_forward(x, v, beta)[0]  # noqa: E731
    assert rel_error(dgamma, numerical_gradient(g, gamma, dout)) < 1e-7


def test_dx_sums_to_zero_over_the_batch():
    r = np.random.default_rng(3)
    x, dout = _x((6, 4)), r.standard_normal((6, 4))
    dx, _, _ = ref.batchnorm_backward(dout, ref.batchnorm_forward(x, np.full(4, 1.7), np.zeros(4))[1])
    assert np.allclose(dx.sum(axis=0), 0, atol=1e-12)


def test_eval_mode_works_for_a_batch_of_one_and_never_updates_buffers():
    layer = ref.BatchNorm(3)
    for seed in range(3):
        layer.forward(_x((4, 3), seed))
    before = (layer.running_mean.copy(), layer.running_var.copy(), layer.num_batches_tracked)
    layer.eval()
    x1 = _x((1, 3), 9)
    out = layer.forward(x1)
    assert out.shape == (1, 3)
    assert np.allclose(out, (x1 - before[0]) / np.sqrt(before[1] + 1e-5))
    assert np.array_equal(layer.running_mean, before[0]) and layer.num_batches_tracked == before[2]


def test_momentum_none_is_the_cumulative_average_and_keras_conversion():
    layer = ref.BatchNorm(2, momentum=None)
    batches = [_x((5, 2), s) for s in range(4)]
    for b in batches:
        layer.forward(b)
    assert np.allclose(layer.running_mean, np.mean([b.mean(axis=0) for b in batches], axis=0))
    assert np.allclose(layer.running_var, np.mean([b.var(axis=0, ddof=1) for b in batches], axis=0))
    assert ref.keras_to_torch_momentum(0.99) == pytest.approx(0.01)


def test_folding_equals_linear_then_eval_batchnorm():
    r = np.random.default_rng(4)
    W, b, x = r.standard_normal((5, 3)), r.standard_normal(3), r.standard_normal((4, 5))
    gamma, beta, rm, rv = r.uniform(0.5, 2, 3), r.standard_normal(3), r.standard_normal(3), r.uniform(0.5, 3, 3)
    Wf, bf = ref.fold_into_linear(W, b, gamma, beta, rm, rv)
    assert np.allclose(x @ Wf + bf, ref.batchnorm_eval(x @ W + b, gamma, beta, rm, rv))


# --- PyTorch's layer options, shapes and the normalisation family --------------------

@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5), (2, 3, 4, 5)])
def test_layer_statistics_are_over_every_axis_but_1(shape):
    trains_over_every_axis_but_1(shape)


def trains_over_every_axis_but_1(shape):
    """A new layer's training step on ``shape``: per-channel statistics over every axis but 1, buffers, backward."""
    layer = ref.BatchNorm(3)
    x = _x(shape)
    out = layer.forward(x)
    axes = (0,) + tuple(range(2, len(shape)))
    m = x.size // 3
    assert np.allclose(out.mean(axis=axes), 0, atol=1e-10) and np.allclose(out.var(axis=axes), 1, atol=1e-4)
    assert np.allclose(layer.running_var, 0.9 + 0.1 * x.var(axis=axes) * m / (m - 1))
    dx = layer.backward(_x(shape, 1))
    assert dx.shape == shape and layer.dgamma.shape == (3,)


def test_affine_false_has_no_parameters_and_no_parameter_gradients():
    layer = ref.BatchNorm(3, affine=False)
    assert layer.gamma is None and layer.beta is None
    x = _x((4, 3, 5))
    plain = ref.BatchNorm(3).forward(x)
    assert np.allclose(layer.forward(x), plain)
    layer.backward(_x((4, 3, 5), 1))
    assert layer.dgamma is None and layer.dbeta is None


def test_without_running_stats_eval_mode_uses_the_batch():
    layer = ref.BatchNorm(3, track_running_stats=False)
    assert layer.running_mean is None and layer.running_var is None and layer.num_batches_tracked is None
    x = _x((5, 3))
    layer.eval()
    assert np.allclose(layer.forward(x), ref.BatchNorm(3).forward(x))
    layer.reset_running_stats()
    assert layer.running_mean is None


def test_reset_running_stats_restores_the_initial_buffers():
    layer = ref.BatchNorm(3, momentum=None)
    for seed in range(3):
        layer.forward(_x((4, 3), seed))
    layer.reset_running_stats()
    assert np.array_equal(layer.running_mean, np.zeros(3)) and np.array_equal(layer.running_var, np.ones(3))
    assert layer.num_batches_tracked == 0
    layer.forward(_x((4, 3), 7))  # momentum=None: the first batch after a reset replaces the buffers
    assert np.allclose(layer.running_mean, _x((4, 3), 7).mean(axis=0))


def test_layernorm_backward_matches_numerical_gradients():
    r = np.random.default_rng(6)
    x, gamma, beta = _x((4, 5)), r.uniform(0.5, 2, 5), r.standard_normal(5)
    dout = r.standard_normal(x.shape)
    dx, dgamma, dbeta = ref.layernorm_backward(dout, x, gamma)
    assert rel_error(dx, numerical_gradient(lambda v: ref.layernorm_forward(v, gamma, beta), x, dout)) < 1e-7
    assert rel_error(dgamma, numerical_gradient(lambda g: ref.layernorm_forward(x, g, beta), gamma, dout)) < 1e-7
    assert rel_error(dbeta, numerical_gradient(lambda b: ref.layernorm_forward(x, gamma, b), beta, dout)) < 1e-7


def test_layernorm_is_batchnorm_of_the_transpose():
    x = _x((4, 6))
    plain = ref.batchnorm_forward(x.T, np.ones(4), np.zeros(4))[0].T
    assert np.allclose(ref.layernorm_forward(x, np.ones(6), np.zeros(6)), plain)


@pytest.mark.parametrize("G", [1, 2, 6])
def test_groupnorm_backward_matches_numerical_gradients(G):
    r = np.random.default_rng(7)
    x, gamma, beta = _x((2, 6, 2, 3)), r.uniform(0.5, 2, 6), r.standard_normal(6)
    dout = r.standard_normal(x.shape)
    dx, dgamma, dbeta = ref.groupnorm_backward(dout, x, gamma, G)
    f = lambda v: ref.groupnorm_forward(v, gamma, beta, G)  # noqa: E731
    assert rel_error(dx, numerical_gradient(f, x, dout)) < 1e-7
    assert rel_error(dgamma, numerical_gradient(lambda g: ref.groupnorm_forward(x, g, beta, G), gamma, dout)) < 1e-7
    assert rel_error(dbeta, numerical_gradient(lambda b: ref.groupnorm_forward(x, gamma, b, G), beta, dout)) < 1e-7


def test_groupnorm_extremes_are_instance_norm_and_layer_norm_and_groups_are_consecutive_channels():
    x = _x((3, 4, 2, 5))
    ones, zeros = np.ones(4), np.zeros(4)
    standardize = lambda v, axes: (v - v.mean(axis=axes, keepdims=True)) / np.sqrt(  # noqa: E731
        v.var(axis=axes, keepdims=True) + 1e-5)
    assert np.allclose(ref.groupnorm_forward(x, ones, zeros, 4), standardize(x, (2, 3)))       # instance norm
    assert np.allclose(ref.groupnorm_forward(x, ones, zeros, 1), standardize(x, (1, 2, 3)))    # layer norm
    out = ref.groupnorm_forward(x, ones, zeros, 2)
    for n, g in itertools.product(range(3), range(2)):
        block = x[n, 2 * g:2 * g + 2]
        assert np.allclose(out[n, 2 * g:2 * g + 2], (block - block.mean()) / np.sqrt(block.var() + 1e-5))
    with pytest.raises(ValueError, match="do not split"):
        ref.groupnorm_forward(x, ones, zeros, 3)


# --- against PyTorch: its numbers on every run, PyTorch itself where it is installed (not a requirement) ------

from autograder.oracle import golden  # noqa: E402

REGENERATE = "the golden file is out of date: regenerate it with PyTorch, see autograder/oracle/golden.py"


def _assert_agrees(mine, theirs):
    """The reference's results agree with PyTorch's: the same quantities (what is None on one side is None on the
    other), equal up to float64 rounding (they differ by about 1e-14)."""
    assert mine.keys() == theirs.keys(), f"only the reference: {mine.keys() - theirs.keys()}, " \
                                         f"only PyTorch: {theirs.keys() - mine.keys()}"
    for key in theirs:
        np.testing.assert_allclose(mine[key], theirs[key], rtol=1e-10, atol=1e-12, err_msg=key)


@pytest.mark.parametrize("case", golden.CASES, ids=lambda case: case.name)
def test_reference_agrees_with_pytorch_golden(case):
    _, cases = golden.load()
    assert case.name in cases, REGENERATE
    data, theirs = cases[case.name]
    _assert_agrees(golden.run(case, data, ref), theirs)


@pytest.mark.parametrize("case", golden.CASES, ids=lambda case: case.name)
def test_reference_agrees_with_pytorch(case):
    pytest.importorskip("torch", reason="PyTorch is not installed: compared with its recorded numbers instead (golden)")
    data = golden.inputs(case)
    _assert_agrees(golden.run(case, data, ref), golden.run(case, data, golden.torch_library(case)))


def test_golden_file_holds_the_live_cases_on_the_same_inputs():
    torch_version, cases = golden.load()
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", torch_version), torch_version
    assert sorted(cases) == sorted(case.name for case in golden.CASES), REGENERATE
    for case in golden.CASES:
        stored, fresh = cases[case.name][0], golden.inputs(case)
        assert stored.keys() == fresh.keys(), f"{case.name}: {REGENERATE}"
        for key in fresh:
            assert np.array_equal(stored[key], fresh[key]), f"{case.name}, {key}: {REGENERATE}"
