"""Answers written differently, and realistic mistakes, for exercising the grader.

Each ``Variant`` rewrites answer cells of one notebook; ``fails`` names the
test cells (grade ids) that must lose their points. Correct variants have an
empty ``fails``: they must get full marks. The tests grade every variant with
real nbgrader; the demo uses a few of them.
"""
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Change:
    """Replace a whole answer cell (``code``), or edit the solution code (``edits``: old -> new)."""
    code: str = None
    edits: tuple = ()

    def apply(self, solution):
        if self.code is not None:
            return self.code.strip("\n")
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
]

# A correct answer that also prints a Python warning (stderr) while it is tested.
WARNS = Variant("standardize_with_warning", L1, {"ex_standardize_columns": edit((
    "    return (x - x.mean(axis=0)) / x.std(axis=0)",
    "    import warnings\n"
    "    warnings.warn('standardize_columns: a harmless warning', UserWarning)\n"
    "    return (x - x.mean(axis=0)) / x.std(axis=0)",
))}, description="correct, but emits a UserWarning")

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
]

# The demo's "student with one realistic mistake".
DEMO_MISTAKE = "channel_stats_reshape_no_transpose"


def by_name(name):
    for v in CORRECT + WRONG + [WARNS]:
        if v.name == name:
            return v
    raise KeyError(name)
