"""The instructor's main job on a sample class: ``python -m autograder.demo`` (``make demo``).

Regenerates the release, writes a sample class of 40 submissions as an LMS download
(correct work, realistic mistakes, broken files, and with a sandbox a few cheats), grades it with the parallel
pipeline on the embedded default (SQLite), and prints the grade table and the class report.
"""
import shutil
import sys
import time

from .samples import sample
from .grading.course import ROOT, Course
from .grading import sandbox
from .grading.pipeline import NO_SANDBOX_WARNING, Settings, grade_class

DEMO_ROOT = ROOT / "build" / "demo"


def grade_table(results):
    """Text table: one row per student, a column per notebook, the total, the points of written answers awaiting
    grading by hand, and what needs a look."""
    notebooks = list(results[0].scores) if results else []
    head = ["student"] + [nb.split("_")[0] for nb in notebooks] + ["score", "by hand", "needs a look"]
    rows = []
    for r in sorted(results, key=lambda r: r.student):
        cells = [f"{sum(s for s, _ in r.scores[nb].values()):g}/{sum(m for _, m in r.scores[nb].values()):g}"
                 for nb in notebooks]
        errors = [t for level, t in r.messages if level == "error"]
        waiting = sum(m for _, _, m in r.awaiting)
        rows.append([r.student, *cells, f"{r.total:g}/{r.max_total:g}", f"{waiting:g} pts awaiting" if waiting else "-",
                     f"{len(errors)} issue(s)" if errors else "-"])
    widths = [max(len(str(row[i])) for row in [head] + rows) for i in range(len(head))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*head), fmt.format(*["-" * w for w in widths])] + [fmt.format(*r) for r in rows])


def main():
    start = time.monotonic()
    print("1/3 regenerating the release course/ from solutions/")
    Course(ROOT).generate()
    if DEMO_ROOT.exists():
        shutil.rmtree(DEMO_ROOT)
    download = DEMO_ROOT / "download"
    sandboxed, why = sandbox.available()
    # the cheats attack the machine they run on: only ever graded in the sandbox
    cheats = sample.DEMO_CHEATS if sandboxed else []
    students = sample.class_files(ROOT / "course" / "batchnorm", ROOT / "solutions" / "batchnorm", cheats=cheats)
    sample.write_class(students, download)
    print(f"2/3 a sample class of {len(students)} submissions, as an LMS download: {download}")
    if not sandboxed:
        print(f"{NO_SANDBOX_WARNING} ({why}); the demo goes on without one, and without its cheating students "
              "(see the README to install bubblewrap)")
    print("3/3 grading in parallel (nbgrader autograde + generate_feedback)")
    out = DEMO_ROOT / "graded"
    results = grade_class(download, out, Settings(cell_timeout=10, notebook_timeout=120, memory_limit=1 << 30,
                                                  sandbox=sandboxed))
    print()
    print(grade_table(results))
    print()
    print((out / "report.txt").read_text())
    print(f"grades:   {out / 'grades.csv'}  (nbgrader's own export: {out / 'nbgrader_export.csv'})")
    print(f"report:   {out / 'report.html'}")
    print(f"feedback: {out / 'course' / 'build' / 'feedback'}")
    print(f"done in {time.monotonic() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
