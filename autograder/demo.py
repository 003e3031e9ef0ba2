"""The instructor's main job on a sample class: ``python -m autograder.demo`` (``make demo``).

Regenerates the release, makes a sample class in ``build/demo`` (the full
solution, the untouched release, one realistic mistake), autogrades it with
nbgrader, generates feedback, exports the grades to CSV and prints them.
"""
import csv
import shutil
import sys
import time

from . import variants as V
from .course import ASSIGNMENT, ROOT, Course
from .submissions import read_notebooks, solved_assignment

DEMO_ROOT = ROOT / "build" / "demo"


def sample_class(course):
    """{student: notebooks} for the demo class."""
    rel, src = course.release_dir, course.source_dir
    return {
        "full-solution": solved_assignment(rel, src),
        "untouched-release": read_notebooks(rel),
        "one-mistake": solved_assignment(rel, src, [V.by_name(V.DEMO_MISTAKE)]),
    }


def grade_table(grades, csv_rows):
    """Text table: one row per student, a column per notebook, the total, and the tests lost."""
    notebooks = sorted({nb for per_nb in grades.values() for nb in per_nb})
    head = ["student"] + [nb.split("_")[0] for nb in notebooks] + ["score", "lost tests"]
    rows = []
    for row in sorted(csv_rows, key=lambda r: r["student_id"]):
        per_nb = grades[row["student_id"]]
        lost = [gid for nb in notebooks for gid, (s, m) in per_nb[nb].items() if s < m]
        cells = [f"{sum(s for s, _ in per_nb[nb].values()):g}/{sum(m for _, m in per_nb[nb].values()):g}"
                 for nb in notebooks]
        shown = ", ".join(lost) if len(lost) <= 3 else f"{len(lost)} tests"
        rows.append([row["student_id"], *cells,
                     f"{float(row['score']):g}/{float(row['max_score']):g}", shown or "-"])
    widths = [max(len(str(r[i])) for r in [head] + rows) for i in range(len(head))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*head), fmt.format(*["-" * w for w in widths])]
    lines += [fmt.format(*r) for r in rows]
    return "\n".join(lines)


def main():
    start = time.monotonic()
    print("1/5 regenerating the release course/ from solutions/")
    Course(ROOT).generate()
    if DEMO_ROOT.exists():
        shutil.rmtree(DEMO_ROOT)
    DEMO_ROOT.mkdir(parents=True)
    course = Course.create(DEMO_ROOT)
    course.generate()
    students = sample_class(course)
    print(f"2/5 sample class of {len(students)} in {course.root / 'build' / 'submitted'}")
    for student, notebooks in students.items():
        course.submit(student, notebooks)
    print("3/5 nbgrader autograde")
    course.autograde()
    print("4/5 nbgrader generate_feedback")
    course.feedback()
    csv_path = course.root / "build" / "grades.csv"
    print(f"5/5 nbgrader export -> {csv_path}")
    course.export(csv_path)
    with open(csv_path, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["assignment"] == ASSIGNMENT]
    print()
    print(grade_table(course.grades(), rows))
    print(f"\nfeedback: {course.root / 'build' / 'feedback'}")
    print(f"grades:   {csv_path}")
    print(f"done in {time.monotonic() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
