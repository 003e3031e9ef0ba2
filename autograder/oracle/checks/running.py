"""Hidden checks for lesson 4: running statistics, eval mode, the BatchNorm layer, folding."""
import numpy as np

from .. import reference as ref
from . import helpers as h
from . import register, rng
from .forward import EPS, features, images
from .questions import choice, number


def _pair(result, name):
    if not (isinstance(result, tuple) and len(result) == 2):
        raise AssertionError(f"{name} must return a tuple of two arrays; got {type(result).__name__}")
    return np.asarray(result[0]), np.asarray(result[1])


def _update_inputs(seed, d=4):
    r = rng(seed)
    return (r.standard_normal(d), r.uniform(0.5, 2, d), r.standard_normal(d) + 3, r.uniform(1, 4, d))


def _blend(old, new, factor):
    return (1 - factor) * old + factor * new


@register("running_update_direction")
def running_update_direction(fn):
    rm, rv, bm, bv = _update_inputs(401)
    for momentum in [0.1, 0.3]:
        new_mean, _ = _pair(h.call(fn, rm.copy(), rv.copy(), bm.copy(), bv.copy(), 8, momentum=momentum),
                            "update_running_stats")
        h.check_array(f"new running_mean with momentum={momentum}", new_mean, _blend(rm, bm, momentum), hints=[
            ("momentum direction flipped: PyTorch computes (1 - momentum) * running + momentum * batch "
             "(the Keras/CS231n momentum is 1 - PyTorch's)", _blend(rm, bm, 1 - momentum)),
            ("the running mean ignores its old value", bm),
            ("the old running value is returned unchanged", rm),
            ("only momentum * batch is kept; add (1 - momentum) * running", momentum * bm),
        ])


@register("running_update_unbiased")
def running_update_unbiased(fn):
    # momentum 0.5 weighs old and new equally, so a flipped direction does not change this check
    rm, rv, bm, bv = _update_inputs(402)
    for m in [8, 24]:
        _, new_var = _pair(h.call(fn, rm.copy(), rv.copy(), bm.copy(), bv.copy(), m, momentum=0.5),
                           "update_running_stats")
        unbiased = bv * m / (m - 1)
        h.check_array(f"new running_var with m={m}, momentum=0.5", new_var, _blend(rv, unbiased, 0.5), hints=[
            ("the running variance was updated with the biased batch variance; "
             "use the unbiased var * m / (m - 1)", _blend(rv, bv, 0.5)),
            ("the correction used m / (m + 1); the unbiased variance is var * m / (m - 1)",
             _blend(rv, bv * m / (m + 1), 0.5)),
            ("the running variance blends in a standard deviation", _blend(rv, np.sqrt(unbiased), 0.5)),
            ("the running variance ignores its old value", unbiased),
        ])


@register("running_update_cumulative")
def running_update_cumulative(fn):
    rm, rv, bm, bv = _update_inputs(403)
    for k in [1, 3, 10]:
        new_mean, _ = _pair(h.call(fn, rm.copy(), rv.copy(), bm.copy(), bv.copy(), 8, momentum=None,
                                   num_batches_tracked=k), "update_running_stats")
        h.check_array(f"new running_mean with momentum=None, num_batches_tracked={k}", new_mean,
                      _blend(rm, bm, 1 / k), hints=[
                          ("momentum=None must average all batches so far: factor 1 / num_batches_tracked",
                           _blend(rm, bm, 0.1)),
                          ("factor 1 / (num_batches_tracked + 1): num_batches_tracked already counts this batch",
                           _blend(rm, bm, 1 / (k + 1))),
                      ])


@register("running_update_no_mutation")
def running_update_no_mutation(fn):
    args = h.readonly(*_update_inputs(404))
    _pair(h.call(fn, *args, 8, momentum=0.1), "update_running_stats")


# --- eval mode -----------------------------------------------------------------

def _eval_params(r, c):
    return r.uniform(0.5, 2.5, c), r.uniform(-3, 3, c), r.uniform(-5, 5, c), r.uniform(0.5, 9, c)


def eval_hints(x, gamma, beta, rm, rv, eps=EPS):
    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    g, b, m, v = (a.reshape(shape) for a in (gamma, beta, rm, rv))
    hints = [("the running variance was used as a standard deviation: divide by sqrt(running_var + eps)",
              g * (x - m) / (v + eps) + b),
             ("eps added outside the square root", g * (x - m) / (np.sqrt(v) + eps) + b)]
    if x.shape[0] > 1:
        hints.insert(0, ("used the batch statistics; eval mode normalises with the running statistics",
                         g * (x - x.mean(axis=axes, keepdims=True)) / np.sqrt(x.var(axis=axes, keepdims=True) + eps) + b))
    if x.ndim == 4 and x.shape[3] == x.shape[1]:
        hints.append(("parameters and running statistics of shape (C,) were broadcast along the last axis W; "
                      "reshape them to (1, C, 1, 1)", gamma * (x - rm) / np.sqrt(rv + eps) + beta))
        hints.append(("gamma and beta of shape (C,) were broadcast along the last axis W; reshape them to "
                      "(1, C, 1, 1) as the running statistics", gamma * (x - m) / np.sqrt(v + eps) + beta))
    return hints


def per_channel_call(fn, x, *args):
    """``h.call(fn, x, *args)``, where numpy's broadcast error of a ``(C,)`` array with ``x`` names the mistake."""
    with h.naming_broadcast_errors(np.shape(x)):
        return h.call(fn, x, *args)


def _check_eval(fn, shapes, seed):
    r = rng(seed)
    for shape in shapes:
        c = shape[1]
        x = images(r, shape) if len(shape) == 4 else features(r, *shape)
        params = _eval_params(r, c)
        out = per_channel_call(fn, x.copy(), *(p.copy() for p in params))
        h.check_array(f"eval output for x of shape {shape}", out, ref.batchnorm_eval(x, *params),
                      hints=eval_hints(x, *params))


@register("eval_values_2d")
def eval_values_2d(fn):
    _check_eval(fn, [(5, 3), (1, 4), (2, 6)], 411)


@register("eval_values_4d")
def eval_values_4d(fn):
    _check_eval(fn, [(2, 3, 4, 5), (1, 2, 3, 4), (3, 4, 2, 4)], 412)


# --- the layer -----------------------------------------------------------------

def _attr(layer, name):
    if not hasattr(layer, name):
        raise AssertionError(f"the layer has no attribute {name!r}")
    return getattr(layer, name)


@register("layer_init")
def layer_init(cls):
    layer = cls(5)
    want = ref.BatchNorm(5)
    for name in ("gamma", "beta", "running_mean", "running_var"):
        hints = [("running_var starts at 0; PyTorch starts it at 1", np.zeros(5))] if name == "running_var" else []
        h.check_array(f"a new layer's {name}", _attr(layer, name), getattr(want, name), hints=hints)
    if _attr(layer, "num_batches_tracked") != 0:
        raise AssertionError("a new layer's num_batches_tracked must be 0")
    if _attr(layer, "training") is not True:
        raise AssertionError("a new layer starts in training mode: training must be True")
    if _attr(layer, "eps") != 1e-5 or _attr(layer, "momentum") != 0.1:
        raise AssertionError("default eps must be 1e-5 and default momentum 0.1 (PyTorch)")


def _layer_pairs(cls, r):
    """(shape, student layer, reference layer) with the same non-trivial gamma and beta, for (N, C) and images."""
    for shape in [(6, 4), (3, 5, 2, 4)]:
        c = shape[1]
        layer, want = cls(c), ref.BatchNorm(c)
        layer.gamma, layer.beta = r.uniform(0.5, 2.5, c), r.uniform(-3, 3, c)
        want.gamma, want.beta = layer.gamma.copy(), layer.beta.copy()
        yield shape, layer, want


def _batches(r, shape, count=3):
    return [images(r, shape) if len(shape) == 4 else features(r, *shape) for _ in range(count)]


MIXED_ROWS = ("reshape(-1, C) without np.moveaxis(x, 1, -1) first: each row then mixes channels and positions "
              "(right only for (N, C) input)")


def _mixed_rows(x):
    """The rows a layer makes from x: (N, C, ...) when it forgets to move the channels last."""
    return x.reshape(-1, x.shape[1])


def mixed_rows_hints(x, gamma, beta, what=lambda out, cache: out):
    """[(MIXED_ROWS, what a layer with that mistake gives)] for x with more than two axes, else []."""
    if x.ndim < 3:
        return []
    out, cache = ref.batchnorm_forward(_mixed_rows(x), gamma, beta)
    return [(MIXED_ROWS, what(out.reshape(x.shape), cache))]


@register("layer_train_forward")
def layer_train_forward(cls):
    r = rng(421)
    for shape, layer, want in _layer_pairs(cls, r):
        for i, x in enumerate(_batches(r, shape, 2)):
            h.check_array(f"training-mode output for batch {i + 1} of shape {shape}",
                          h.call(layer.forward, x.copy()), want.forward(x),
                          hints=mixed_rows_hints(x, want.gamma, want.beta))


def buffer_hints(shape, batches, momentum):
    """Buffers after `batches` for layers with typical mistakes."""
    def run(update, init_var=1.0, write_back=True, to_rows=ref._to_rows):
        c = shape[1]
        rm, rv = np.zeros(c), np.full(c, init_var)
        for k, x in enumerate(batches, start=1):
            rows = to_rows(x)
            new = update(rm, rv, rows, k)
            if write_back:
                rm, rv = new
        return rm, rv

    def torch(m_of, var_of=lambda rows: rows.var(axis=0), factor=None):
        def update(rm, rv, rows, k):
            f = factor(k) if factor else (1 / k if momentum is None else momentum)
            m = m_of(rows)
            return _blend(rm, rows.mean(axis=0), f), _blend(rv, var_of(rows) * m / (m - 1), f)
        return update

    n = batches[0].shape[0]
    right = torch(lambda rows: rows.shape[0])
    out = [
        ("running_var starts at 0; PyTorch starts it at 1", run(right, init_var=0.0)),
        ("the unbiased correction used N instead of m = N*H*W", run(torch(lambda rows: n))),
        ("the running variance was updated with the biased batch variance",
         run(torch(lambda rows: rows.shape[0], var_of=lambda rows: rows.var(axis=0) * (rows.shape[0] - 1) / rows.shape[0]))),
        ("a running standard deviation was stored instead of a variance",
         run(torch(lambda rows: rows.shape[0], var_of=lambda rows: np.sqrt(rows.var(axis=0)) * (rows.shape[0] - 1) / rows.shape[0]))),
        ("the updated statistics were never written back to the layer", run(right, write_back=False)),
    ]
    if len(shape) > 2:
        out.append((MIXED_ROWS, run(right, to_rows=_mixed_rows)))
    if momentum is not None:
        out.append(("momentum direction flipped: (1 - momentum) * running + momentum * batch",
                    run(torch(lambda rows: rows.shape[0], factor=lambda k: 1 - momentum))))
    return out


@register("layer_running_buffers")
def layer_running_buffers(cls):
    r = rng(422)
    for shape, momentum in [((6, 4), 0.1), ((3, 5, 2, 4), 0.1), ((5, 3), None), ((2, 3, 3, 2), 0.3)]:
        c = shape[1]
        layer, want = cls(c, momentum=momentum), ref.BatchNorm(c, momentum=momentum)
        batches = _batches(r, shape)
        for x in batches:
            h.call(layer.forward, x.copy())
            want.forward(x)
        hints = buffer_hints(shape, batches, momentum)
        what = f"after {len(batches)} training batches of shape {shape}, momentum={momentum}"
        h.check_array(f"running_mean {what}", _attr(layer, "running_mean"), want.running_mean,
                      hints=[(m, v[0]) for m, v in hints])
        h.check_array(f"running_var {what}", _attr(layer, "running_var"), want.running_var,
                      hints=[(m, v[1]) for m, v in hints])
        if _attr(layer, "num_batches_tracked") != len(batches):
            raise AssertionError(f"num_batches_tracked is {layer.num_batches_tracked} {what}; "
                                 f"expected {len(batches)}")


@register("layer_eval")
def layer_eval(cls):
    r = rng(423)
    for shape in [(5, 3), (1, 3), (2, 4, 3, 5), (1, 4, 2, 3)]:
        c = shape[1]
        layer, want = cls(c), ref.BatchNorm(c)
        gamma, beta, rm, rv = _eval_params(r, c)
        for obj in (layer, want):
            obj.gamma, obj.beta, obj.running_mean, obj.running_var = gamma.copy(), beta.copy(), rm.copy(), rv.copy()
            obj.num_batches_tracked = 7
        result = layer.eval()
        if result is not None and result is not layer:
            raise AssertionError("eval() should switch the layer to eval mode (and may return the layer)")
        if _attr(layer, "training") is not False:
            raise AssertionError("after eval(), training must be False")
        want.eval()
        x = images(r, shape) if len(shape) == 4 else features(r, *shape)
        for step in range(2):
            what = f"eval-mode output for x of shape {shape} (call {step + 1})"
            h.check_array(what, per_channel_call(layer.forward, x.copy()), want.forward(x),
                          hints=eval_hints(x, gamma, beta, rm, rv))
        for name, value in [("running_mean", rm), ("running_var", rv)]:
            if not np.array_equal(np.asarray(getattr(layer, name)).reshape(-1), value):
                raise AssertionError(f"{name} changed in eval mode: eval must never update the running statistics")
        if layer.num_batches_tracked != 7:
            raise AssertionError("num_batches_tracked changed in eval mode")
        layer.train()
        if layer.training is not True:
            raise AssertionError("after train(), training must be True")


@register("layer_backward")
def layer_backward(cls):
    r = rng(424)
    for shape, layer, want in _layer_pairs(cls, r):
        x = _batches(r, shape, 1)[0]
        dout = r.standard_normal(shape)
        h.call(layer.forward, x.copy())
        want.forward(x)
        dx = h.call(layer.backward, dout.copy())
        mixed = mixed_rows_hints(x, want.gamma, want.beta,
                                 lambda out, cache: ref.batchnorm_backward(_mixed_rows(dout), cache))
        h.check_array(f"dx for x of shape {shape}", dx, want.backward(dout), tol=1e-6,
                      hints=[(m, grads[0].reshape(shape)) for m, grads in mixed])
        h.check_array(f"layer.dgamma for x of shape {shape}", _attr(layer, "dgamma"), want.dgamma, tol=1e-6,
                      hints=[(m, grads[1]) for m, grads in mixed])
        h.check_array(f"layer.dbeta for x of shape {shape}", _attr(layer, "dbeta"), want.dbeta, tol=1e-6,
                      hints=[(m, grads[2]) for m, grads in mixed])



# --- PyTorch's options: (N, C, L) input, affine, track_running_stats, reset_running_stats --------

def _sequences(r, shape):
    """(N, C, L) input with per-channel offsets and scales."""
    c = shape[1]
    return r.uniform(0.5, 4, (1, c, 1)) * r.standard_normal(shape) + r.uniform(-8, 8, (1, c, 1))


def _any_batch(r, shape):
    return {2: lambda: features(r, *shape), 3: lambda: _sequences(r, shape), 4: lambda: images(r, shape)}[len(shape)]()


def _expect_none(layer, names, why):
    for name in names:
        value = _attr(layer, name)
        if value is not None:
            raise AssertionError(f"{name} is a {type(value).__name__}; {why} it must be None, as in PyTorch")


def _twins(cls, c, r, **options):
    """Two student layers with the same random gamma and beta (when they have parameters)."""
    layers = [h.call(cls, c, **options) for _ in range(2)]
    if options.get("affine", True):
        gamma, beta = r.uniform(0.5, 2.5, c), r.uniform(-3, 3, c)
        for layer in layers:
            layer.gamma, layer.beta = gamma.copy(), beta.copy()
    return layers


# Each option's check compares with the reference only what the option itself changes: the (N, C, L) training
# output, and the (N, C) results with affine=False or track_running_stats=False. Everything else is compared with the
# student's own layer where the two must agree on the same code path: an (N, C, L) batch and its (N*L, C) rows
# (more than one row each in eval mode); for images, a layer with gamma 1 and beta 0, or one with buffers in
# training mode; a reset layer and one given the initial buffers. So a mistake in the running statistics, eval
# mode, backward, images or a new layer's defaults costs the cells that own it, not these too.

@register("layer_ncl_input")
def layer_ncl_input(cls):
    r = rng(425)
    for shape in [(5, 3, 7), (2, 4, 1), (1, 3, 6)]:
        c = shape[1]
        layer, rows_layer = _twins(cls, c, r)
        want = ref.BatchNorm(c)
        want.gamma, want.beta = np.asarray(_attr(layer, "gamma")).copy(), np.asarray(_attr(layer, "beta")).copy()
        x = _sequences(r, shape)
        per_position = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + EPS) * want.gamma[:, None] + want.beta[:, None]
        try:
            out = h.call(layer.forward, x.copy())
        except ValueError as err:
            if shape[0] > 1 or "broadcast" in str(err):
                raise
            raise AssertionError(
                f"training-mode forward for x of shape {shape} fails: {err}. Likely mistake: the check for one value "
                f"per channel tests N == 1, but one sequence has L = {shape[2]} values per channel (N*L counts)"
            ) from None
        h.check_array(f"training-mode output for x of shape {shape}", out, want.forward(x), hints=[
            ("each (channel, position) was normalised over the batch only: for (N, C, L) input the statistics are "
             "per channel over axes (0, 2), m = N*L", per_position)] + mixed_rows_hints(x, want.gamma, want.beta))
        h.call(rows_layer.forward, ref._to_rows(x))
        same = f"as for the same batch given as {(shape[0] * shape[2], c)} rows"
        for name in ("running_mean", "running_var"):
            h.check_array(f"{name} after a batch of shape {shape} ({same})", _attr(layer, name),
                          _attr(rows_layer, name), hints=[] if name == "running_mean" or shape[0] < 2 else [
                              ("the unbiased correction used N instead of m = N*L",
                               0.9 + 0.1 * x.var(axis=(0, 2)) * shape[0] / (shape[0] - 1))])
        dout = r.standard_normal(shape)
        h.check_array(f"dx for x of shape {shape} ({same})", h.call(layer.backward, dout.copy()),
                      ref._from_rows(np.asarray(h.call(rows_layer.backward, ref._to_rows(dout))), shape), tol=1e-6)
        for name in ("dgamma", "dbeta"):
            h.check_array(f"layer.{name} for x of shape {shape} ({same})", _attr(layer, name),
                          _attr(rows_layer, name), tol=1e-6)
        for one in (layer, rows_layer):
            h.call(one.eval)
        x2 = _sequences(r, (2,) + shape[1:])  # two samples and 2*L rows: neither is a batch of one
        what = f"eval-mode output for x of shape {x2.shape} (as for the same batch given as {(2 * shape[2], c)} rows)"
        h.check_array(what, per_channel_call(layer.forward, x2.copy()),
                      ref._from_rows(np.asarray(h.call(rows_layer.forward, ref._to_rows(x2))), x2.shape))


@register("layer_affine_false")
def layer_affine_false(cls):
    r = rng(426)
    for shape in [(2, 3, 2, 4), (6, 4)]:
        c = shape[1]
        layer, plain = h.call(cls, c, affine=False), h.call(cls, c)
        plain.gamma, plain.beta = np.ones(c), np.zeros(c)
        _expect_none(layer, ("gamma", "beta"), "with affine=False")
        x, dout = _any_batch(r, shape), r.standard_normal(shape)
        # (N, C): the option's own math, against the reference; images belong to layer_train_forward and
        # layer_backward, so there the option is compared with a layer with gamma 1 and beta 0
        want = ref.BatchNorm(c, affine=False) if len(shape) == 2 else None
        what = f"x of shape {shape}, affine=False" + (" (as a layer with gamma 1 and beta 0)" if want is None else "")
        h.check_array(f"training-mode output for {what}", h.call(layer.forward, x.copy()),
                      want.forward(x) if want is not None else h.call(plain.forward, x.copy()))
        h.check_array(f"dx for {what}", h.call(layer.backward, dout.copy()),
                      want.backward(dout) if want is not None else h.call(plain.backward, dout.copy()), tol=1e-6)
        _expect_none(layer, ("dgamma", "dbeta"), "after backward with affine=False")
        if want is None:
            continue  # eval mode on images belongs to eval_values_4d and layer_eval
        h.call(plain.forward, x.copy())
        for one in (layer, plain):
            h.call(one.eval)
        # two samples: a layer left in training mode by a mistake of layer_eval's would raise on one
        x2 = _any_batch(r, (2,) + shape[1:])
        what = f"eval-mode output for x of shape {x2.shape}, affine=False"
        out = _none_call(layer.forward, x2.copy(), what=what, mistake=(
            "eval mode passed gamma and beta, which are None with affine=False, to batchnorm_eval; "
            "use gamma = 1 and beta = 0 there as in training mode"))
        h.check_array(f"{what} (as a layer with gamma 1 and beta 0 after the same batch)", out,
                      h.call(plain.forward, x2.copy()))


NO_BUFFERS_IN_EVAL = ("eval mode passed running statistics that are None (track_running_stats=False) to "
                      "batchnorm_eval; without buffers it normalises with the batch statistics, as in training mode")


def _none_call(fn, *args, what, mistake):
    """``h.call(fn, *args)``, where the TypeError or AttributeError of arithmetic on None names ``mistake``."""
    try:
        return h.call(fn, *args)
    except (TypeError, AttributeError) as err:
        if "None" not in str(err):
            raise
        raise AssertionError(f"{what} fails: {err}. Likely mistake: {mistake}") from None


@register("layer_no_running_stats")
def layer_no_running_stats(cls):
    r = rng(427)
    for shape, momentum in [((6, 4), 0.1), ((5, 3), None), ((2, 3, 2, 4), 0.3)]:
        c = shape[1]
        layer = h.call(cls, c, momentum=momentum, track_running_stats=False)
        gamma, beta = r.uniform(0.5, 2.5, c), r.uniform(-3, 3, c)
        layer.gamma, layer.beta = gamma.copy(), beta.copy()
        # the batch-statistics output, which a layer without buffers gives in either mode: (N, C) is the option's
        # own math, against the reference; images belong to layer_train_forward, so there the option is compared
        # with a layer that tracks running statistics, in training mode
        if len(shape) == 2:
            want, what = ref.BatchNorm(c, momentum=momentum, track_running_stats=False), ""
            want.gamma, want.beta = gamma.copy(), beta.copy()
            batch_stats = want.forward
        else:
            tracking, what = h.call(cls, c, momentum=momentum), " (as a layer with buffers in training mode)"
            tracking.gamma, tracking.beta = gamma.copy(), beta.copy()
            batch_stats = lambda x: h.call(tracking.forward, x.copy())
        none = ("running_mean", "running_var", "num_batches_tracked")
        _expect_none(layer, none, "with track_running_stats=False")
        for i in range(2):
            x = _any_batch(r, shape)
            h.check_array(f"training-mode output for batch {i + 1} of shape {shape}, track_running_stats=False"
                          f"{what}", h.call(layer.forward, x.copy()), batch_stats(x))
        h.call(layer.eval)
        x = _any_batch(r, (2,) + shape[1:])
        with_initial_buffers = ref.batchnorm_eval(x, gamma, beta, np.zeros(c), np.ones(c))
        out = _none_call(layer.forward, x.copy(), what=f"eval-mode output for x of shape {x.shape}, "
                         "track_running_stats=False", mistake=NO_BUFFERS_IN_EVAL)
        h.check_array(f"eval-mode output for x of shape {x.shape}, track_running_stats=False{what}",
                      out, batch_stats(x), hints=[
                          ("eval mode normalised with running statistics of 0 and 1; without buffers it uses the "
                           "batch statistics, as in training mode", with_initial_buffers)])
        _expect_none(layer, none, "after training and eval batches with track_running_stats=False")


@register("layer_reset_running_stats")
def layer_reset_running_stats(cls):
    r = rng(428)
    for shape, momentum in [((5, 3), None), ((2, 4, 3, 2), 0.1), ((6, 2), 0.3)]:
        c = shape[1]
        layer, fresh = _twins(cls, c, r, momentum=momentum)
        gamma = np.asarray(_attr(layer, "gamma")).copy()
        for _ in range(3):
            h.call(layer.forward, _any_batch(r, shape))
        h.call(layer.reset_running_stats)
        for name, value in [("running_mean", np.zeros(c)), ("running_var", np.ones(c))]:
            h.check_array(f"{name} after reset_running_stats()", _attr(layer, name), value)
        if _attr(layer, "num_batches_tracked") != 0:
            raise AssertionError("num_batches_tracked must be 0 after reset_running_stats()")
        h.check_array("gamma after reset_running_stats() (a parameter, not a buffer)", _attr(layer, "gamma"), gamma)
        fresh.running_mean, fresh.running_var, fresh.num_batches_tracked = np.zeros(c), np.ones(c), 0
        x = _any_batch(r, shape)
        for one in (layer, fresh):
            h.call(one.forward, x.copy())
        for name in ("running_mean", "running_var"):
            h.check_array(f"{name} after a reset and one batch of shape {shape}, momentum={momentum} (as a new "
                          "layer's with buffers 0, 1 and 0 after that batch)", _attr(layer, name), _attr(fresh, name))
    # buffers a layer with track_running_stats=False has anyway cost layer_no_running_stats, not this cell
    layer = h.call(cls, 3, track_running_stats=False)
    missing = [name for name in ("running_mean", "running_var") if _attr(layer, name) is None]
    h.call(layer.reset_running_stats)
    _expect_none(layer, missing, "after reset_running_stats() with track_running_stats=False")


ONE_VALUE = ("One value per channel has no batch statistics (its mean is the value itself, its variance 0): "
             "raise ValueError there, as PyTorch does (\"Expected more than 1 value per channel when training\")")


@register("layer_one_value_per_channel")
def layer_one_value_per_channel(cls):
    r = rng(429)
    cases = [((1, 4), {}), ((1, 3, 1), {}), ((1, 2, 1, 1), {"momentum": None}), ((1, 5), {"affine": False}),
             ((1, 3), {"track_running_stats": False}), ((1, 3, 2, 2), {}), ((1, 2, 3, 1), {"momentum": None})]
    for shape, options in cases:
        c = shape[1]
        layer, want = h.call(cls, c, **options), ref.BatchNorm(c, **options)
        x = _any_batch(r, shape)
        what = f"a training batch of shape {shape}" + "".join(f", {k}={v}" for k, v in options.items())
        try:
            want.forward(x.copy())
            should_raise = False
        except ValueError:
            should_raise = True
        try:
            h.call(layer.forward, x.copy())
            raised = None
        except Exception as err:  # noqa: BLE001  (the student's own exception, named below)
            raised = err
        if not should_raise:
            if raised is None:
                continue
            try:  # a layout the layer cannot train on at all belongs to the cells of that layout
                h.call(h.call(cls, c, **options).forward, _any_batch(r, (2,) + shape[1:]))
            except Exception:  # noqa: BLE001
                continue
            raise AssertionError(
                f"forward raised for {what} ({raised}), which has {x.size // c} values per channel. Likely mistake: "
                "the check for one value per channel tests N == 1; it is the values per channel, N, N*L or N*H*W, "
                "that must be more than 1")
        if isinstance(raised, ValueError):
            continue
        if raised is not None:
            raise AssertionError(f"forward for {what} raised another exception than ValueError ({raised}); "
                                 "raise ValueError, as PyTorch does")
        running_var = _attr(layer, "running_var")
        if running_var is not None and np.isnan(np.asarray(running_var, dtype=float)).any():
            raise AssertionError(f"forward returned for {what} and stored nan in running_var. Likely mistake: no "
                                 "check for one value per channel, so the running variance took var * m / (m - 1) "
                                 f"= 0 / 0 with m = 1. {ONE_VALUE}")
        raise AssertionError(f"forward returned for {what}. Likely mistake: no check for one value per channel. "
                             f"{ONE_VALUE}")


# --- folding -------------------------------------------------------------------

@register("fold_values")
def fold_values(fn):
    r = rng(431)
    for d_in, d in [(5, 3), (2, 6)]:
        W, b = r.standard_normal((d_in, d)), r.standard_normal(d)
        gamma, beta, rm, rv = _eval_params(r, d)
        Wf, bf = _pair(h.call(fn, *h.readonly(W, b, gamma, beta, rm, rv)), "fold_into_linear")
        want_W, want_b = ref.fold_into_linear(W, b, gamma, beta, rm, rv)
        scale = gamma / np.sqrt(rv + EPS)
        h.check_array(f"folded W for W of shape {(d_in, d)}", Wf, want_W, hints=[
            ("W was scaled by gamma / running_var (no square root)", W * gamma / (rv + EPS)),
            ("W was not scaled", W),
        ])
        h.check_array(f"folded b for W of shape {(d_in, d)}", bf, want_b, hints=[
            ("the running mean was not subtracted from b", b * scale + beta),
            ("b was not scaled: fold (b - running_mean) * scale + beta", b - rm * scale + beta),
            ("beta is missing from the folded bias", (b - rm) * scale),
        ])
        x = r.standard_normal((4, d_in))
        h.check_array("x @ W_folded + b_folded compared with eval-mode BN of x @ W + b",
                      x @ Wf + bf, ref.batchnorm_eval(x @ W + b, gamma, beta, rm, rv))


# --- spot the bug: a buggy BatchNorm2d, fixed ---------------------------------------

FIX2D_SHAPES = [(4, 3, 2, 5), (2, 3, 4, 3), (3, 4, 4, 2)]  # W != C, W == C, H == C


def _fix2d_layer(cls, c, momentum=0.1):
    layer = h.call(cls, c, momentum=momentum)
    for name in ("gamma", "beta", "running_mean", "running_var", "training"):
        _attr(layer, name)
    return layer


@register("fix2d_train")
def fix2d_train(cls):
    r = rng(431)
    for shape in FIX2D_SHAPES:
        c = shape[1]
        layer, want = _fix2d_layer(cls, c), ref.BatchNorm(c)
        layer.gamma, layer.beta = r.uniform(0.5, 2.5, c), r.uniform(-3, 3, c)
        want.gamma, want.beta = layer.gamma.copy(), layer.beta.copy()
        for i, x in enumerate(_batches(r, shape, 3)):
            what = f"training-mode output for batch {i + 1} of shape {shape}"
            h.check_array(what, per_channel_call(layer.forward, x.copy()), want.forward(x))
            for name in ("running_mean", "running_var"):
                h.check_shape(f"{name} after {i + 1} training batches of shape {shape} (it must stay (C,) = ({c},))",
                              _attr(layer, name), (c,))


@register("fix2d_running_values")
def fix2d_running_values(cls):
    r = rng(432)
    for shape, momentum in [((4, 3, 2, 5), 0.1), ((2, 3, 4, 3), 0.3), ((3, 4, 4, 2), 0.1)]:
        c = shape[1]
        layer, want = _fix2d_layer(cls, c, momentum), ref.BatchNorm(c, momentum=momentum)
        batches = _batches(r, shape)
        for i, x in enumerate(batches):
            per_channel_call(layer.forward, x.copy())
            want.forward(x)
        hints = buffer_hints(shape, batches, momentum)
        old_rm, old_rv = np.zeros(c), np.ones(c)
        m = shape[0] * shape[2] * shape[3]
        for x in batches:
            old_rm = (momentum * old_rm + (1 - momentum) * x.mean(axis=(0, 2, 3)))
            old_rv = (momentum * old_rv + (1 - momentum) * x.var(axis=(0, 2, 3)) * m / (m - 1))
        hints.append(("the momentum still weights the old value: each batch overwrites 1 - momentum of it",
                      (old_rm, old_rv)))
        what = f"after {len(batches)} training batches of shape {shape}, momentum={momentum}"
        h.check_array(f"running_mean {what}", _attr(layer, "running_mean"), want.running_mean,
                      hints=[(msg, v[0]) for msg, v in hints])
        h.check_array(f"running_var {what}", _attr(layer, "running_var"), want.running_var,
                      hints=[(msg, v[1]) for msg, v in hints])


@register("fix2d_eval")
def fix2d_eval(cls):
    r = rng(433)
    for shape in [(2, 3, 4, 3), (1, 3, 2, 3), (2, 4, 3, 5), (1, 4, 4, 4)]:
        c = shape[1]
        layer, want = _fix2d_layer(cls, c), ref.BatchNorm(c)
        gamma, beta, rm, rv = _eval_params(r, c)
        for obj in (layer, want):
            obj.gamma, obj.beta, obj.running_mean, obj.running_var = gamma.copy(), beta.copy(), rm.copy(), rv.copy()
        layer.training = False
        want.eval()
        x = images(r, shape)
        hints = eval_hints(x, gamma, beta, rm, rv)
        if shape[3] == c:
            lined_up_with_w = (x - rm) / np.sqrt(rv + EPS) * gamma.reshape(1, c, 1, 1) + beta.reshape(1, c, 1, 1)
            hints.append(("the running statistics lined up with the last axis W: reshape them to (1, C, 1, 1)",
                          lined_up_with_w))
        what = f"eval-mode output for x of shape {shape}"
        h.check_array(what, per_channel_call(layer.forward, x.copy()), want.forward(x), hints=hints)
        for name, value in [("running_mean", rm), ("running_var", rv)]:
            if not np.array_equal(np.asarray(getattr(layer, name)).reshape(-1), value):
                raise AssertionError(f"{name} changed in eval mode: eval must never update the running statistics")


@register("q_running_var")
def q_running_var(answer):
    values = np.array([2.0, 4.0, 6.0, 8.0, 10.0])
    biased = values.var()
    layer = ref.BatchNorm(1)
    layer.forward(values.reshape(5, 1))
    unbiased = biased * 5 / 4
    number("Question 1 (the running variance after one batch)", answer, layer.running_var[0], misconceptions=[
        (_blend(1.0, biased, 0.1), "That blends in the biased batch variance (divided by m = 5); the running "
                                   "variance takes the unbiased one, times m / (m - 1)."),
        (_blend(1.0, unbiased, 0.9), "That weights the new batch by 0.9 and the old value by 0.1: the Keras / "
                                     "CS231n direction. PyTorch's momentum 0.1 is the weight of the new batch."),
        (_blend(1.0, biased, 0.9), "That weights the new batch by 0.9 (the Keras / CS231n direction; PyTorch's "
                                   "momentum 0.1 is the new batch's weight), and blends in the biased batch "
                                   "variance instead of the unbiased one."),
        (_blend(0.0, unbiased, 0.1), "That starts running_var at 0; PyTorch starts it at 1."),
        (unbiased, "That is the batch's unbiased variance alone: the running variance keeps 1 - momentum of its "
                   "old value."),
        (biased, "That is the batch's biased variance alone: the running variance keeps 1 - momentum of its old "
                 "value, and takes the unbiased batch variance."),
        (_blend(0.0, values.mean(), 0.1), "That is the running mean after the batch, not the running variance."),
    ])


@register("q_eval_buffers")
def q_eval_buffers(answer):
    r = rng(441)
    x = 2 * r.standard_normal((8, 3)) + np.array([5.0, -3.0, 10.0])
    layer = ref.BatchNorm(3)
    buffers = lambda: np.concatenate([layer.running_mean, layer.running_var])  # noqa: E731
    initial = buffers()
    out_eval = layer.eval().forward(x)
    after_eval = buffers()
    layer.train().forward(x)
    changed = (not np.array_equal(after_eval, initial), not np.array_equal(buffers(), after_eval))  # eval, train
    if changed == (False, True):
        right = "b" if np.allclose(out_eval, x / np.sqrt(1 + EPS)) else "d"
    else:
        right = {(True, True): "a", (False, False): "c"}[changed]
    choice("Question 2 (which call changes the buffers)", answer, right, "abcd", {
        "a": "An eval-mode forward must not feed the running average: each prediction would then change the "
             "statistics the next one uses, and depend on what was predicted before.",
        "c": "The buffers are not learned: no gradient reaches them, and backward computes only dx, dgamma and "
             "dbeta. A training-mode forward blends the batch statistics into them (section 2's formulas).",
        "d": "Eval mode normalises with the running statistics, not with the batch's: each feature goes through the "
             "fixed map of section 3, whatever the batch is.",
    })
