"""Grading cost: ``python -m autograder.bench`` (``make bench``).

Autograding executes every cell of every notebook for every student, so the
lessons' demos count. Executes each source notebook (hidden tests included,
as in autograding) in a fresh kernel with nbclient and prints seconds per notebook.
"""
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from .course import ASSIGNMENT, ROOT


def time_notebooks(folder):
    """{notebook name: seconds to execute it, kernel start included}."""
    times = {}
    for path in sorted(Path(folder).glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        start = time.perf_counter()
        NotebookClient(nb, timeout=120, resources={"metadata": {"path": str(folder)}}).execute()
        times[path.stem] = time.perf_counter() - start
    return times


def main():
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / ASSIGNMENT
        shutil.copytree(ROOT / "solutions" / ASSIGNMENT, folder)
        times = time_notebooks(folder)
    width = max(len(n) for n in times)
    print(f"{'notebook':<{width}}  seconds")
    for name, seconds in times.items():
        print(f"{name:<{width}}  {seconds:7.1f}")
    print(f"{'whole assignment':<{width}}  {sum(times.values()):7.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
