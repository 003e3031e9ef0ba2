"""The grading oracle, checked against numpy and explicit loops (independently of the notebooks)."""
import itertools

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


# --- against PyTorch, when it is installed (it is not a requirement) ---------------

@pytest.mark.parametrize("shape,momentum", [((6, 4), 0.1), ((3, 5, 2, 4), 0.1), ((5, 3), None), ((2, 3, 3, 2), 0.3)])
def test_layer_agrees_with_pytorch(shape, momentum):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed: comparison skipped")
    c = shape[1]
    r = np.random.default_rng(5)
    tbn = (torch.nn.BatchNorm1d if len(shape) == 2 else torch.nn.BatchNorm2d)(c, momentum=momentum).double()
    mine = ref.BatchNorm(c, momentum=momentum)
    gamma, beta = r.uniform(0.5, 2, c), r.standard_normal(c)
    with torch.no_grad():
        tbn.weight.copy_(torch.from_numpy(gamma))
        tbn.bias.copy_(torch.from_numpy(beta))
    mine.gamma, mine.beta = gamma.copy(), beta.copy()
    for step in range(4):
        x = _x(shape, step)
        dout = r.standard_normal(shape)
        tx = torch.from_numpy(x).requires_grad_(True)
        tout = tbn(tx)
        tout.backward(torch.from_numpy(dout))
        out = mine.forward(x)
        dx = mine.backward(dout)
        assert np.allclose(out, tout.detach().numpy(), atol=1e-10)
        assert np.allclose(dx, tx.grad.numpy(), atol=1e-10)
        assert np.allclose(mine.dgamma, tbn.weight.grad.numpy(), atol=1e-10)
        assert np.allclose(mine.dbeta, tbn.bias.grad.numpy(), atol=1e-10)
        tbn.weight.grad = tbn.bias.grad = None
    assert np.allclose(mine.running_mean, tbn.running_mean.numpy())
    assert np.allclose(mine.running_var, tbn.running_var.numpy())
    assert mine.num_batches_tracked == int(tbn.num_batches_tracked)
    tbn.eval()
    mine.eval()
    x1 = _x((1,) + shape[1:], 9)
    assert np.allclose(mine.forward(x1), tbn(torch.from_numpy(x1)).detach().numpy(), atol=1e-10)
