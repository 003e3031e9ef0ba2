"""The author's quick loop: ``python -m autograder.samples.tryout 06 [variant ...]``.

Runs a source notebook once solved and once per variant of it (``variants.CORRECT`` and
``variants.WRONG``), hidden tests included, in a plain kernel (no nbgrader, no sandbox,
checks in the kernel), and prints which test cells each one fails against the cells it
should fail. A few seconds per variant; ``tests/test_grading.py`` remains the proof (real
nbgrader, the verdict process), this is the loop to get there.
"""
import argparse
import sys

import nbformat

from ..grading.course import ASSIGNMENT, ROOT
from ..grading.notebooks import execute, grade_id, is_answer, solution_code
from . import variants as V

SOURCE = ROOT / "solutions" / ASSIGNMENT


def failed_cells(notebook, variant=None):
    """{grade id: first error line} of the test cells that raise when ``notebook`` is run solved (then changed)."""
    nb = nbformat.read(SOURCE / f"{notebook}.ipynb", as_version=4)
    changes = dict(variant.cells) if variant else {}
    every = changes.pop(V.EVERY_ANSWER, None)
    for cell in nb.cells:
        if is_answer(cell):
            code = solution_code(cell.source)
            if grade_id(cell) in changes:
                code = changes.pop(grade_id(cell)).apply(code)
            cell.source = every.apply(code) if every else code
    if changes:
        raise KeyError(f"{variant.name} changes unknown answer cells: {sorted(changes)}")
    execute(nb, SOURCE, allow_errors=True)
    failed = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        errors = [o for o in cell.get("outputs", []) if o.output_type == "error"]
        if meta.get("grade") and not meta.get("solution") and errors:
            failed[grade_id(cell)] = f"{errors[0].ename}: {errors[0].evalue}"
    return failed


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m autograder.samples.tryout", description=__doc__.split("\n")[0])
    parser.add_argument("notebook", help="a source notebook's name or its number, e.g. 06")
    parser.add_argument("variants", nargs="*", help="only these variants (default: all of the notebook's)")
    args = parser.parse_args(argv)
    matches = sorted(p.stem for p in SOURCE.glob(f"{args.notebook}*.ipynb"))
    if len(matches) != 1:
        parser.error(f"{args.notebook!r} names {len(matches)} source notebooks")
    notebook = matches[0]
    chosen = [v for v in V.CORRECT + V.WRONG if v.notebook == notebook and (not args.variants or v.name in args.variants)]
    bad = 0
    solution = failed_cells(notebook)
    print(f"{notebook}, solved: {'full marks' if not solution else 'FAILS ' + ', '.join(solution)}")
    bad += bool(solution)
    for v in chosen:
        failed = failed_cells(notebook, v)
        ok = set(failed) == set(v.fails)
        bad += not ok
        print(f"{'ok ' if ok else 'BAD'} {v.name}: fails {sorted(failed) or 'nothing'}"
              + ("" if ok else f", should fail {sorted(v.fails) or 'nothing'}"))
        for gid, error in failed.items():
            if not ok or gid not in v.fails:
                print(f"      {gid}: {error[:300]}")
    print(f"{len(chosen) - bad + 1} of {len(chosen) + 1} as expected")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
