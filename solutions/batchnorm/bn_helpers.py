"""Helpers shared by every notebook of the batch-norm course.

Comparing arrays, relative errors, numerical gradients and read-only inputs; a figure
of the elements one statistic averages (lessons 1 and 6); for lessons 5 and 6, the parts of a small network that are not batch norm (data,
affine and ReLU layers, a stand-in for the batch-norm layer, softmax loss, SGD); for lesson 7, a convolution
through im2col and global average pooling, with their backward passes.
Every ``check_*`` function returns None when the check passes and raises
``AssertionError`` with a message that says what is wrong when it fails.

Test cells run students' code only through these helpers (``call``, ``numerical_gradient``,
``init_network``, ``train_network``, ``accuracy``). A warning raised inside is printed once as a
note on stdout instead of on stderr, where nbgrader's *Validate* would count it as a failed test.
"""
import contextlib
import functools
import re
import warnings

import numpy as np

__all__ = [
    "warnings_as_notes",
    "rel_error",
    "numerical_gradient",
    "readonly",
    "call",
    "check_shape",
    "check_array",
    "check_close",
    "check_choice",
    "check_number",
    "naming_broadcast_errors",
    "plot_elements",
    "make_spirals",
    "affine_forward",
    "affine_backward",
    "relu_forward",
    "relu_backward",
    "ScaleShift",
    "softmax_loss",
    "init_network",
    "set_mode",
    "train_network",
    "accuracy",
    "im2col",
    "col2im",
    "conv_forward",
    "conv_backward",
    "global_avg_pool_forward",
    "global_avg_pool_backward",
]


@contextlib.contextmanager
def warnings_as_notes(who):
    """Record the warnings raised inside the block; print each once on stdout as ``note: <who> warned: ...``."""
    with warnings.catch_warnings(record=True) as caught:
        try:
            yield
        finally:
            for text in dict.fromkeys(f"note: {who} warned: {w.category.__name__}: {w.message}" for w in caught):
                print(text)


def _notes_warnings(helper):
    """Decorator: warnings raised while ``helper`` runs become notes (see ``warnings_as_notes``)."""
    @functools.wraps(helper)
    def wrapper(*args, **kwargs):
        with warnings_as_notes(f"code run by {helper.__name__}"):
            return helper(*args, **kwargs)
    return wrapper


def rel_error(a, b):
    """Largest relative error ``|a - b| / max(1e-8, |a| + |b|)`` over all elements."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b)), initial=0.0))


@_notes_warnings
def numerical_gradient(f, x, dout, h=1e-5):
    """Centred-difference gradient of ``sum(f(x) * dout)`` with respect to ``x``.

    f: function of one array returning an array shaped like ``dout``.
    x: array of any shape (float64); perturbed element by element, restored after.
    Returns an array shaped like ``x``.
    """
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        plus = np.sum(f(x) * dout)
        x[i] = old - h
        minus = np.sum(f(x) * dout)
        x[i] = old
        grad[i] = (plus - minus) / (2 * h)
    return grad


def readonly(*arrays):
    """Read-only copies of the arrays: writing into one raises ``ValueError``, and so does making it writeable."""
    copies = []
    for a in arrays:
        a = np.asarray(a)
        if a.dtype.hasobject:
            c = np.array(a)
            c.flags.writeable = False
        else:  # backed by bytes, which numpy never lets anyone write
            c = np.frombuffer(a.tobytes(), dtype=a.dtype, count=a.size).reshape(a.shape)
        copies.append(c)
    return copies[0] if len(copies) == 1 else tuple(copies)


def _readonly_arrays(value, depth=0):
    """The read-only arrays among ``value``, in tuples, lists and dicts too."""
    if type(value) is np.ndarray:
        return [] if value.flags.writeable else [value]
    if type(value) in (tuple, list) and depth < 10:
        return [a for v in value for a in _readonly_arrays(v, depth + 1)]
    if type(value) is dict and depth < 10:
        return [a for v in value.values() for a in _readonly_arrays(v, depth + 1)]
    return []


def call(fn, *args, **kwargs):
    """Call a student's function or class; a write into a read-only input becomes a clear failure.

    A write is caught however it is made: in place (``x -= mean``), after unlocking the array, or through
    another view of its memory. Warnings raised inside become notes on stdout (see ``warnings_as_notes``).
    """
    name = getattr(fn, "__name__", "the function")
    inputs = [(a, a.tobytes(), a.shape, a.dtype) for a in _readonly_arrays((args, kwargs))]
    try:
        with warnings_as_notes(name):
            result = fn(*args, **kwargs)
    except ValueError as err:
        # the error's own words (``message``, where the grader describes the call around them), not the call's
        words = getattr(err, "message", None)
        words = words if isinstance(words, str) else str(err)
        if "read-only" in words or "WRITEABLE" in words:
            raise AssertionError(_writes_into_input(name, err)) from None
        raise
    if any((a.shape, a.dtype) != (shape, dtype) or a.tobytes() != data for a, data, shape, dtype in inputs):
        raise AssertionError(_writes_into_input(name, "a read-only input had changed when the call returned"))
    return result


def _writes_into_input(name, why):
    return (f"{name} writes into one of its input arrays ({why}). Compute new arrays instead of modifying the "
            "inputs in place (e.g. `x = x - mean`, not `x -= mean`).")


def _as_array(name, value):
    if value is None:
        raise AssertionError(f"{name} is None: did the function forget to `return` it?")
    # numbers, arrays and what converts itself (__array__); numpy would recurse into any other sequence-like object
    if not (isinstance(value, (np.ndarray, np.generic, int, float, complex)) or hasattr(type(value), "__array__")):
        raise AssertionError(f"{name} is a {type(value).__name__}; expected a numpy array")
    return np.asarray(value)


def check_shape(name, actual, expected_shape):
    """Fail unless ``actual`` is an array of shape ``expected_shape``."""
    actual = _as_array(name, actual)
    expected_shape = tuple(expected_shape)
    if actual.shape != expected_shape:
        hint = ""
        if actual.size == int(np.prod(expected_shape)):
            hint = " (same number of elements: a missing or extra keepdims/reshape?)"
        raise AssertionError(f"{name} has shape {actual.shape}, expected {expected_shape}{hint}")


def _default_tol(dtype):
    return 1e-4 if dtype == np.float32 else 1e-7


def check_array(name, actual, expected, tol=None, hints=(), check_dtype=True):
    """Fail unless ``actual`` matches ``expected`` in shape, dtype and values.

    name: what is compared, used in the message (e.g. "out").
    tol: largest allowed relative error (see ``rel_error``); by default 1e-7,
        or 1e-4 when ``expected`` is float32.
    hints: pairs ``(mistake, wrong_value)``; when ``actual`` matches a
        ``wrong_value`` instead of ``expected``, the message names ``mistake``.
    """
    expected = np.asarray(expected)
    if tol is None:
        tol = _default_tol(expected.dtype)
    actual = _as_array(name, actual)
    for mistake, wrong in hints:
        wrong = np.asarray(wrong)
        if actual.shape == wrong.shape and actual.shape != expected.shape and _close(actual, wrong, tol):
            raise AssertionError(
                f"{name} has shape {actual.shape}, expected {expected.shape}. Likely mistake: {mistake}"
            )
    check_shape(name, actual, expected.shape)
    if check_dtype and actual.dtype != expected.dtype:
        raise AssertionError(
            f"{name} has dtype {actual.dtype}, expected {expected.dtype} (keep the input's dtype)"
        )
    if not np.all(np.isfinite(actual)):
        bad = np.argwhere(~np.isfinite(actual))[0]
        raise AssertionError(f"{name} contains NaN or inf (first at index {tuple(int(i) for i in bad)})")
    if _close(actual, expected, tol):
        return
    for mistake, wrong in hints:
        wrong = np.asarray(wrong)
        if wrong.shape == actual.shape and _close(actual, wrong, tol):
            raise AssertionError(f"{name} has wrong values. Likely mistake: {mistake}")
    a = actual.astype(np.float64)
    e = expected.astype(np.float64)
    err = np.abs(a - e) / np.maximum(1e-8, np.abs(a) + np.abs(e))
    where = np.unravel_index(np.argmax(err), err.shape) if err.ndim else ()
    where = tuple(int(i) for i in where)
    raise AssertionError(
        f"{name} has wrong values: largest relative error {err.max():.3g} at index {where} "
        f"(got {a[where]:.6g}, expected {e[where]:.6g}); tolerance {tol:g}"
    )


def check_close(name, actual, expected, tol=1e-7):
    """Fail unless the number ``actual`` is within relative error ``tol`` of ``expected``."""
    try:
        value = float(actual)
    except (TypeError, ValueError):
        raise AssertionError(f"{name} is {actual!r}; expected a number") from None
    if not rel_error(value, expected) <= tol:
        raise AssertionError(f"{name} is {value:.6g}, expected {float(expected):.6g} (tolerance {tol:g})")


_SHAPE = re.compile(r"\((\d+(?:,\s*\d+)*),?\s*\)")


@contextlib.contextmanager
def naming_broadcast_errors(x_shape):
    """Name the likely mistake when numpy's "could not be broadcast" error is raised inside the block.

    x_shape: the shape of the input ``(N, C, ...)``. When an array of shape ``(C,)`` met one with ``C`` on axis 1,
    the error becomes an AssertionError saying so: numpy lines shapes up from the right, so ``(C,)`` lines up with
    the last axis, not with the channels. Any other error passes unchanged.
    """
    try:
        yield
    except (ValueError, AssertionError) as err:  # AssertionError: a failure message that quotes numpy's error
        text = str(err)
        at = text.find("could not be broadcast")
        shapes = [tuple(int(n) for n in m.split(",")) for m in _SHAPE.findall(text[at:])] if at >= 0 else []
        c = x_shape[1]
        if (c,) in shapes and any(len(s) >= 3 and s[1] == c for s in shapes):
            per_channel = "(1, C" + ", 1" * (len(x_shape) - 2) + ")"
            raise AssertionError(
                f"{text.strip().rstrip('.')}. Likely mistake: a per-channel array of shape (C,) = ({c},) met an array "
                f"with its C = {c} channels on axis 1. numpy lines shapes up from the right, so (C,) lines up with "
                f"the last axis, not with axis 1: reshape gamma and beta (and any other per-channel array) to "
                f"{per_channel}, or reduce with keepdims=True") from None
        raise


def check_choice(name, answer, options):
    """Fail unless ``answer`` is one of the letters of ``options`` (e.g. "abcd"), in either case: the form of an
    answer to a multiple-choice question, not whether it is right (the graded test knows that)."""
    if not (isinstance(answer, str) and len(answer.strip()) == 1 and answer.strip().lower() in options):
        letters = ", ".join(repr(o) for o in options)
        raise AssertionError(f"{name} is {answer!r}; answer with one letter: {letters}")


def check_number(name, answer):
    """Fail unless ``answer`` is a finite number: the form of a numeric answer, not whether it is right."""
    try:
        value = float(answer)
    except (TypeError, ValueError):
        raise AssertionError(f"{name} is {answer!r}; answer with a number") from None
    if not np.isfinite(value):
        raise AssertionError(f"{name} is {value}; answer with a finite number")


def _close(a, b, tol):
    return a.shape == b.shape and rel_error(a, b) <= tol


# --- figures ---------------------------------------------------------------------

def plot_elements(ax, averaged, title=""):
    """Draw ``x: (N, C, H, W)`` on ``ax`` as N rows of C panels of H x W cells, colouring the cells where
    ``averaged`` (a boolean array shaped like x) is True: for example the elements one statistic averages."""
    n, c, h, w = np.shape(averaged)
    for i in range(n):
        for j in range(c):                                              # one panel, one blank cell apart
            ax.pcolormesh(np.arange(w + 1) + j * (w + 1), np.arange(h + 1) + i * (h + 1),
                          np.asarray(averaged[i, j], dtype=float), cmap="Oranges", vmin=0, vmax=1.4,
                          edgecolors="grey", linewidth=0.5)
    ax.set_xticks([j * (w + 1) + w / 2 for j in range(c)], [f"c={j}" for j in range(c)])
    ax.set_yticks([i * (h + 1) + h / 2 for i in range(n)], [f"n={i}" for i in range(n)])
    ax.tick_params(length=0)
    ax.set_aspect("equal")
    ax.invert_yaxis()
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_title(title)


# --- a small network (lessons 5 and 6) -----------------------------------------------------

def make_spirals(n_per_class=100, classes=3, noise=0.2, seed=0):
    """Interleaved 2-D spirals: x (n_per_class * classes, 2) float64, labels y (n,) in 0..classes-1."""
    r = np.random.default_rng(seed)
    radius = np.tile(np.linspace(0.05, 1.0, n_per_class), classes)
    label = np.repeat(np.arange(classes), n_per_class)
    angle = label * 2 * np.pi / classes + radius * 4.0 + r.normal(0, noise, radius.size)
    x = np.stack([radius * np.sin(angle), radius * np.cos(angle)], axis=1)
    return x, label


def affine_forward(x, W, b):
    """x: (N, D_in), W: (D_in, D), b: (D,) -> out (N, D), cache."""
    return x @ W + b, (x, W)


def affine_backward(dout, cache):
    """dout: (N, D) -> dx (N, D_in), dW (D_in, D), db (D,)."""
    x, W = cache
    return dout @ W.T, x.T @ dout, dout.sum(axis=0)


def relu_forward(x):
    """Elementwise max(x, 0) -> out, cache."""
    return np.maximum(x, 0), x


def relu_backward(dout, cache):
    """Passes the gradient where the input was positive."""
    return dout * (cache > 0)


class ScaleShift:
    """A stand-in for a batch-norm layer, for testing a network: ``gamma * x + beta`` per feature, x: (N, D).

    It has what a network uses of the layer's interface (``forward``, ``backward``, ``training``, ``gamma``,
    ``beta``, ``dgamma``, ``dbeta``) and none of its normalisation; both modes compute the same. Lesson 5's tests
    put it into the student's network, so that they test the network and not the pasted layer.
    """

    def __init__(self, num_features):
        self.gamma = np.ones(num_features)
        self.beta = np.zeros(num_features)
        self.dgamma = self.dbeta = None
        self.training = True
        self.cache = None

    def forward(self, x):
        self.cache = x
        return self.gamma * x + self.beta

    def backward(self, dout):
        if self.cache is None:
            raise RuntimeError("ScaleShift.backward was called before its forward: "
                               "the network's forward pass never ran this layer")
        self.dgamma, self.dbeta = (dout * self.cache).sum(axis=0), dout.sum(axis=0)
        return self.gamma * dout


def softmax_loss(scores, y):
    """Mean softmax cross-entropy of scores (N, C) for labels y (N,) -> loss, dscores (N, C)."""
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = scores.shape[0]
    dscores = np.exp(log_p)
    dscores[np.arange(n), y] -= 1
    return -log_p[np.arange(n), y].mean(), dscores / n


@_notes_warnings
def init_network(dims, layer=None, weight_scale=None, seed=0):
    """Parameters of an MLP: affine - [layer] - ReLU blocks, then a last affine layer.

    dims: [D_in, H_1, ..., H_k, C]. layer: a class such as BatchNorm, built as layer(H_i)
    after every hidden affine layer; None for a plain MLP. weight_scale: std of every W,
    or None for He initialisation sqrt(2 / fan_in). Returns {"W": [...], "b": [...], "bn": [...]}.
    """
    r = np.random.default_rng(seed)
    net = {"W": [], "b": [], "bn": []}
    for i, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:])):
        scale = np.sqrt(2.0 / d_in) if weight_scale is None else weight_scale
        net["W"].append(scale * r.standard_normal((d_in, d_out)))
        net["b"].append(np.zeros(d_out))
        if layer is not None and i < len(dims) - 2:
            net["bn"].append(layer(d_out))
    return net


def set_mode(net, training):
    """Put every normalisation layer of the network in training or eval mode."""
    for bn in net["bn"]:
        bn.training = training


@_notes_warnings
def train_network(net, forward, backward, x, y, lr=0.5, epochs=30, batch_size=50, seed=0):
    """Plain SGD on softmax cross-entropy; returns the loss of every step.

    forward(net, x) -> (scores, caches); backward(net, dscores, caches) -> grads with keys
    "W", "b" and, with normalisation layers, "gamma", "beta" (lists, one entry per layer).
    """
    r = np.random.default_rng(seed)
    set_mode(net, True)
    losses = []
    for _ in range(epochs):
        order = r.permutation(len(x))
        for start in range(0, len(x) - batch_size + 1, batch_size):
            idx = order[start:start + batch_size]
            scores, caches = forward(net, x[idx])
            loss, dscores = softmax_loss(scores, y[idx])
            grads = backward(net, dscores, caches)
            for key in ("W", "b"):
                for p, g in zip(net[key], grads[key]):
                    p -= lr * g
            for bn, dgamma, dbeta in zip(net["bn"], grads.get("gamma", []), grads.get("beta", [])):
                bn.gamma = bn.gamma - lr * dgamma
                bn.beta = bn.beta - lr * dbeta
            losses.append(loss)
    return np.array(losses)


@_notes_warnings
def accuracy(net, forward, x, y):
    """Fraction of correct predictions in eval mode."""
    set_mode(net, False)
    scores, _ = forward(net, x)
    set_mode(net, True)
    return float((scores.argmax(axis=1) == y).mean())


# --- a small convolutional network (lesson 7) ----------------------------------------------

def im2col(x, kh, kw, stride=1, pad=0):
    """Patches of ``x: (N, C, H, W)`` as rows: ``cols`` of shape ``(N * H_out * W_out, C * kh * kw)``.

    Row ``(n * H_out + i) * W_out + j`` holds the ``C x kh x kw`` patch whose top-left corner is at
    ``(i * stride - pad, j * stride - pad)`` of sample ``n``, flattened in ``(C, kh, kw)`` order (the order of a
    weight ``w[f]: (C, kh, kw)``). Zero padding. ``H_out = (H + 2 * pad - kh) // stride + 1``, ``W_out`` alike.
    Returns ``(cols, (H_out, W_out))``.
    """
    n, c, h, w = x.shape
    h_out, w_out = (h + 2 * pad - kh) // stride + 1, (w + 2 * pad - kw) // stride + 1
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    patches = np.empty((n, h_out, w_out, c, kh, kw), dtype=x.dtype)
    for di in range(kh):                                   # one slice per kernel offset: kh * kw copies
        for dj in range(kw):
            patches[:, :, :, :, di, dj] = xp[:, :, di:di + stride * h_out:stride,
                                             dj:dj + stride * w_out:stride].transpose(0, 2, 3, 1)
    return patches.reshape(n * h_out * w_out, c * kh * kw), (h_out, w_out)


def col2im(cols, x_shape, kh, kw, stride=1, pad=0):
    """The adjoint of ``im2col``: add each row of ``cols`` back onto the patch it came from.

    cols: ``(N * H_out * W_out, C * kh * kw)``; x_shape: ``(N, C, H, W)``. Overlapping patches add up, which is
    what the gradient needs. Returns an array of shape ``x_shape``.
    """
    n, c, h, w = x_shape
    h_out, w_out = (h + 2 * pad - kh) // stride + 1, (w + 2 * pad - kw) // stride + 1
    patches = cols.reshape(n, h_out, w_out, c, kh, kw)
    xp = np.zeros((n, c, h + 2 * pad, w + 2 * pad), dtype=cols.dtype)
    for di in range(kh):
        for dj in range(kw):
            xp[:, :, di:di + stride * h_out:stride, dj:dj + stride * w_out:stride] += \
                patches[:, :, :, :, di, dj].transpose(0, 3, 1, 2)
    return xp[:, :, pad:pad + h, pad:pad + w]


def conv_forward(x, w, b, stride=1, pad=0):
    """Convolution (cross-correlation, as in PyTorch's ``nn.Conv2d``) through ``im2col``.

    x: (N, C, H, W); w: (F, C, HH, WW); b: (F,). Zero padding ``pad`` on each side.
    Returns ``out: (N, F, H_out, W_out)`` with ``H_out = (H + 2 * pad - HH) // stride + 1`` (``W_out`` alike),
    and a cache for ``conv_backward``.
    """
    f, _, kh, kw = w.shape
    cols, (h_out, w_out) = im2col(x, kh, kw, stride, pad)
    n = x.shape[0]
    # (N, H_out * W_out, F): one small matrix product per image (one long product would be split across threads,
    # which at these sizes costs more than it saves)
    out = np.matmul(cols.reshape(n, h_out * w_out, -1), w.reshape(f, -1).T) + b
    out = out.reshape(n, h_out, w_out, f).transpose(0, 3, 1, 2)
    return out, (cols, x.shape, w, stride, pad)


def conv_backward(dout, cache):
    """Gradients of ``conv_forward``. dout: (N, F, H_out, W_out) -> dx (N, C, H, W), dw (F, C, HH, WW), db (F,)."""
    cols, x_shape, w, stride, pad = cache
    f, _, kh, kw = w.shape
    n = x_shape[0]
    d = dout.transpose(0, 2, 3, 1).reshape(n, -1, f)       # (N, H_out * W_out, F): rows in im2col's order
    rows = cols.reshape(n, d.shape[1], -1)                 # (N, H_out * W_out, C * HH * WW)
    dw = np.matmul(d.transpose(0, 2, 1), rows).sum(axis=0).reshape(w.shape)   # d.T @ cols, image by image
    dx = col2im(np.matmul(d, w.reshape(f, -1)).reshape(cols.shape), x_shape, kh, kw, stride, pad)
    return dx, dw, d.sum(axis=(0, 1))


def global_avg_pool_forward(x):
    """Mean over the spatial positions. x: (N, C, H, W) -> out (N, C), cache."""
    return x.mean(axis=(2, 3)), x.shape


def global_avg_pool_backward(dout, cache):
    """dout: (N, C) -> dx (N, C, H, W): each position gets ``dout / (H * W)``."""
    n, c, h, w = cache
    return np.broadcast_to(dout[:, :, None, None] / (h * w), cache).copy()
