"""Grading by hand on the class's gradebook: nbgrader's formgrader, and overrides from a CSV file.

Both write nbgrader's own columns (a grade's ``manual_score`` and ``extra_credit``, a comment's
``manual_comment``), which a regrade keeps (``gradebook.marks`` / ``restore``); after either, every output is
rebuilt from the gradebook (``pipeline.class_report``), so grades.csv, the report and the LMS exports agree.
"""
import csv
import math
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from . import gradebook
from .feedback import write_summary
from .course import ASSIGNMENT, tool_env


class OverrideError(ValueError):
    """An overrides file that cannot be applied; nothing was written. The message lists every problem."""


@dataclass(frozen=True)
class Override:
    student: str
    grade_id: str
    points: float = None   # None: the comment alone
    comment: str = None    # None: the points alone
    line: int = 0


COLUMNS = ("student", "grade_id", "points", "comment")


def read_overrides(path):
    """[Override] from a CSV file with the columns student, grade_id, points, comment (UTF-8, a header row)."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise OverrideError(f"cannot read {path}: {err}") from None
    rows = list(csv.DictReader(text.splitlines()))
    header = rows and list(rows[0]) or (text.splitlines()[0].split(",") if text.strip() else [])
    missing = [c for c in ("student", "grade_id") if c not in header]
    if missing or not ({"points", "comment"} & set(header)):
        raise OverrideError(f"{path}: the columns are {', '.join(COLUMNS)} (points or comment may be empty); "
                            f"the file has {', '.join(header) or 'none'}")
    out, problems = [], []
    for line, row in enumerate(rows, start=2):
        student, gid = (row.get("student") or "").strip(), (row.get("grade_id") or "").strip()
        raw, comment = (row.get("points") or "").strip(), (row.get("comment") or "").strip() or None
        if not student and not gid and not raw and not comment:
            continue
        points = None
        if raw:
            try:
                points = float(raw.replace(",", "."))
            except ValueError:
                problems.append(f"line {line}: points {raw!r} is not a number")
                continue
            if not math.isfinite(points):
                problems.append(f"line {line}: points {raw!r} is not a number")
                continue
        if points is None and comment is None:
            problems.append(f"line {line}: neither points nor a comment for {student} {gid}")
            continue
        out.append(Override(student, gid, points, comment, line))
    if problems:
        raise OverrideError(f"{path}: " + "; ".join(problems) + ". Nothing was written.")
    return out


def apply_overrides(db_url, overrides):
    """Write ``overrides`` into the gradebook with nbgrader's API, all or nothing.

    Points go to the cell's manual score (0 to the cell's points); a comment to the cell's manual comment (answer
    cells have comments in nbgrader, test cells do not). Returns the students changed. OverrideError lists every
    row that cannot be applied (an unknown student or cell, points out of range), and nothing is written.
    """
    from nbgrader.api import MissingEntry

    maxima = gradebook.points(db_url)
    notebook_of = {gid: nb for nb, cells in maxima.items() for gid in cells}
    problems, changes = [], []
    with gradebook.nbgrader_gradebook(db_url) as gb:
        for o in overrides:
            where = f"line {o.line}: {o.student} {o.grade_id}"
            notebook = notebook_of.get(o.grade_id)
            if notebook is None and o.points is not None:
                problems.append(f"{where}: no cell of the assignment has the grade id {o.grade_id!r}")
                continue
            if notebook is None:  # a comment on an answer cell without points (ex_...): find its notebook
                notebook = next((nb.name for nb in gb.find_assignment(ASSIGNMENT).notebooks
                                 if o.grade_id in {c.name for c in nb.solution_cells}), None)
                if notebook is None:
                    problems.append(f"{where}: no answer cell of the assignment has the grade id {o.grade_id!r}")
                    continue
            try:
                grade = gb.find_grade(o.grade_id, notebook, ASSIGNMENT, o.student) if o.points is not None else None
            except MissingEntry:
                problems.append(f"{where}: {o.student} has no graded {notebook}.ipynb (not a student of this "
                                "gradebook, or the notebook was not submitted)")
                continue
            if o.points is not None and not 0 <= o.points <= maxima[notebook][o.grade_id]:
                problems.append(f"{where}: {o.points:g} points is outside 0 to {maxima[notebook][o.grade_id]:g}")
                continue
            comment = None
            if o.comment is not None:
                try:
                    comment = gb.find_comment(o.grade_id, notebook, ASSIGNMENT, o.student)
                except MissingEntry:
                    problems.append(f"{where}: {o.grade_id} is not an answer cell of {o.student}'s {notebook}.ipynb; "
                                    "nbgrader keeps comments on answer cells only")
                    continue
            changes.append((o, grade, comment))
        if problems:
            gb.db.rollback()
            raise OverrideError("; ".join(problems) + ". Nothing was written.")
        for o, grade, comment in changes:
            if grade is not None:
                grade.manual_score, grade.needs_manual_grade = o.points, False
            if comment is not None:
                comment.manual_comment = o.comment
        gb.db.commit()
    return sorted({o.student for o, _, _ in changes})


def graded_course(graded, db_url=None):
    """(course root, gradebook URL) of a ``grade --out`` folder; ``db_url``: its gradebook when it is not the
    folder's own SQLite one (a class graded with --db-url)."""
    from .pipeline import sqlite_url

    root = Path(graded).resolve() / "course"
    if db_url:
        return root, db_url
    if not (root / "build" / "gradebook.db").exists():
        raise FileNotFoundError(f"{graded} is not a graded class: {root / 'build' / 'gradebook.db'} is missing "
                                "(give the --out folder of `grade`, and --db-url if it was graded into one)")
    return root, sqlite_url(root)


def regenerate_feedback(root, students):
    """nbgrader's feedback pages of ``students`` made again in the course at ``root`` (manual scores and comments
    included); [(student, error)] of those that failed."""
    from .course import Course

    course, failed = Course(root), []
    for student in students:
        result = course.nbgrader("generate_feedback", ASSIGNMENT, f"--student={student}", "--force", check=False)
        if result.returncode != 0:
            failed.append((student, (result.stderr or result.stdout).strip().splitlines()[-1:] or ["failed"]))
    return failed


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _no_kernels():
    from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
    from tornado import web

    class NoKernels(AsyncMappingKernelManager):
        """The formgrader's kernel manager: it starts no kernel (a student's notebook is shown, never run)."""

        async def start_kernel(self, *args, **kwargs):
            raise web.HTTPError(403, "the formgrader runs no kernel: grade from the autograded notebooks")

    return NoKernels


def __getattr__(name):  # NoKernels, made on first use: only the formgrader's server imports jupyter_server
    if name == "NoKernels":
        return _no_kernels()
    raise AttributeError(name)


def formgrader_command(root, port, token):
    """The command that serves nbgrader's formgrader for the course at ``root`` on loopback only.

    The formgrader shows the autograded notebooks as HTML; the server starts no kernel (none is allowed) and no
    terminal, so nothing of the class's code runs outside the sandbox."""
    return [sys.executable, "-m", "jupyter", "server", "--no-browser", f"--ServerApp.root_dir={root}",
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}", "--ServerApp.terminals_enabled=False",
            # no kernel can start: the formgrader shows the class's notebooks, nothing runs their code outside the
            # sandbox
            f"--ServerApp.kernel_manager_class={__name__}.NoKernels",
            "--ServerApp.jpserver_extensions={'nbgrader.server_extensions.formgrader': True}"] \
        + (["--allow-root"] if os.geteuid() == 0 else [])


def start_formgrader(root, port=None, token=None):
    """(process, url): nbgrader's formgrader over the course at ``root``, started in the background; its log is
    ``process.log_path`` (``formgrader.log`` beside the course folder)."""
    import secrets

    port, token = port or free_port(), token or secrets.token_hex(16)
    # the server's log goes to a file, never a pipe: nbgrader logs a line per page (its exchange check), and a pipe
    # no one reads would fill and stop the server after a few hundred pages
    log_path = Path(root).parent / "formgrader.log"
    with open(log_path, "a") as log:
        proc = subprocess.Popen(formgrader_command(root, port, token), cwd=root, env=tool_env(),
                                stdout=log, stderr=subprocess.STDOUT, text=True)
    proc.log_path = log_path
    return proc, f"http://127.0.0.1:{port}/formgrader?token={token}"


def stop_formgrader(proc):
    """Stop a server of ``start_formgrader``: asked first, killed after 30 s."""
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def refresh(graded, students=(), db_url=None):
    """After grading by hand: grades.csv and the reports of the ``grade --out`` folder ``graded`` rebuilt from the
    gradebook for the whole class, and the feedback pages of ``students`` made again (those whose notebooks this
    folder holds). Returns the class's results and [(student, error)] of the pages that could not be made."""
    from .pipeline import class_report

    root, db_url = graded_course(graded, db_url)
    students = [s for s in students if (root / "build" / "autograded" / s).is_dir()]
    gradebook.reapply_late_penalties(db_url)  # a late penalty is a share of the score a person just changed
    results = class_report(db_url, Path(graded))
    failed = regenerate_feedback(root, students)
    points = gradebook.points(db_url)
    # every student's results, at the top of each of their pages: those made again here, and any page nbgrader made
    # without them (the formgrader's own Generate Feedback button)
    for result in results:
        if result.feedback and Path(result.feedback).is_dir():
            write_summary(result, points)
    return results, failed


def marked_students(db_url):
    """The students with a manual score, extra credit or comment in the gradebook."""
    students = [r.student for r in gradebook.load(db_url)[0]]
    return sorted({m.student for m in gradebook.marks(db_url, students)})
