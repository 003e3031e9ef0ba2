"""Reading the assignment's notebooks: cells by role, solution code, hidden tests."""
import re
from pathlib import Path

import nbformat


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


def is_graded(cell):
    """A cell nbgrader gives points: a test cell or a manually graded answer."""
    return bool(cell.metadata.get("nbgrader", {}).get("grade"))


def solution_code(source):
    """Source of a solution cell without the BEGIN/END SOLUTION marker lines."""
    return "\n".join(line for line in source.splitlines() if line.strip() not in (BEGIN, END))
