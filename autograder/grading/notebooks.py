"""Reading the assignment's notebooks: cells by role, solution code, hidden tests."""
import os
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


def execute(nb, folder, timeout=120, allow_errors=False):
    """Run every cell of ``nb`` (changed in place, and returned) in a fresh kernel of this environment, in
    ``folder``. The kernel talks over Unix sockets in a scratch folder: no TCP port, and no warning about one."""
    from jupyter_client import KernelManager
    from nbclient import NotebookClient

    from . import scratch

    run = scratch.make("exec")
    km = KernelManager(kernel_name="python3", transport="ipc", ip=os.path.join(run, "ipc"))
    try:
        NotebookClient(nb, km=km, timeout=timeout, allow_errors=allow_errors,
                       resources={"metadata": {"path": str(folder)}}).execute()
    finally:
        if km.has_kernel:  # a kernel manager given to nbclient is the caller's to stop
            km.shutdown_kernel(now=True)
        scratch.remove(run)
    return nb
