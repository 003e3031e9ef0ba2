"""nbgrader's exchange, end to end: ``python -m autograder.exchange_demo`` (``make exchange-demo``).

On a shared JupyterHub the assignment travels through nbgrader's exchange folder:
the instructor releases, each student fetches, works and submits, the instructor
collects and grades. This runs that round trip with the real ``nbgrader`` commands
in ``build/exchange-demo/``: one temporary exchange, an instructor's course folder,
and two students' homes. alice solves the assignment; bob uses the unbiased
variance (``ddof=1``) in lesson 2. Then ``make grade`` grades the collected tree,
the graded class releases its feedback pages to the exchange (``nbgrader
release_feedback``) and each student fetches their own (``nbgrader fetch_feedback``).
nbgrader files each page under a hash of the secret that ``submit`` left in the
student's own copy of the submission: only that student's fetch finds it.

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
from .grading.course import ASSIGNMENT, COURSE_ID, ROOT, Course, run_nbgrader, student_config
from .samples import variants as V
from .samples.submissions import solved_assignment

DEMO_ROOT = ROOT / "build" / "exchange-demo"
MISTAKE = "fwd_unbiased_variance"
STUDENTS = {"alice": (), "bob": (MISTAKE,)}  # student id -> variants of their work


def student_env(work, student):
    """(home, environment) of ``student`` in the demo folder ``work``: their own HOME (nbgrader's cache of their
    submissions is in it) and the students' nbgrader config (``round_trip`` writes it)."""
    work = Path(work).resolve()
    home = work / "home" / student
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "PYTHONPATH"))}
    env.update(HOME=str(home), JUPYTER_CONFIG_DIR=str(work / "student-config"),
               PATH=f"{Path(sys.executable).parent}:{env.get('PATH', '')}")
    return home, env


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
        home, env = student_env(work, student)
        run_nbgrader(["fetch_assignment", ASSIGNMENT], home, env)
        folder = home / ASSIGNMENT
        work_done = solved_assignment(folder, course.source_dir, [V.by_name(n) for n in variants])
        for name, nb in work_done.items():
            nbformat.write(nb, folder / f"{name}.ipynb")
        run_nbgrader(["submit", ASSIGNMENT, f"--student={student}"], home, env)
        say(f"{student}: nbgrader fetch_assignment, {'a mistake: ' + ', '.join(variants) if variants else 'solved'}"
            f", nbgrader submit")

    course.nbgrader("collect", ASSIGNMENT, "--ExchangeCollect.check_owner=False")
    say(f"instructor: nbgrader collect -> {course.root / 'build' / 'submitted'}")
    return course


def release_feedback(graded, exchange, say=print):
    """``nbgrader release_feedback`` in the graded class ``graded`` (``make grade``'s OUT/course) to ``exchange``;
    returns the exchange's feedback folder.

    The graded class's config names the course id the exchange uses (``configure``) but not the exchange, so its
    root is given here. nbgrader copies each page to ``<exchange>/<course id>/feedback/<hash>.html``, the hash of
    the submission's secret (kept by the pipeline beside the notebooks) and the notebook's name. A student's
    ``fetch_feedback`` looks only for the notebooks of their submission: the pipeline's 00_summary page is released
    too but never fetched, which is why each notebook's page opens with the same results (``feedback.write_summary``).
    """
    Course(graded).nbgrader("release_feedback", ASSIGNMENT, f"--Exchange.root={Path(exchange).resolve()}")
    outbound = Path(exchange).resolve() / COURSE_ID / "feedback"
    say(f"instructor: nbgrader release_feedback -> {outbound} ({len(list(outbound.glob('*.html')))} pages)")
    return outbound


def fetch_feedback(work, student, *args, say=print):
    """``student`` runs ``nbgrader fetch_feedback`` (further ``args``) in their home in ``work``; returns the
    feedback pages their home then holds: ``<home>/batchnorm/feedback/<submission time>/<notebook>.html``."""
    home, env = student_env(work, student)
    run_nbgrader(["fetch_feedback", ASSIGNMENT, *args], home, env)
    pages = sorted((home / ASSIGNMENT / "feedback").glob("*/*.html"))
    say(f"{student}: nbgrader fetch_feedback{''.join(' ' + a for a in args)} -> {len(pages)} pages in "
        f"{pages[0].parent if pages else home / ASSIGNMENT / 'feedback'}")
    return pages


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
    code = subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), "grade", *args]).returncode
    if code:
        return code
    release_feedback(out / "course", DEMO_ROOT / "exchange")
    for student in STUDENTS:
        fetch_feedback(DEMO_ROOT, student)
    return 0


if __name__ == "__main__":
    sys.exit(main())
