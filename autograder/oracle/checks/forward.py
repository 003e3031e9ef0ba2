"""Hidden checks for lesson 2: the training-mode forward pass, (N, D) and (N, C, H, W)."""
import numpy as np

from .. import reference as ref
from . import helpers as h
from . import questions, register, rng

EPS = 1e-5


def features(r, n, d, dtype=np.float64):
    """(N, D) input with offsets and scales that expose mistakes; the last feature has a tiny variance."""
    scale = r.uniform(0.5, 6.0, size=d)
    scale[-1] = 0.003  # var ~ 1e-5: where eps sits matters
    return (scale * r.standard_normal((n, d)) + r.uniform(-12, 12, size=d)).astype(dtype)


def unpack_forward(result, name):
    """(out, cache) from a forward function's result, or a clear failure."""
    if not (isinstance(result, tuple) and len(result) == 2):
        raise AssertionError(f"{name} must return a tuple (out, cache); got {type(result).__name__}")
    return result


def normalize_hints(x, eps=EPS):
    """Wrong normalisations of x: (N, D) (gamma = 1, beta = 0), each with the mistake it shows."""
    n = x.shape[0]
    mu, var = x.mean(axis=0), x.var(axis=0)
    xc = x - mu
    mu2 = mu / n
    hints = [
        ("normalised over axis 1 (per sample: that is layer norm); batch norm uses axis 0",
         (x - x.mean(axis=1, keepdims=True)) / np.sqrt(x.var(axis=1, keepdims=True) + eps)),
        ("used the unbiased variance (ddof=1, divide by N-1); normalising uses the biased one (divide by N)",
         xc / np.sqrt(x.var(axis=0, ddof=1) + eps)),
        ("added eps outside the square root: use sqrt(var + eps)", xc / (np.sqrt(var) + eps)),
        ("left out eps: use sqrt(var + eps)", xc / np.sqrt(var)),
        ("divided by var + eps instead of sqrt(var + eps)", xc / (var + eps)),
        ("divided the mean by N twice", (x - mu2) / np.sqrt(((x - mu2) ** 2).mean(axis=0) + eps)),
        ("computed the variance around 0 instead of around the mean", xc / np.sqrt((x ** 2).mean(axis=0) + eps)),
        ("did not subtract the mean", x / np.sqrt(var + eps)),
    ]
    return hints


def affine_hints(plain, gamma, beta):
    return [
        ("swapped gamma and beta", beta * plain + gamma),
        ("left out gamma", plain + beta),
        ("left out beta", gamma * plain),
        ("added beta before scaling by gamma", gamma * (plain + beta)),
    ]


@register("fwd_normalizes")
def fwd_normalizes(fn):
    r = rng(201)
    for n, d in [(7, 3), (4, 9), (2, 5), (16, 6)]:
        x = features(r, n, d)
        ones, zeros = np.ones(d), np.zeros(d)
        out, _ = unpack_forward(h.call(fn, x.copy(), ones, zeros), "batchnorm_forward")
        want, _ = ref.batchnorm_forward(x, ones, zeros)
        h.check_array(f"out for x of shape {(n, d)} with gamma=1, beta=0", out, want, hints=normalize_hints(x))
    x = features(r, 5, 4)
    out, _ = unpack_forward(h.call(fn, x.copy(), np.ones(4), np.zeros(4), eps=1e-1), "batchnorm_forward")
    h.check_array("out with eps=0.1", out, ref.batchnorm_forward(x, np.ones(4), np.zeros(4), eps=1e-1)[0],
                  hints=[("ignored the eps argument (used 1e-5)", ref.batchnorm_forward(x, np.ones(4), np.zeros(4))[0])])


@register("fwd_gamma_beta")
def fwd_gamma_beta(fn):
    r = rng(202)
    for n, d in [(6, 4), (3, 5)]:
        x = features(r, n, d)
        gamma, beta = r.uniform(0.5, 2.5, size=d), r.uniform(-3, 3, size=d)
        plain, _ = unpack_forward(h.call(fn, x.copy(), np.ones(d), np.zeros(d)), "batchnorm_forward")
        out, _ = unpack_forward(h.call(fn, x.copy(), gamma.copy(), beta.copy()), "batchnorm_forward")
        plain = np.asarray(plain)
        h.check_array(f"out with gamma, beta of shape {(d,)} (compared with gamma * out(gamma=1, beta=0) + beta)",
                      out, gamma * plain + beta, hints=affine_hints(plain, gamma, beta))


@register("fwd_float32")
def fwd_float32(fn):
    r = rng(203)
    x = features(r, 5, 6, np.float32)
    gamma, beta = np.ones(6, np.float32), np.zeros(6, np.float32)
    out, _ = unpack_forward(h.call(fn, x, gamma, beta), "batchnorm_forward")
    h.check_shape("out", out, x.shape)
    if np.asarray(out).dtype != np.float32:
        raise AssertionError(f"float32 input gave {np.asarray(out).dtype} output; keep the input's dtype "
                             "(avoid np.float64 constants and astype)")


@register("fwd_dtype_mixed")
def fwd_dtype_mixed(fn):
    # owns only "the parameters' dtype does not decide out's": compared with the student's own output for
    # parameters of x's dtype (float32 in, float32 out belongs to fwd_float32)
    r = rng(205)
    for x_dtype, param_dtype in [(np.float32, np.float64), (np.float64, np.float32)]:
        x = features(r, 5, 6, x_dtype)
        gamma, beta = r.uniform(0.5, 2.5, size=6), r.uniform(-3, 3, size=6)
        same, _ = unpack_forward(h.call(fn, x.copy(), gamma.astype(x_dtype), beta.astype(x_dtype)),
                                 "batchnorm_forward")
        mixed, _ = unpack_forward(h.call(fn, x.copy(), gamma.astype(param_dtype), beta.astype(param_dtype)),
                                  "batchnorm_forward")
        same, mixed = np.asarray(same), np.asarray(mixed)
        x_name, p_name = np.dtype(x_dtype).name, np.dtype(param_dtype).name
        if mixed.dtype != same.dtype:
            raise AssertionError(
                f"{x_name} x gave {mixed.dtype} out with {p_name} gamma and beta, but {same.dtype} with {x_name} "
                "ones: out keeps the dtype of x whatever the dtype of gamma and beta (numpy promotes "
                "gamma * xhat to the wider dtype: cast the result, e.g. out.astype(x.dtype))")
        h.check_array(f"out for {x_name} x with {p_name} gamma and beta (compared with your out for {x_name} ones)",
                      mixed, same, tol=1e-3)


@register("fwd_no_mutation")
def fwd_no_mutation(fn):
    r = rng(204)
    x, gamma, beta = h.readonly(features(r, 6, 3), r.uniform(0.5, 2, 3), r.standard_normal(3))
    unpack_forward(h.call(fn, x, gamma, beta), "batchnorm_forward")


# --- spatial -------------------------------------------------------------------

def images(r, shape, dtype=np.float64):
    n, c, hh, w = shape
    scale = r.uniform(0.5, 6.0, size=(1, c, 1, 1))
    shift = r.uniform(-12, 12, size=(1, c, 1, 1))
    return (scale * r.standard_normal(shape) + shift).astype(dtype)


def spatial_hints(x, gamma, beta, eps=EPS):
    n, c, hh, w = x.shape
    g, b = gamma.reshape(1, c, 1, 1), beta.reshape(1, c, 1, 1)

    def over(axes, ddof=0):
        return g * (x - x.mean(axis=axes, keepdims=True)) / np.sqrt(x.var(axis=axes, ddof=ddof, keepdims=True) + eps) + b

    flat = x.reshape(-1, c)
    mixed = ((flat - flat.mean(axis=0)) / np.sqrt(flat.var(axis=0) + eps) * gamma + beta).reshape(x.shape)
    hints = [
        ("reshaped to (-1, C) without first moving C to the last axis, which mixes channels", mixed),
        ("normalised each sample's channel over (2, 3) only (instance norm); include the batch axis 0", over((2, 3))),
        ("normalised over (1, 2, 3) (per sample: layer norm); batch norm uses (0, 2, 3)", over((1, 2, 3))),
        ("normalised over axis 0 only; a channel's statistics use all N*H*W values, axes (0, 2, 3)", over((0,))),
        ("used the unbiased variance (divide by N*H*W - 1); normalising uses the biased one", over((0, 2, 3), ddof=1)),
    ]
    if w == c:
        gl, bl = gamma.reshape(1, 1, 1, c), beta.reshape(1, 1, 1, c)
        xhat = (x - x.mean(axis=(0, 2, 3), keepdims=True)) / np.sqrt(x.var(axis=(0, 2, 3), keepdims=True) + eps)
        hints.append(("gamma and beta of shape (C,) were broadcast along the last axis W; "
                      "reshape them to (1, C, 1, 1)", gl * xhat + bl))
    return hints


@register("spatial_fwd_values")
def spatial_fwd_values(fn):
    r = rng(211)
    for shape in [(3, 5, 2, 7), (2, 4, 3, 5), (4, 2, 1, 3), (2, 3, 4, 3)]:
        x = images(r, shape)
        c = shape[1]
        gamma, beta = r.uniform(0.5, 2.5, size=c), r.uniform(-3, 3, size=c)
        with h.naming_broadcast_errors(shape):
            out, _ = unpack_forward(h.call(fn, x.copy(), gamma.copy(), beta.copy()), "spatial_batchnorm_forward")
        want, _ = ref.spatial_batchnorm_forward(x, gamma, beta)
        h.check_array(f"out for x of shape {shape}", out, want, hints=spatial_hints(x, gamma, beta))


@register("spatial_fwd_float32")
def spatial_fwd_float32(fn):
    r = rng(212)
    x = images(r, (2, 3, 4, 5), np.float32)
    with h.naming_broadcast_errors(x.shape):
        out, _ = unpack_forward(h.call(fn, x, np.ones(3, np.float32), np.zeros(3, np.float32)),
                                "spatial_batchnorm_forward")
    h.check_shape("out", out, x.shape)
    if np.asarray(out).dtype != np.float32:
        raise AssertionError(f"float32 input gave {np.asarray(out).dtype} output; keep the input's dtype")


@register("spatial_fwd_no_mutation")
def spatial_fwd_no_mutation(fn):
    r = rng(213)
    x, gamma, beta = h.readonly(images(r, (3, 2, 4, 5)), r.uniform(0.5, 2, 2), r.standard_normal(2))
    with h.naming_broadcast_errors(x.shape):
        unpack_forward(h.call(fn, x, gamma, beta), "spatial_batchnorm_forward")


# --- concept questions ---------------------------------------------------------

@register("q_xhat_variance_at_eps")
def q_xhat_variance_at_eps(answer):
    column = (np.array([-1.0, 1.0]) * np.sqrt(EPS) + 3.0)[:, None]   # one feature, batch variance eps
    xhat, _ = ref.batchnorm_forward(column, np.ones(1), np.zeros(1), eps=EPS)
    questions.number("The variance of xhat for a feature whose batch variance equals eps", answer, xhat.var(), [
        (1.0, "xhat's variance is var / (var + eps), not always 1: it is close to 1 only where var >> eps."),
        (2 ** -0.5, "That is the standard deviation of xhat; the question asks for its variance."),
        (2.0, "That is (var + eps) / var, the formula upside down: xhat's variance is var / (var + eps)."),
        (EPS, "That is the input's variance; dividing by sqrt(var + eps) rescales it."),
        (0.0, "eps does not drown a variance of its own size: var and eps weigh the same in var + eps."),
    ])


@register("q_undo_normalization")
def q_undo_normalization(answer):
    questions.choice("Which gamma and beta make out equal x", answer, "b", "abcd", {
        "a": "gamma = 1, beta = 0 leave xhat as it is: standardised (mean 0, variance near 1), not the input.",
        "c": "Those divide by the standard deviation again and subtract the mean again: they normalise xhat a "
             "second time. Undoing a division takes a multiplication, and undoing a subtraction an addition.",
        "d": "The normalisation divided by sqrt(var + eps), not by sqrt(var): sqrt(var) undoes it only where "
             "var >> eps, and a feature whose variance is near eps comes back wrong.",
    })
