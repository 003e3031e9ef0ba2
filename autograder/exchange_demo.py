"""nbgrader's exchange, end to end: ``python -m autograder.exchange_demo`` (``make exchange-demo``).

On a shared JupyterHub the assignment travels through nbgrader's exchange folder:
the instructor releases, each student fetches, works and submits, the instructor
collects and grades. This runs that round trip with the real ``nbgrader`` commands
in ``build/exchange-demo/``: one temporary exchange, an instructor's course folder,
and two students' homes. alice solves the assignment; bob uses the unbiased
variance (``ddof=1``) in lesson 2. Then ``make grade`` grades the collected tree.

Both students are this Unix user here, so each submits with ``--student`` (on a hub,
nbgrader takes the id from the login) and collect's file-owner cross-check is off.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

from .grading import sandbox
from .grading.course import ASSIGNMENT, ROOT, Course, run_nbgrader, student_config
from .samples import variants as V
from .samples.submissions import solved_assignment

DEMO_ROOT = ROOT / "build" / "exchange-demo"
MISTAKE = "fwd_unbiased_variance"
STUDENTS = {"alice": (), "bob": (MISTAKE,)}  # student id -> variants of their work


def round_trip(work, students=STUDENTS, say=print):
    """Release, fetch, work, submit and collect in ``work``; returns the course (collected in build/submitted).

    students: {student id: names of variants applied to the solved assignment}.
    """
    work = Path(work).resolve()
    exchange, config = work / "exchange", work / "student-config"
    course = Course.create(work / "instructor", exchange_root=str(exchange))
    say(f"instructor: nbgrader generate_assignment + release_assignment -> {exchange}")
    course.generate()
    course.nbgrader("release_assignment", ASSIGNMENT, "--force")

    config.mkdir(parents=True, exist_ok=True)
    (config / "nbgrader_config.py").write_text(student_config(exchange))
    for student, variants in students.items():
        home = work / "home" / student
        home.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "PYTHONPATH"))}
        env.update(HOME=str(home), JUPYTER_CONFIG_DIR=str(config), PATH=f"{Path(sys.executable).parent}:"
                   f"{env.get('PATH', '')}")
        run_nbgrader(["fetch_assignment", ASSIGNMENT], home, env)
        folder = home / ASSIGNMENT
        work_done = solved_assignment(folder, course.source_dir, [V.by_name(n) for n in variants])
        for name, nb in work_done.items():
            nbformat.write(nb, folder / f"{name}.ipynb")
        run_nbgrader(["submit", ASSIGNMENT, f"--student={student}"], home, env)
        say(f"{student}: nbgrader fetch_assignment, {'a mistake: ' + ', '.join(variants) if variants else 'solved'}"
            f", nbgrader submit")

    course.nbgrader("collect", ASSIGNMENT, "--CollectApp.check_owner=False")
    say(f"instructor: nbgrader collect -> {course.root / 'build' / 'submitted'}")
    return course


def main():
    if DEMO_ROOT.exists():
        shutil.rmtree(DEMO_ROOT)
    course = round_trip(DEMO_ROOT)
    collected = course.root / "build" / "submitted"
    out = DEMO_ROOT / "grading"
    args = [f"SUBMISSIONS={collected.relative_to(ROOT)}", f"OUT={out.relative_to(ROOT)}"]
    if not sandbox.available()[0]:
        print(f"warning: no sandbox ({sandbox.available()[1]}): grading these two honest submissions without it")
        args.append("NO_SANDBOX=1")
    print(f"instructor: make grade {' '.join(args)}", flush=True)
    return subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), "grade", *args]).returncode


if __name__ == "__main__":
    sys.exit(main())
