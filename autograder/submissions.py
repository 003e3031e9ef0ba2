"""Student submissions made from the release: blank, solved, or solved with changes.

A solved notebook is the release notebook whose answer cells hold the solution
code of the source notebook (the ``### BEGIN/END SOLUTION`` lines removed).
A ``Variant`` then rewrites answer cells: a correct answer written differently,
or a realistic mistake.
"""
import copy
import re
from pathlib import Path

import nbformat

from .variants import Variant

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?^[ \t]*### END HIDDEN TESTS[ \t]*\n?", re.S | re.M)


def without_hidden_tests(source):
    """A test cell's source as students see it."""
    return HIDDEN.sub("", source)


def read_notebooks(folder):
    """{name: NotebookNode} for every notebook in ``folder``."""
    return {p.stem: nbformat.read(p, as_version=4) for p in sorted(Path(folder).glob("*.ipynb"))}


def grade_id(cell):
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def is_answer(cell):
    return bool(cell.metadata.get("nbgrader", {}).get("solution"))


def solution_code(source):
    """Source of a solution cell without the BEGIN/END SOLUTION marker lines."""
    return "\n".join(line for line in source.splitlines() if line.strip() not in (BEGIN, END))


def solved(release_nb, source_nb, variant=None):
    """Copy of ``release_nb`` with every answer cell solved, then changed by ``variant``."""
    solutions = {grade_id(c): solution_code(c.source) for c in source_nb.cells if is_answer(c)}
    nb = copy.deepcopy(release_nb)
    changes = dict(variant.cells) if variant else {}
    for cell in nb.cells:
        if not is_answer(cell):
            continue
        gid = grade_id(cell)
        code = solutions[gid]
        if gid in changes:
            code = changes.pop(gid).apply(code)
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
