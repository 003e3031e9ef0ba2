"""Student submissions made from the release: blank, solved, or solved with changes.

A solved notebook is the release notebook whose answer cells hold the solution
code of the source notebook (the ``### BEGIN/END SOLUTION`` lines removed).
A ``Variant`` then rewrites answer cells: a correct answer written differently,
or a realistic mistake.
"""
import copy

from ..grading.notebooks import grade_id, is_answer, read_notebooks, solution_code
from .variants import EVERY_ANSWER, Variant


def solved(release_nb, source_nb, variant=None):
    """Copy of ``release_nb`` with every answer cell solved, then changed by ``variant``."""
    solutions = {grade_id(c): solution_code(c.source) for c in source_nb.cells if is_answer(c)}
    nb = copy.deepcopy(release_nb)
    changes = dict(variant.cells) if variant else {}
    every = changes.pop(EVERY_ANSWER, None)
    for cell in nb.cells:
        if not is_answer(cell):
            continue
        gid = grade_id(cell)
        code = solutions[gid]
        if gid in changes:
            code = changes.pop(gid).apply(code)
        if every and cell.cell_type == "code":
            code = every.apply(code)
        cell.source = code
    if changes:
        raise KeyError(f"variant {variant.name} changes unknown answer cells: {sorted(changes)}")
    return nb


def solved_assignment(release_dir, source_dir, variants=()):
    """{name: notebook} of the whole assignment solved, with ``variants`` applied to their notebooks."""
    release = read_notebooks(release_dir)
    source = read_notebooks(source_dir)
    by_nb = {}
    for v in variants:
        by_nb.setdefault(v.notebook, []).append(v)
    out = {}
    for name, nb in release.items():
        merged = Variant.merge(by_nb.get(name, []))
        out[name] = solved(nb, source[name], merged)
    return out
