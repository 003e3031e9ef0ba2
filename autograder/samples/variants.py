"""Answers written differently, and realistic mistakes, for exercising the grader.

Each ``Variant`` rewrites answer cells of one notebook; ``fails`` names the
test cells (grade ids) that must lose their points: the tests that own the
broken behaviour, plus those of functions that call the broken one (the spatial
backward calls the compact backward; the layer calls the pure functions). Correct variants have an
empty ``fails``: they must get full marks. The tests grade every variant with
real nbgrader; the demo uses a few of them.
"""
import ast
from dataclasses import dataclass, field
from typing import Callable

EVERY_ANSWER = "*"  # a Variant's cells key: the change applies to every answer cell of its notebook


@dataclass(frozen=True)
class Change:
    """Replace a whole answer cell (``code``), edit the solution code (``edits``: old -> new), or ``rewrite`` it."""
    code: str = None
    edits: tuple = ()
    rewrite: Callable = None

    def apply(self, solution):
        if self.code is not None:
            return self.code.strip("\n")
        if self.rewrite is not None:
            return self.rewrite(solution)
        for old, new in self.edits:
            if solution.count(old) != 1:
                raise ValueError(f"edit target occurs {solution.count(old)} times, expected once: {old!r}")
            solution = solution.replace(old, new)
        return solution


@dataclass(frozen=True)
class Variant:
    name: str
    notebook: str
    cells: dict  # answer-cell grade id -> Change
    fails: frozenset = field(default_factory=frozenset)
    description: str = ""

    @staticmethod
    def merge(variants):
        """One variant with the changes of several variants of the same notebook (or None)."""
        if not variants:
            return None
        cells = {}
        for v in variants:
            overlap = cells.keys() & v.cells.keys()
            if overlap:
                raise ValueError(f"variants change the same cells: {sorted(overlap)}")
            cells.update(v.cells)
        return Variant("+".join(v.name for v in variants), variants[0].notebook, cells,
                       frozenset().union(*(v.fails for v in variants)))


def edit(*pairs):
    return Change(edits=tuple(pairs))


def code(text):
    return Change(code=text)


L1 = "01_axis_means_keepdims"

CORRECT = [
    Variant("reduced_shape_via_list", L1, {"ex_reduced_shape": code('''
def reduced_shape(shape, axis=None, keepdims=False):
    if axis is None:
        axis = range(len(shape))
    if not isinstance(axis, (tuple, list, range)):
        axis = [axis]
    axis = [a + len(shape) if a < 0 else a for a in axis]
    out = []
    for i, n in enumerate(shape):
        if i not in axis:
            out.append(n)
        elif keepdims:
            out.append(1)
    return out
''')}, description="builds a list; normalises negative axes by adding ndim"),
    Variant("channel_mean_loop_counting", L1, {"ex_channel_mean_loop": code('''
def channel_mean_loop(x, c):
    total, count = 0.0, 0
    for sample in x:
        for row in sample[c]:
            for value in row:
                total += float(value)
                count += 1
    return total / count
''')}, description="iterates over sub-arrays and counts the elements"),
    Variant("standardize_one_pass", L1, {"ex_standardize_columns": code('''
def standardize_columns(x):
    n = x.shape[0]
    mean = x.sum(axis=0) / n
    var = (x * x).sum(axis=0) / n - mean ** 2
    return (x - mean) / np.sqrt(var)
''')}, description="one-pass variance E[x^2] - E[x]^2"),
    Variant("standardize_einsum_transpose", L1, {"ex_standardize_columns": code('''
def standardize_columns(x):
    xt = x.T                                    # (D, N)
    n = xt.shape[1]
    mean = np.einsum("dn->d", xt) / n
    centred = xt - mean[:, None]
    std = np.sqrt(np.einsum("dn,dn->d", centred, centred) / n)
    return (centred / std[:, None]).T
''')}, description="einsum on the transposed input"),
    Variant("channel_stats_transpose_reshape", L1, {"ex_channel_stats": code('''
def channel_stats(x):
    C = x.shape[1]
    flat = np.moveaxis(x, 1, -1).reshape(-1, C)     # (N*H*W, C)
    mean = flat.mean(axis=0).reshape(1, C, 1, 1)
    var = ((flat - flat.mean(axis=0)) ** 2).mean(axis=0).reshape(1, C, 1, 1)
    return mean, var
''')}, description="moves C last, reshapes to (N*H*W, C), two-pass variance"),
    Variant("questions_written_differently_01", L1, {
        "ex_q_layer_norm_axes": code('answer_layer_norm_axes = " B "'),
        "ex_q_values_per_channel": code("answer_values_per_channel = 280.0"),
    }, description="the answers to lesson 1's questions: an uppercase letter with spaces, a float"),
]


L2, L3, L4 = "02_forward", "03_backward", "04_running_statistics"

# lesson 3 and lesson 4's carry-over share a cache layout; this dict-cache pair replaces both
DICT_CACHE_FORWARD = '''
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    mu = np.mean(x, axis=0, keepdims=True)
    xc = x - mu
    var = np.mean(xc * xc, axis=0, keepdims=True)
    std = np.sqrt(var + eps)
    xhat = xc / std
    return gamma * xhat + beta, {"xhat": xhat, "std": std, "gamma": gamma, "xc": xc}
'''
DICT_CACHE_BACKWARD = '''
def batchnorm_backward(dout, cache):
    xhat, std, gamma = cache["xhat"], cache["std"], cache["gamma"]
    g = dout * gamma
    dx = (g - g.mean(axis=0) - xhat * (g * xhat).mean(axis=0)) / std
    return dx, np.einsum("nd,nd->d", dout, xhat), np.einsum("nd->d", dout)
'''

CORRECT += [
    Variant("forward_one_pass_einsum", L2, {"ex_batchnorm_forward": code('''
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    n = x.shape[0]
    s1 = np.einsum("nd->d", x)
    s2 = np.einsum("nd,nd->d", x, x)
    mean = s1 / n
    var = s2 / n - mean * mean                    # one pass: E[x^2] - E[x]^2
    xhat = (x - mean) / np.sqrt(var + eps)
    gamma, beta = np.asarray(gamma, dtype=x.dtype), np.asarray(beta, dtype=x.dtype)
    return xhat * gamma + beta, {"xhat": xhat, "var": var}
''')}, description="one-pass variance, einsum, dict cache, parameters converted to x's dtype"),
    Variant("spatial_forward_via_rows", L2, {"ex_spatial_batchnorm_forward": code('''
def spatial_batchnorm_forward(x, gamma, beta, eps=1e-5):
    N, C, H, W = x.shape
    rows = np.moveaxis(x, 1, -1).reshape(-1, C)
    out, cache = batchnorm_forward(rows, gamma, beta, eps)
    return np.moveaxis(out.reshape(N, H, W, C), -1, 1), (cache, x.shape)
''')}, description="reuses the (N, D) forward through moveaxis and reshape"),
    Variant("questions_written_differently_02", L2, {
        "ex_q_xhat_variance_at_eps": code("answer_xhat_variance_at_eps = 1 / 2"),
        "ex_q_undo_normalization": code('answer_undo_normalization = "B "'),
    }, description="the answers to lesson 2's questions: an expression, an uppercase letter with a space"),
    Variant("backward_dict_cache", L3, {
        "ex_staged_forward": code(DICT_CACHE_FORWARD),
        "ex_staged_backward": code('''
def batchnorm_backward_staged(dout, cache):
    xhat, std, gamma, xc = cache["xhat"], cache["std"], cache["gamma"], cache["xc"]
    m = len(dout)
    dgamma, dbeta = np.sum(dout * xhat, axis=0), np.sum(dout, axis=0)
    dxhat = dout * gamma
    dstd = -np.sum(dxhat * xc, axis=0, keepdims=True) / std ** 2
    dvar = dstd / (2 * std)
    dxc = dxhat / std + 2 * xc * dvar / m         # both branches of xc at once
    dx = dxc - np.sum(dxc, axis=0, keepdims=True) / m
    return dx, dgamma, dbeta
'''),
        "ex_compact_backward": code(DICT_CACHE_BACKWARD),
        "ex_spatial_backward": code('''
def spatial_batchnorm_backward(dout, cache):
    cache2d, (N, C, H, W) = cache
    m = N * H * W
    xhat = np.moveaxis(cache2d["xhat"].reshape(N, H, W, C), 3, 1)      # back to (N, C, H, W)
    std, gamma = cache2d["std"].reshape(1, C, 1, 1), cache2d["gamma"].reshape(1, C, 1, 1)
    dbeta = dout.sum(axis=(0, 2, 3))
    dgamma = (dout * xhat).sum(axis=(0, 2, 3))
    dx = gamma / (m * std) * (m * dout - dbeta.reshape(1, C, 1, 1) - xhat * dgamma.reshape(1, C, 1, 1))
    return dx, dgamma, dbeta
'''),
    }, description="dict cache with keepdims statistics, means instead of sums, einsum; the spatial backward "
                   "directly over (0, 2, 3), per-channel arrays reshaped to (1, C, 1, 1)"),
    Variant("running_written_differently", L4, {
        "ex_carry_over": code(DICT_CACHE_FORWARD + DICT_CACHE_BACKWARD),
        "ex_update_running_stats": code('''
def update_running_stats(running_mean, running_var, batch_mean, batch_var, m, momentum=0.1,
                         num_batches_tracked=1):
    w = momentum if momentum is not None else 1.0 / num_batches_tracked
    new_mean = running_mean + w * (batch_mean - running_mean)
    new_var = running_var.copy()
    new_var *= 1 - w
    new_var += w * batch_var * (m / (m - 1.0))
    return new_mean, new_var
'''),
        "ex_batchnorm_eval": code('''
def batchnorm_eval(x, gamma, beta, running_mean, running_var, eps=1e-5):
    moved = np.moveaxis(x, 1, -1)                 # features last: (..., C)
    out = (moved - running_mean) / np.sqrt(running_var + eps) * gamma + beta
    return np.moveaxis(out, -1, 1)
'''),
        "ex_batchnorm_layer": code('''
class BatchNorm:
    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True):
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        self.C = num_features
        if affine:
            self.gamma, self.beta = np.ones(num_features), np.zeros(num_features)
        else:
            self.gamma = self.beta = None
        if track_running_stats:
            self.running_mean, self.running_var = np.zeros(num_features), np.ones(num_features)
            self.num_batches_tracked = 0
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None
        self.training = True

    def reset_running_stats(self):
        if self.running_mean is not None:
            self.running_mean[:] = 0.0                # in place, as PyTorch does
            self.running_var.fill(1.0)
            self.num_batches_tracked = 0

    def train(self):
        self.training = True

    def eval(self):
        self.training = False

    def forward(self, x):
        batch_stats = self.training or self.running_mean is None
        if batch_stats and np.prod(x.shape) == x.shape[1]:
            raise ValueError("a single value per channel: batch statistics need more than one")
        g = self.gamma if self.gamma is not None else np.ones(self.C)
        b = self.beta if self.beta is not None else np.zeros(self.C)
        if not batch_stats:
            return batchnorm_eval(x, g, b, self.running_mean, self.running_var, self.eps)
        axes = tuple(a for a in range(x.ndim) if a != 1)
        m = x.size // x.shape[1]
        rows = np.moveaxis(x, 1, -1).reshape(m, x.shape[1])
        out, self.cache = batchnorm_forward(rows, g, b, self.eps)
        if self.training and self.running_mean is not None:
            self.num_batches_tracked = self.num_batches_tracked + 1
            self.running_mean, self.running_var = update_running_stats(
                self.running_mean, self.running_var, x.mean(axis=axes), x.var(axis=axes), m,
                momentum=self.momentum, num_batches_tracked=self.num_batches_tracked)
        return np.moveaxis(out.reshape(np.moveaxis(x, 1, -1).shape), -1, 1)

    def backward(self, dout):
        moved = np.moveaxis(dout, 1, -1)
        dx, dgamma, dbeta = batchnorm_backward(moved.reshape(-1, dout.shape[1]), self.cache)
        if self.affine:
            self.dgamma, self.dbeta = dgamma, dbeta
        else:
            self.dgamma = self.dbeta = None
        return np.moveaxis(dx.reshape(moved.shape), -1, 1)
'''),
        "ex_fold_into_linear": code('''
def fold_into_linear(W, b, gamma, beta, running_mean, running_var, eps=1e-5):
    scale = np.diag(gamma / np.sqrt(running_var + eps))
    return W @ scale, (b - running_mean) @ scale + beta
'''),
    }, description="dict-cache carry-over, incremental update, moveaxis eval, train()/eval() return None, "
                   "statistics over axes, options tested through the attributes, an in-place reset, one value per "
                   "channel refused first (the product of x's shape equal to C), folding with a diagonal matrix"),
]

CORRECT += [
    Variant("questions_written_differently_03", L3, {"ex_q_dx_sum": code('answer_dx_sum = " B "')},
            description="the answer to lesson 3's question: an uppercase letter with spaces"),
    Variant("questions_written_differently_04", L4, {"ex_q_running_var": code("answer_running_var = 19 / 10"),
                                                     "ex_q_eval_buffers": code("answer_eval_buffers = 'B '")},
            description="the answers to lesson 4's questions: an expression, an uppercase letter with a space"),
]

L5 = "05_batchnorm_in_a_network"

CORRECT += [
    Variant("network_written_differently", L5, {
        "ex_layernorm_forward": code('''
def layernorm_forward(x, gamma, beta, eps=1e-5):
    xt = x.T                                      # (D, N): examples become columns
    xhat = (xt - xt.mean(axis=0)) / np.sqrt(xt.var(axis=0) + eps)
    return xhat.T * gamma + beta
'''),
        "ex_network_forward": code('''
def network_forward(net, x, record=None):
    caches = []
    hidden = len(net["W"]) - 1
    for i, (W, b) in enumerate(zip(net["W"], net["b"])):
        z = x @ W + b
        if i == hidden:
            caches.append({"x": x, "W": W})
            return z, caches
        if net["bn"]:
            z = net["bn"][i].forward(z)
        mask = z > 0
        caches.append({"x": x, "W": W, "mask": mask})
        x = z * mask
        if record is not None:
            record.append(x)
'''),
        "ex_network_backward": code('''
def network_backward(net, dscores, caches):
    grads = {"W": [], "b": [], "gamma": [], "beta": []}
    d = dscores
    for i in range(len(caches) - 1, -1, -1):
        c = caches[i]
        if "mask" in c:
            d = d * c["mask"]
            if net["bn"]:
                d = net["bn"][i].backward(d)
                grads["gamma"].insert(0, net["bn"][i].dgamma)
                grads["beta"].insert(0, net["bn"][i].dbeta)
        grads["W"].insert(0, c["x"].T @ d)
        grads["b"].insert(0, d.sum(axis=0))
        d = d @ c["W"].T
    return grads
'''),
    }, description="layer norm through a transpose; dict caches with ReLU masks; gradients built by insert"),
]

CORRECT += [
    Variant("questions_written_differently_05", L5, {"ex_q_preprocessing": code('answer_preprocessing = " C "'),
                                                     "ex_q_bias_before_bn": code("answer_bias_before_bn = 'B'")},
            description="the questions' letters in upper case, with spaces"),
]

L6 = "06_normalization_family"

CORRECT += [
    Variant("family_written_differently", L6, {
        "ex_layernorm_forward": code('''
def layernorm_forward(x, gamma, beta, eps=1e-5):
    # layer norm is batch norm of the transpose: lesson 4's forward on (D, N)
    n = x.shape[0]
    plain, bn_cache = batchnorm_forward(x.T, np.ones(n), np.zeros(n), eps)
    return plain.T * gamma + beta, {"bn": bn_cache, "gamma": gamma, "xhat": plain.T}
'''),
        "ex_layernorm_backward": code('''
def layernorm_backward(dout, cache):
    # the change of axis, through lesson 3's backward on the transpose (its gamma is 1)
    dxt, _, _ = batchnorm_backward((dout * cache["gamma"]).T, cache["bn"])
    return dxt.T, np.einsum("nd,nd->d", dout, cache["xhat"]), np.einsum("nd->d", dout)
'''),
        "ex_groupnorm_forward": code('''
def groupnorm_forward(x, gamma, beta, G, eps=1e-5):
    N, C, H, W = x.shape
    g = x.reshape(N, G, C // G, H, W)
    mean = g.mean(axis=(2, 3, 4), keepdims=True)
    var = ((g - mean) ** 2).mean(axis=(2, 3, 4), keepdims=True)
    xhat = ((g - mean) / np.sqrt(var + eps)).reshape(N, C, H, W)
    return xhat * gamma[None, :, None, None] + beta[None, :, None, None], {"x": x, "G": G, "gamma": gamma, "eps": eps}
'''),
        "ex_groupnorm_backward": code('''
def groupnorm_backward(dout, cache):
    # group norm is layer norm of the (N*G, K) rows: exercise 1 with gamma = 1 on them
    x, G, gamma = cache["x"], cache["G"], cache["gamma"]
    N, C, H, W = x.shape
    rows = x.reshape(N * G, -1)
    k = rows.shape[1]
    xhat_rows, ln_cache = layernorm_forward(rows, np.ones(k), np.zeros(k), cache["eps"])
    dx_rows, _, _ = layernorm_backward((dout * gamma[None, :, None, None]).reshape(N * G, -1), ln_cache)
    xhat = xhat_rows.reshape(x.shape)
    return dx_rows.reshape(x.shape), (dout * xhat).sum(axis=(0, 2, 3)), dout.sum(axis=(0, 2, 3))
'''),
    }, description="layer norm through lesson 4's batch norm on the transpose (dict cache, einsum); group norm "
                   "with a 5-D reshape, and its backward through the student's own layer norm on the rows"),
]

CORRECT += [
    Variant("questions_written_differently_06", L6, {"ex_q_instance_1x1": code("answer_instance_1x1 = ' D'")},
            description="the question's letter in upper case, with a space"),
]

L7 = "07_why_batchnorm_works"

CORRECT += [
    Variant("questions_written_differently_07", L7, {"ex_q_scaled_gradient": code("answer_scaled_gradient = 1 / 10"),
                                                     "ex_q_noisy_bn": code("answer_noisy_bn = ' B '"),
                                                     "ex_q_sorted_batches": code('answer_sorted_batches = "B "')},
            description="the factor as an expression, the letters in upper case with spaces"),
]

# A correct answer that also prints a Python warning (stderr) while it is tested.
def warn_in_every_function(code):
    """``code`` with a UserWarning and a NumPy RuntimeWarning at the start of every function and method."""
    lines = code.splitlines()
    for node in sorted((n for n in ast.walk(ast.parse(code)) if isinstance(n, ast.FunctionDef)),
                       key=lambda n: -n.body[0].lineno):
        first = node.body[0]
        pad = " " * first.col_offset
        lines.insert(first.lineno - 1, f"{pad}warnings.warn('{node.name}: a harmless warning', UserWarning)\n"
                                       f"{pad}np.log(np.zeros(1))  # RuntimeWarning: divide by zero")
    return "import warnings\nimport numpy as np\n" + "\n".join(lines)


# correct answers that warn in every function: full marks, and a clean Validate (lesson 7's graded answers are
# values, with no function to warn in)
WARNS = [Variant(f"warns_everywhere_{nb[:2]}", nb, {EVERY_ANSWER: Change(rewrite=warn_in_every_function)},
                 description="correct, but every function emits a UserWarning and a RuntimeWarning")
         for nb in (L1, L2, L3, L4, L5, L6)]

WRONG = [
    Variant("reduced_shape_ignores_keepdims", L1,
            {"ex_reduced_shape": edit(("    if keepdims:\n", "    if False:\n"))},
            frozenset({"reduced_shape_keepdims"}), "never keeps the reduced axes"),
    Variant("reduced_shape_negative_axes", L1,
            {"ex_reduced_shape": edit(("axes = {axis % ndim}", "axes = {axis}"),
                                      ("axes = {a % ndim for a in axis}", "axes = set(axis)"))},
            frozenset({"reduced_shape_no_keepdims", "reduced_shape_keepdims"}),
            "treats negative axes as absent"),
    Variant("channel_mean_loop_wrong_count", L1,
            {"ex_channel_mean_loop": edit(("return total / (n * h * w)", "return total / (h * w)"))},
            frozenset({"channel_mean_loop"}), "divides by H*W instead of N*H*W"),
    Variant("standardize_axis1", L1,
            {"ex_standardize_columns": edit(("(x - x.mean(axis=0)) / x.std(axis=0)",
                                             "(x - x.mean(axis=1, keepdims=True)) / x.std(axis=1, keepdims=True)"))},
            frozenset({"standardize_values"}), "standardises rows (layer-norm axis)"),
    Variant("standardize_unbiased", L1,
            {"ex_standardize_columns": edit(("x.std(axis=0)", "x.std(axis=0, ddof=1)"))},
            frozenset({"standardize_values"}), "unbiased std"),
    Variant("standardize_in_place", L1,
            {"ex_standardize_columns": edit(("    return (x - x.mean(axis=0)) / x.std(axis=0)",
                                             "    x -= x.mean(axis=0)\n    x /= x.std(axis=0)\n    return x"))},
            frozenset({"standardize_no_mutation"}), "modifies its input in place"),
    Variant("channel_stats_no_keepdims", L1,
            {"ex_channel_stats": edit(("keepdims=True), x.var(axis=axes, keepdims=True)",
                                       "keepdims=False), x.var(axis=axes, keepdims=False)"))},
            frozenset({"channel_stats_shape"}), "forgets keepdims"),
    Variant("channel_stats_reshape_no_transpose", L1, {"ex_channel_stats": code('''
def channel_stats(x):
    C = x.shape[1]
    flat = x.reshape(-1, C)
    return flat.mean(axis=0).reshape(1, C, 1, 1), flat.var(axis=0).reshape(1, C, 1, 1)
''')}, frozenset({"channel_stats_values"}), "reshape(-1, C) without moving C last"),
    Variant("channel_stats_unbiased", L1,
            {"ex_channel_stats": edit(("x.var(axis=axes, keepdims=True)", "x.var(axis=axes, ddof=1, keepdims=True)"))},
            frozenset({"channel_stats_values"}), "unbiased variance"),
    Variant("q_layer_norm_axes_batch_norm", L1, {"ex_q_layer_norm_axes": code('answer_layer_norm_axes = "a"')},
            frozenset({"q_layer_norm_axes"}), "answers with batch norm's axes (0, 2, 3)"),
    Variant("q_values_per_channel_h_times_w", L1,
            {"ex_q_values_per_channel": code("answer_values_per_channel = 5 * 7")},
            frozenset({"q_values_per_channel"}), "counts one feature map, H*W, without the batch"),
]


def wrong(name, notebook, cell, fails, description, *pairs, replace=None):
    change = code(replace) if replace is not None else edit(*pairs)
    return Variant(name, notebook, {cell: change}, frozenset(fails), description)


WRONG += [
    # lesson 2: forward
    wrong("fwd_layer_norm_axis", L2, "ex_batchnorm_forward", {"fwd_normalizes"}, "statistics over axis 1",
          ("mu = x.mean(axis=0)", "mu = x.mean(axis=1, keepdims=True)"),
          ("var = x.var(axis=0)", "var = x.var(axis=1, keepdims=True)")),
    wrong("fwd_unbiased_variance", L2, "ex_batchnorm_forward", {"fwd_normalizes"}, "normalises with ddof=1",
          ("var = x.var(axis=0)", "var = x.var(axis=0, ddof=1)")),
    wrong("fwd_eps_outside_sqrt", L2, "ex_batchnorm_forward", {"fwd_normalizes"}, "sqrt(var) + eps",
          ("1.0 / np.sqrt(var + eps)", "1.0 / (np.sqrt(var) + eps)")),
    wrong("fwd_mean_divided_twice", L2, "ex_batchnorm_forward", {"fwd_normalizes"}, "mean / N",
          ("mu = x.mean(axis=0)", "mu = x.mean(axis=0) / x.shape[0]")),
    wrong("fwd_beta_inside", L2, "ex_batchnorm_forward", {"fwd_gamma_beta"}, "gamma * (xhat + beta)",
          ("gamma * xhat + beta", "gamma * (xhat + beta)")),
    wrong("fwd_params_promote_dtype", L2, "ex_batchnorm_forward", {"fwd_dtype_mixed"},
          "float64 gamma and beta promote float32 x's output to float64",
          ("out = (gamma * xhat + beta).astype(x.dtype, copy=False)", "out = gamma * xhat + beta")),
    wrong("fwd_upcasts", L2, "ex_batchnorm_forward", {"fwd_float32"}, "converts x to float64",
          ("    mu = x.mean(axis=0)", "    x = x.astype(np.float64)\n    mu = x.mean(axis=0)")),
    wrong("fwd_in_place", L2, "ex_batchnorm_forward", {"fwd_no_mutation"}, "x -= mu",
          ("xhat = (x - mu) * inv_std", "x -= mu\n    xhat = x * inv_std")),
    wrong("spatial_reshape_no_transpose", L2, "ex_spatial_batchnorm_forward", {"spatial_fwd_values"},
          "reshape(-1, C) without moving C last", replace='''
def spatial_batchnorm_forward(x, gamma, beta, eps=1e-5):
    N, C, H, W = x.shape
    out, cache = batchnorm_forward(x.reshape(-1, C), gamma, beta, eps)
    return out.reshape(N, C, H, W), cache
'''),
    wrong("spatial_instance_norm", L2, "ex_spatial_batchnorm_forward", {"spatial_fwd_values"},
          "statistics over (2, 3)", ("axes = (0, 2, 3)", "axes = (2, 3)")),
    wrong("spatial_unbiased_variance", L2, "ex_spatial_batchnorm_forward", {"spatial_fwd_values"},
          "ddof=1 over N*H*W", ("var = x.var(axis=axes, keepdims=True)", "var = x.var(axis=axes, ddof=1, keepdims=True)")),
    wrong("spatial_gamma_not_reshaped", L2, "ex_spatial_batchnorm_forward",
          {"spatial_fwd_values", "spatial_fwd_float32", "spatial_fwd_no_mutation"},
          "(C,) gamma and beta broadcast along W: fails whenever W != C",
          ("out = gamma.reshape(1, -1, 1, 1) * xhat + beta.reshape(1, -1, 1, 1)", "out = gamma * xhat + beta")),
    wrong("spatial_returns_out_only", L2, "ex_spatial_batchnorm_forward",
          {"spatial_fwd_values", "spatial_fwd_float32", "spatial_fwd_no_mutation"}, "returns out without the cache",
          ("return out.astype(x.dtype, copy=False), (xhat, gamma, inv_std)", "return out.astype(x.dtype, copy=False)")),
    wrong("q_xhat_variance_always_one", L2, "ex_q_xhat_variance_at_eps", {"q_xhat_variance_at_eps"},
          "xhat's variance taken to be 1 whatever eps", replace="answer_xhat_variance_at_eps = 1"),
    wrong("q_undo_with_sigma", L2, "ex_q_undo_normalization", {"q_undo_normalization"},
          "gamma = sqrt(var) without eps", replace='answer_undo_normalization = "d"'),
    # lesson 3: backward
    wrong("staged_var_branch_overwritten", L3, "ex_staged_backward", {"staged_bwd_dx"},
          "second branch of xc overwrites the first instead of adding",
          ("dxc = dxc + 2 * xc * dsq", "dxc = 2 * xc * dsq")),
    wrong("staged_mean_branch_overwritten", L3, "ex_staged_backward", {"staged_bwd_dx"},
          "second branch of x overwrites the first", ("dx = dx + np.ones_like(dout) * dmu / m", "dx = np.ones_like(dout) * dmu / m")),
    wrong("staged_params_keepdims", L3, "ex_staged_backward", {"staged_bwd_params"}, "dgamma, dbeta of shape (1, D)",
          ("dbeta = dout.sum(axis=0)", "dbeta = dout.sum(axis=0, keepdims=True)"),
          ("dgamma = (dout * xhat).sum(axis=0)", "dgamma = (dout * xhat).sum(axis=0, keepdims=True)")),
    wrong("bwd_stray_unbiased_factor", L3, "ex_compact_backward", {"bwd_dx", "spatial_bwd_dx"}, "dx multiplied by N/(N-1)",
          ("return dx, dgamma, dbeta", "return dx * m / (m - 1), dgamma, dbeta")),
    wrong("bwd_dbeta_keepdims", L3, "ex_compact_backward", {"bwd_params", "spatial_bwd_params"}, "dbeta of shape (1, D)",
          ("dbeta = dout.sum(axis=0)", "dbeta = dout.sum(axis=0, keepdims=True)")),
    wrong("bwd_in_place", L3, "ex_compact_backward", {"bwd_no_mutation"}, "dout *= m",
          ("dx = (gamma * inv / m) * (m * dout - dbeta - xhat * dgamma)",
           "dout *= m\n    dx = (gamma * inv / m) * (dout - dbeta - xhat * dgamma)")),
    wrong("spatial_bwd_bug_not_fixed", L3, "ex_spatial_backward", {"spatial_bwd_dx", "spatial_bwd_params"},
          "reshapes dout without the transpose", ("dout.transpose(0, 2, 3, 1).reshape(-1, C)", "dout.reshape(-1, C)")),
    wrong("spatial_bwd_params_keepdims", L3, "ex_spatial_backward", {"spatial_bwd_params"},
          "dgamma, dbeta of shape (1, C, 1, 1)",
          ("return dx.reshape(N, H, W, C).transpose(0, 3, 1, 2), dgamma, dbeta",
           "return dx.reshape(N, H, W, C).transpose(0, 3, 1, 2), dgamma.reshape(1, C, 1, 1), dbeta.reshape(1, C, 1, 1)")),
    wrong("spatial_bwd_direct_params_not_reshaped", L3, "ex_spatial_backward", {"spatial_bwd_dx", "spatial_bwd_params"},
          "written directly over (0, 2, 3) with gamma and the (C,) sums broadcast along W: fails whenever W != C",
          replace='''
def spatial_batchnorm_backward(dout, cache):
    cache2d, (N, C, H, W) = cache
    x, xc, var, std, inv, xhat, gamma, eps = cache2d
    m = N * H * W
    xhat = xhat.reshape(N, H, W, C).transpose(0, 3, 1, 2)        # back to (N, C, H, W)
    dbeta = dout.sum(axis=(0, 2, 3))
    dgamma = (dout * xhat).sum(axis=(0, 2, 3))
    dx = (gamma * inv / m) * (m * dout - dbeta - xhat * dgamma)
    return dx, dgamma, dbeta
'''),
    # lesson 4: running statistics, eval mode, the layer, folding
    wrong("momentum_flipped", L4, "ex_update_running_stats",
          {"running_update_direction", "running_update_cumulative", "layer_running_buffers"},
          "Keras/CS231n direction with PyTorch's momentum",
          ("new_mean = (1 - factor) * running_mean + factor * batch_mean",
           "new_mean = factor * running_mean + (1 - factor) * batch_mean"),
          ("new_var = (1 - factor) * running_var + factor * unbiased",
           "new_var = factor * running_var + (1 - factor) * unbiased")),
    wrong("running_var_biased", L4, "ex_update_running_stats", {"running_update_unbiased", "layer_running_buffers"},
          "running variance from the biased batch variance", ("unbiased = batch_var * m / (m - 1)", "unbiased = batch_var")),
    wrong("momentum_none_ignored", L4, "ex_update_running_stats", {"running_update_cumulative", "layer_running_buffers"},
          "momentum=None treated as 0.1",
          ("factor = 1.0 / num_batches_tracked if momentum is None else momentum",
           "factor = 0.1 if momentum is None else momentum")),
    wrong("running_update_in_place", L4, "ex_update_running_stats", {"running_update_no_mutation"},
          "updates the running arrays in place", replace='''
def update_running_stats(running_mean, running_var, batch_mean, batch_var, m, momentum=0.1,
                         num_batches_tracked=1):
    factor = 1.0 / num_batches_tracked if momentum is None else momentum
    running_mean *= 1 - factor
    running_mean += factor * batch_mean
    running_var *= 1 - factor
    running_var += factor * batch_var * m / (m - 1)
    return running_mean, running_var
'''),
    wrong("eval_uses_batch_stats", L4, "ex_batchnorm_eval", {"eval_values_2d", "eval_values_4d", "layer_eval"},
          "eval mode normalises with batch statistics", replace='''
def batchnorm_eval(x, gamma, beta, running_mean, running_var, eps=1e-5):
    axes = tuple(a for a in range(x.ndim) if a != 1)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    xhat = (x - x.mean(axis=axes, keepdims=True)) / np.sqrt(x.var(axis=axes, keepdims=True) + eps)
    return gamma.reshape(shape) * xhat + beta.reshape(shape)
'''),
    wrong("eval_stats_along_last_axis", L4, "ex_batchnorm_eval", {"eval_values_4d", "layer_eval", "layer_ncl_input"},
          "(C,) statistics broadcast along the last axis: W of (N, C, H, W), L of (N, C, L)", replace='''
def batchnorm_eval(x, gamma, beta, running_mean, running_var, eps=1e-5):
    return gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta
'''),
    wrong("eval_params_not_reshaped", L4, "ex_batchnorm_eval", {"eval_values_4d", "layer_eval", "layer_ncl_input"},
          "running statistics reshaped to line up with axis 1, but gamma and beta left (C,): broadcast along the last "
          "axis, W of (N, C, H, W), L of (N, C, L)",
          ("scale = gamma.reshape(shape) / np.sqrt(running_var.reshape(shape) + eps)",
           "scale = 1 / np.sqrt(running_var.reshape(shape) + eps)"),
          ("return (x - running_mean.reshape(shape)) * scale + beta.reshape(shape)",
           "return gamma * ((x - running_mean.reshape(shape)) * scale) + beta")),
    wrong("eval_var_as_std", L4, "ex_batchnorm_eval", {"eval_values_2d", "eval_values_4d", "layer_eval"},
          "divides by running_var + eps", ("np.sqrt(running_var.reshape(shape) + eps)", "(running_var.reshape(shape) + eps)")),
    wrong("layer_running_var_starts_at_zero", L4, "ex_batchnorm_layer",
          {"layer_init", "layer_running_buffers", "layer_reset_running_stats"},
          "running_var initialised (and reset) to 0",
          ("self.running_var = np.ones(self.num_features)", "self.running_var = np.zeros(self.num_features)")),
    wrong("layer_corrects_with_n", L4, "ex_batchnorm_layer", {"layer_running_buffers", "layer_ncl_input"},
          "unbiased correction with N instead of the values per channel (N*H*W for images, N*L for sequences)", ("rows.var(axis=0), rows.shape[0],", "rows.var(axis=0), x.shape[0],")),
    wrong("layer_stores_running_std", L4, "ex_batchnorm_layer", {"layer_running_buffers"},
          "a running std instead of a variance", ("rows.var(axis=0), rows.shape[0],", "rows.std(axis=0), rows.shape[0],")),
    wrong("layer_not_written_back", L4, "ex_batchnorm_layer", {"layer_running_buffers"},
          "new running statistics computed but never stored",
          ("self.running_mean, self.running_var = update_running_stats(", "running_mean, running_var = update_running_stats(")),
    wrong("layer_updates_in_eval", L4, "ex_batchnorm_layer", {"layer_eval"},
          "eval mode counts batches and updates the running statistics", (
              "        if not self.training and self.track_running_stats:\n            return batchnorm_eval(",
              "        if not self.training and self.track_running_stats:\n            self.num_batches_tracked += 1\n"
              "            self.running_mean = 0.9 * self.running_mean + 0.1 * np.moveaxis(x, 1, -1).reshape(-1, x.shape[1]).mean(axis=0)\n"
              "            return batchnorm_eval(")),
    wrong("layer_eval_flag_typo", L4, "ex_batchnorm_layer", {"layer_eval"},
          "eval() sets a misspelt attribute, so the layer stays in training mode",
          ("        self.training = False\n        return self", "        self.trainig = False\n        return self")),
    # what the option cells lean on without owning it (eval mode, backward, a new layer's defaults, images) costs
    # the cells that own it; of the options', only (N, C, L) input, when sequences break the same way as images
    wrong("layer_eval_batch_stats_unless_one_row", L4, "ex_batchnorm_layer", {"layer_eval"},
          "eval mode uses the batch statistics unless the batch has a single row",
          ("if not self.training and self.track_running_stats:",
           "if not self.training and self.track_running_stats and x.shape[0] == 1:")),
    wrong("layer_backward_grads_swapped", L4, "ex_batchnorm_layer", {"layer_backward"},
          "backward unpacks batchnorm_backward's result as (dx, dbeta, dgamma)",
          ("dx, dgamma, dbeta = batchnorm_backward(", "dx, dbeta, dgamma = batchnorm_backward(")),
    wrong("layer_beta_starts_at_one", L4, "ex_batchnorm_layer", {"layer_init"}, "beta initialised to 1",
          ("self.beta = np.zeros(num_features) if affine else None",
           "self.beta = np.ones(num_features) if affine else None")),
    wrong("layer_init_running_var_zero", L4, "ex_batchnorm_layer", {"layer_init", "layer_running_buffers"},
          "__init__ starts running_var at 0 (its reset_running_stats() is right)",
          ("        self.reset_running_stats()\n        self.training = True",
           "        if track_running_stats:\n"
           "            self.running_mean, self.running_var = np.zeros(num_features), np.zeros(num_features)\n"
           "            self.num_batches_tracked = 0\n        self.training = True")),
    wrong("layer_rows_without_moveaxis", L4, "ex_batchnorm_layer",
          {"layer_train_forward", "layer_running_buffers", "layer_backward", "layer_ncl_input"},
          "reshape(-1, C) without moving C last, forward and backward: right for (N, C), wrong for images and "
          "sequences",
          ("rows = moved.reshape(-1, self.num_features)", "rows = x.reshape(-1, self.num_features)"),
          ("return np.moveaxis(out.reshape(moved.shape), -1, 1)", "return out.reshape(x.shape)"),
          ("batchnorm_backward(moved.reshape(-1, self.num_features), self.cache)",
           "batchnorm_backward(dout.reshape(-1, self.num_features), self.cache)"),
          ("return np.moveaxis(dx.reshape(moved.shape), -1, 1)", "return dx.reshape(dout.shape)")),
    # lesson 4: PyTorch's options
    wrong("layer_ncl_per_position", L4, "ex_batchnorm_layer", {"layer_ncl_input"},
          "written for (N, C) and (N, C, H, W) only: (N, C, L) goes to batchnorm_forward as it is",
          ("        moved = np.moveaxis(x, 1, -1)                      # channels last: (N, C), (N, L, C) or (N, H, W, C)\n"
           "        rows = moved.reshape(-1, self.num_features)        # one row per position: m = N, N*L or N*H*W\n",
           "        if x.ndim == 3:\n            moved = rows = x\n        else:\n"
           "            moved = np.moveaxis(x, 1, -1)\n            rows = moved.reshape(-1, self.num_features)\n")),
    wrong("eval_ncl_unsupported", L4, "ex_batchnorm_eval", {"layer_ncl_input"},
          "batchnorm_eval written for (N, D) and (N, C, H, W) only: for (N, C, L) the (C,) arrays line up with L",
          ("shape = (1, -1) + (1,) * (x.ndim - 2)", "shape = (1, -1, 1, 1) if x.ndim == 4 else (1, -1)")),
    wrong("layer_affine_false_keeps_params", L4, "ex_batchnorm_layer", {"layer_affine_false"},
          "affine=False ignored: gamma and beta are still created",
          ("self.gamma = np.ones(num_features) if affine else None", "self.gamma = np.ones(num_features)"),
          ("self.beta = np.zeros(num_features) if affine else None", "self.beta = np.zeros(num_features)")),
    wrong("layer_affine_false_keeps_grads", L4, "ex_batchnorm_layer", {"layer_affine_false"},
          "affine=False, but backward still stores dgamma and dbeta",
          ("self.dgamma, self.dbeta = (dgamma, dbeta) if self.affine else (None, None)",
           "self.dgamma, self.dbeta = dgamma, dbeta")),
    wrong("layer_affine_false_eval_uses_none", L4, "ex_batchnorm_layer", {"layer_affine_false"},
          "affine=False, but eval mode passes gamma and beta (None) to batchnorm_eval",
          ("return batchnorm_eval(x, gamma, beta, self.running_mean",
           "return batchnorm_eval(x, self.gamma, self.beta, self.running_mean")),
    wrong("layer_tracks_stats_always", L4, "ex_batchnorm_layer", {"layer_no_running_stats"},
          "track_running_stats ignored: buffers kept, updated, used in eval mode and reset",
          ("        if self.track_running_stats:\n            self.running_mean = np.zeros",
           "        if True:\n            self.running_mean = np.zeros"),
          ("if not self.training and self.track_running_stats:", "if not self.training:"),
          ("if self.training and self.track_running_stats:", "if self.training:")),
    wrong("layer_no_stats_eval_uses_buffers", L4, "ex_batchnorm_layer", {"layer_no_running_stats"},
          "no buffers, but eval mode still calls batchnorm_eval with them",
          ("if not self.training and self.track_running_stats:", "if not self.training:")),
    wrong("layer_counts_after_update", L4, "ex_batchnorm_layer", {"layer_running_buffers", "layer_reset_running_stats"},
          "num_batches_tracked incremented after update_running_stats: momentum=None divides by 0 on the first batch "
          "(so does the first batch after a reset, which the reset cell trains with momentum=None)",
          ("            self.num_batches_tracked += 1\n            self.running_mean, self.running_var = "
           "update_running_stats(\n                self.running_mean, self.running_var, rows.mean(axis=0), "
           "rows.var(axis=0), rows.shape[0],\n                self.momentum, self.num_batches_tracked)\n",
           "            self.running_mean, self.running_var = update_running_stats(\n                self.running_mean, "
           "self.running_var, rows.mean(axis=0), rows.var(axis=0), rows.shape[0],\n                self.momentum, "
           "self.num_batches_tracked)\n            self.num_batches_tracked += 1\n")),
    wrong("layer_ignores_batch_count", L4, "ex_batchnorm_layer", {"layer_running_buffers"},
          "the layer never passes num_batches_tracked to update_running_stats: momentum=None keeps the last batch",
          ("                self.momentum, self.num_batches_tracked)\n", "                self.momentum)\n")),
    wrong("layer_one_value_stores_nan", L4, "ex_batchnorm_layer", {"layer_one_value_per_channel"},
          "no check for one value per channel: training on a (1, C) batch stores nan (0 / 0) in running_var",
          ("        if rows.shape[0] == 1:                             # one value per channel: no batch statistics (PyTorch)\n"
           "            raise ValueError(f\"Expected more than 1 value per channel when training, got input size {x.shape}\")\n",
           "")),
    wrong("layer_one_sample_raises", L4, "ex_batchnorm_layer", {"layer_one_value_per_channel", "layer_ncl_input"},
          "raises for any batch of one sample (N == 1), though a (1, C, L) or (1, C, H, W) batch has L or H*W values "
          "per channel: it costs the (N, C, L) cell too, whose batches include one sequence of length 6",
          ("if rows.shape[0] == 1:", "if x.shape[0] == 1:")),
    wrong("layer_reset_keeps_count", L4, "ex_batchnorm_layer", {"layer_reset_running_stats"},
          "reset_running_stats() leaves num_batches_tracked as it was",
          ("            self.num_batches_tracked = 0\n", "            self.num_batches_tracked = self.num_batches_tracked or 0\n")),
    wrong("fold_no_mean_shift", L4, "ex_fold_into_linear", {"fold_values"}, "running mean not subtracted from b",
          ("(b - running_mean) * scale + beta", "b * scale + beta")),
]

# lesson 4's spot-the-bug: the buggy BatchNorm2d, fixed
CORRECT += [
    Variant("fix2d_keepdims_and_ravel", L4, {"ex_fix_batchnorm2d": code('''
class BatchNorm2d:
    def __init__(self, num_channels, eps=1e-5, momentum=0.1):
        self.gamma = np.ones(num_channels)
        self.beta = np.zeros(num_channels)
        self.running_mean = np.zeros(num_channels)
        self.running_var = np.ones(num_channels)
        self.eps = eps
        self.momentum = momentum
        self.training = True

    def forward(self, x):
        g, b = self.gamma[None, :, None, None], self.beta[None, :, None, None]
        if not self.training:
            rm, rv = self.running_mean[None, :, None, None], self.running_var[None, :, None, None]
            return g * (x - rm) / np.sqrt(rv + self.eps) + b
        mean = x.mean(axis=(0, 2, 3), keepdims=True)
        var = ((x - mean) ** 2).mean(axis=(0, 2, 3), keepdims=True)
        m = x.size // x.shape[1]
        self.running_mean = self.running_mean + self.momentum * (mean.ravel() - self.running_mean)
        self.running_var = self.running_var + self.momentum * (var.ravel() * m / (m - 1) - self.running_var)
        return g * (x - mean) / np.sqrt(var + self.eps) + b
''')}, description="keepdims statistics raveled for the buffers, [None, :, None, None], the update as a step"),
]

WRONG += [
    # lesson 4's spot-the-bug: fixes that fix one bug of two, or add their own
    wrong("fix2d_momentum_on_old_value", L4, "ex_fix_batchnorm2d", {"fix2d_running_values"},
          "buffers fixed to (C,), but the momentum still weights the old value",
          ("self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mean",
           "self.running_mean = self.momentum * self.running_mean + (1 - self.momentum) * mean"),
          ("self.running_var = (1 - self.momentum) * self.running_var + self.momentum * var * m / (m - 1)",
           "self.running_var = self.momentum * self.running_var + (1 - self.momentum) * var * m / (m - 1)")),
    wrong("fix2d_buffers_grow", L4, "ex_fix_batchnorm2d", {"fix2d_train", "fix2d_running_values", "fix2d_eval"},
          "momentum fixed, but (1, C, 1, 1) statistics still blended into (C,) buffers, and eval lines up with W",
          ("mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))",
           "mean, var = x.mean(axis=(0, 2, 3), keepdims=True), x.var(axis=(0, 2, 3), keepdims=True)"),
          ("xhat = (x - mean.reshape(per_channel)) / np.sqrt(var.reshape(per_channel) + self.eps)",
           "xhat = (x - mean) / np.sqrt(var + self.eps)")),
    wrong("fix2d_eval_lines_up_with_w", L4, "ex_fix_batchnorm2d", {"fix2d_eval"},
          "(C,) buffers, but eval mode subtracts them without reshaping: they line up with W",
          ("            mean, var = self.running_mean, self.running_var\n",
           "            return self.gamma.reshape(1, -1, 1, 1) * (x - self.running_mean) / np.sqrt(\n"
           "                self.running_var + self.eps) + self.beta.reshape(1, -1, 1, 1)\n")),
    wrong("fix2d_biased_running_var", L4, "ex_fix_batchnorm2d", {"fix2d_running_values"},
          "running variance from the biased batch variance",
          ("self.momentum * var * m / (m - 1)", "self.momentum * var")),
    wrong("fix2d_eval_batch_stats", L4, "ex_fix_batchnorm2d", {"fix2d_eval"},
          "eval mode normalises with the batch statistics",
          ("            mean, var = self.running_mean, self.running_var\n",
           "            mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))\n")),
    # lessons 3 and 4: the concept questions
    wrong("q_dx_sum_constant_statistics", L3, "ex_q_dx_sum", {"q_dx_sum"},
          "dx summed as if the mean and variance were constants (eval mode): the branches through them forgotten",
          replace='answer_dx_sum = "c"'),
    wrong("q_running_var_biased", L4, "ex_q_running_var", {"q_running_var"},
          "the running variance computed with the biased batch variance", replace="answer_running_var = 1.7"),
    wrong("q_eval_buffers_every_forward", L4, "ex_q_eval_buffers", {"q_eval_buffers"},
          "every forward pass, eval mode too, taken to update the buffers", replace='answer_eval_buffers = "a"'),
]

WRONG += [
    # lesson 5: layer norm and the network
    wrong("layernorm_batch_axis", L5, "ex_layernorm_forward", {"layernorm_values"}, "statistics over axis 0",
          ("mu = x.mean(axis=1, keepdims=True)", "mu = x.mean(axis=0, keepdims=True)"),
          ("var = x.var(axis=1, keepdims=True)", "var = x.var(axis=0, keepdims=True)")),
    wrong("layernorm_no_keepdims", L5, "ex_layernorm_forward", {"layernorm_values"}, "(N,) statistics",
          ("mu = x.mean(axis=1, keepdims=True)", "mu = x.mean(axis=1)"),
          ("var = x.var(axis=1, keepdims=True)", "var = x.var(axis=1)")),
    Variant("net_relu_before_bn", L5, {
        "ex_network_forward": edit(("        if net[\"bn\"]:\n            x = net[\"bn\"][i].forward(x)\n"
                                    "        x, relu_cache = relu_forward(x)\n",
                                    "        x, relu_cache = relu_forward(x)\n"
                                    "        if net[\"bn\"]:\n            x = net[\"bn\"][i].forward(x)\n")),
        "ex_network_backward": edit(("        d = relu_backward(d, relu_cache)\n        if net[\"bn\"]:\n"
                                     "            d = net[\"bn\"][i].backward(d)\n"
                                     "            grads[\"gamma\"][i], grads[\"beta\"][i] = net[\"bn\"][i].dgamma, net[\"bn\"][i].dbeta\n",
                                     "        if net[\"bn\"]:\n            d = net[\"bn\"][i].backward(d)\n"
                                     "            grads[\"gamma\"][i], grads[\"beta\"][i] = net[\"bn\"][i].dgamma, net[\"bn\"][i].dbeta\n"
                                     "        d = relu_backward(d, relu_cache)\n")),
    }, frozenset({"net_forward", "net_backward"}),
        "affine - ReLU - BN blocks, consistently in both passes: a different network, which still trains"),
    wrong("net_forward_skips_bn", L5, "ex_network_forward", {"net_forward", "net_backward", "net_trains"},
          "never calls the batch-norm layers (their backward then has no cache)",
          ("        if net[\"bn\"]:\n            x = net[\"bn\"][i].forward(x)\n", "")),
    wrong("net_backward_drops_gamma_grads", L5, "ex_network_backward", {"net_backward", "net_trains"},
          "gamma and beta gradients never collected",
          ("            grads[\"gamma\"][i], grads[\"beta\"][i] = net[\"bn\"][i].dgamma, net[\"bn\"][i].dbeta\n", "")),
    # a mistake carried over in the paste cell costs nothing here: no test of lesson 5 runs the pasted layer
    wrong("carried_backward_dbeta_first", L5, "ex_carry_over", set(),
          "lesson 3's backward pasted returning (dx, dbeta, dgamma): the layer's dgamma and dbeta are swapped",
          ("return (gamma * inv / m) * (m * dout - dbeta - xhat * dgamma), dgamma, dbeta",
           "return (gamma * inv / m) * (m * dout - dbeta - xhat * dgamma), dbeta, dgamma")),
    # the concept questions
    wrong("q_preprocessing_swapped", L5, "ex_q_preprocessing", {"q_preprocessing"},
          "batch norm and layer norm swapped: batch norm as per-example standardisation",
          replace='answer_preprocessing = "b"'),
    wrong("q_bias_before_bn_not_zero", L5, "ex_q_bias_before_bn", {"q_bias_before_bn"},
          "the bias before batch norm gets an ordinary gradient", replace='answer_bias_before_bn = "a"'),
]

WRONG += [
    # lesson 6: layer norm backward, group norm
    wrong("ln_backward_gamma_factored_out", L6, "ex_layernorm_backward", {"ln_backward"},
          "batch norm's formula with gamma in front: in layer norm gamma varies along the averaged axis",
          ("    dxhat = dout * gamma                                  # gamma varies along axis 1: it stays inside the sums\n"
           "    dx = inv_std / d * (d * dxhat - dxhat.sum(axis=1, keepdims=True)\n"
           "                        - xhat * (dxhat * xhat).sum(axis=1, keepdims=True))\n",
           "    dx = gamma * inv_std / d * (d * dout - dout.sum(axis=1, keepdims=True)\n"
           "                                - xhat * (dout * xhat).sum(axis=1, keepdims=True))\n")),
    wrong("ln_backward_batch_axis", L6, "ex_layernorm_backward", {"ln_backward"},
          "the compact formula copied with batch norm's axis 0",
          ("    d = xhat.shape[1]\n", "    d = xhat.shape[0]\n"),
          ("d * dxhat - dxhat.sum(axis=1, keepdims=True)", "d * dxhat - dxhat.sum(axis=0, keepdims=True)"),
          ("(dxhat * xhat).sum(axis=1, keepdims=True)", "(dxhat * xhat).sum(axis=0, keepdims=True)")),
    wrong("ln_param_grads_per_example", L6, "ex_layernorm_backward", {"ln_backward"},
          "dgamma and dbeta summed over the features (axis 1) instead of the batch",
          ("return dx, (dout * xhat).sum(axis=0), dout.sum(axis=0)", "return dx, (dout * xhat).sum(axis=1), dout.sum(axis=1)")),
    wrong("ln_forward_no_keepdims", L6, "ex_layernorm_forward", {"ln_forward", "ln_backward"},
          "(N,) statistics without keepdims: they broadcast along the features",
          ("mu = x.mean(axis=1, keepdims=True)", "mu = x.mean(axis=1)"),
          ("np.sqrt(x.var(axis=1, keepdims=True) + eps)", "np.sqrt(x.var(axis=1) + eps)")),
    wrong("gn_channels_interleaved", L6, "ex_groupnorm_forward", {"gn_forward", "gn_backward"},
          "groups made of every G-th channel (reshape(N, -1, G, H, W))", replace='''
def groupnorm_forward(x, gamma, beta, G, eps=1e-5):
    n, c, h, w = x.shape
    groups = x.reshape(n, c // G, G, h, w)                # channel c lands in group c % G
    mean = groups.mean(axis=(1, 3, 4), keepdims=True)
    inv_std = 1.0 / np.sqrt(groups.var(axis=(1, 3, 4), keepdims=True) + eps)
    xhat = ((groups - mean) * inv_std).reshape(x.shape)
    return gamma.reshape(1, c, 1, 1) * xhat + beta.reshape(1, c, 1, 1), (xhat, gamma, inv_std, G)
'''),
    wrong("gn_stats_over_batch", L6, "ex_groupnorm_forward", {"gn_forward", "gn_backward"},
          "group statistics also averaged over the batch",
          ("np.sqrt(groups.var(axis=2, keepdims=True) + eps)", "np.sqrt(groups.var(axis=(0, 2), keepdims=True) + eps)"),
          ("(groups - groups.mean(axis=2, keepdims=True))", "(groups - groups.mean(axis=(0, 2), keepdims=True))")),
    wrong("gn_backward_no_mean_term", L6, "ex_groupnorm_backward", {"gn_backward"},
          "the branch through the group mean is missing",
          ("(k * dxhat - dxhat.sum(axis=2, keepdims=True)\n", "(k * dxhat\n")),
    wrong("gn_param_grads_per_group", L6, "ex_groupnorm_backward", {"gn_backward"},
          "dgamma and dbeta summed per group, shape (G,)",
          ("return dx.reshape(dout.shape), (dout * xhat).sum(axis=(0, 2, 3)), dout.sum(axis=(0, 2, 3))",
           "return dx.reshape(dout.shape), (dout * xhat).reshape(n, G, -1).sum(axis=(0, 2)), "
           "dout.reshape(n, G, -1).sum(axis=(0, 2))")),
    # (C,) parameters against (N, C, H, W) data line up with W: numpy raises, and the tests name the mistake
    wrong("gn_params_not_reshaped", L6, "ex_groupnorm_forward", {"gn_forward", "gn_backward"},
          "gamma and beta of shape (C,) applied to (N, C, H, W) without the reshape to (1, C, 1, 1); the backward "
          "test runs this forward too",
          ("return gamma.reshape(1, c, 1, 1) * xhat + beta.reshape(1, c, 1, 1), (xhat, gamma, inv_std, G)",
           "return gamma * xhat + beta, (xhat, gamma, inv_std, G)")),
    wrong("gn_backward_gamma_not_reshaped", L6, "ex_groupnorm_backward", {"gn_backward"},
          "dout * gamma with gamma of shape (C,), not (1, C, 1, 1)",
          ("dxhat = (dout * gamma.reshape(1, c, 1, 1)).reshape(n, G, -1)", "dxhat = (dout * gamma).reshape(n, G, -1)")),
    # the concept question
    wrong("q_instance_1x1_nan", L6, "ex_q_instance_1x1", {"q_instance_1x1"},
          "instance norm of 1 x 1 images taken for a division by zero (eps forgotten)",
          replace='answer_instance_1x1 = "c"'),
]

WRONG += [
    # lesson 7: the concept questions
    wrong("q_scaled_gradient_times_10", L7, "ex_q_scaled_gradient", {"q_scaled_gradient"},
          "the gradient scaled like a plain linear layer's, 10 times larger", replace="answer_scaled_gradient = 10"),
    wrong("q_noisy_bn_like_plain", L7, "ex_q_noisy_bn", {"q_noisy_bn"},
          "the internal-covariate-shift prediction: noisy batch norm trains like no batch norm",
          replace='answer_noisy_bn = "a"'),
    wrong("q_sorted_batches_running_stats_fix", L7, "ex_q_sorted_batches", {"q_sorted_batches"},
          "the running statistics taken to average the classes out, so sorted batches do no harm",
          replace='answer_sorted_batches = "a"'),
]

# The demo's "student with one realistic mistake".
DEMO_MISTAKE = "channel_stats_reshape_no_transpose"


def by_name(name):
    for v in CORRECT + WRONG + WARNS:
        if v.name == name:
            return v
    raise KeyError(name)
