"""Grade a whole class with nbgrader, in parallel, with nothing lost.

1. intake: every submission is copied (never modified in place), read, repaired
   where nbgrader would otherwise fail, and every repair is reported;
2. autograde: worker processes each run nbgrader's own ``autograde`` in-process
   (nbgrader's start-up is paid once per worker, not once per student), one
   (student, notebook) at a time; each kernel runs in a bubblewrap sandbox with
   limits, and the hidden checks run in the worker's verdict server (``verdicts``),
   so a test cell scores only on a verdict the worker recorded; a notebook that
   runs past its time limit has its worker killed and replaced;
3. feedback: nbgrader's ``generate_feedback``, without the hidden tests' source;
4. each completely graded student's row in the gradebook (``gradebook``), then
   ``grades.csv`` and a class report (text and HTML) read back from it.

A shard (``shard=(K, N)``) grades only the students ``gradebook.shard_of`` gives it,
into a gradebook other shards share; run again, it first forgets its students' rows.
"""
import csv
import multiprocessing
import os
import shutil
import sys
import time
import warnings
from dataclasses import dataclass
from multiprocessing.connection import wait
from pathlib import Path

import nbformat
import psutil

from . import gradebook, intake, sandbox, scratch
from .course import ASSIGNMENT, ROOT, Course, default_db_url
from .gradebook import Result  # noqa: F401 (the pipeline's results are the gradebook's)
from .feedback import write_summary
from .verdicts import FAILED, KERNEL_DIED, NOT_RUN, cell_name, forks_kernels, matplotlib_template, zygote_socket

NO_SANDBOX_WARNING = "WARNING: graded WITHOUT a sandbox: student code ran with the grader's rights"


class SandboxMissing(RuntimeError):
    """Grading was asked for with a sandbox, and none can run here."""


@dataclass
class Settings:
    workers: int = os.cpu_count() or 1
    cell_timeout: int = 60          # seconds per cell (nbgrader's Execute.timeout)
    notebook_timeout: int = 300     # seconds per notebook, the whole notebook
    memory_limit: int = 2 * 2 ** 30  # bytes of address space per kernel
    db_url: str = None              # default: SQLite in the output folder
    sandbox: bool = True            # kernels in bubblewrap; False only when asked for (--no-sandbox)


def sqlite_url(root):
    """The default gradebook, with a long lock timeout so that concurrent workers wait instead of failing."""
    return default_db_url(root) + "?timeout=120"


# --- workers -------------------------------------------------------------------

def _worker(conn, grader, root, db_url, cell_timeout, sandboxed, memory_limit, mpl_template, zygote, folder):
    """Grade tasks received on ``conn`` until told to stop; nbgrader is imported once.

    A task is (kind, student, notebooks): one student's notebooks are graded one after
    another (two workers never share a student's folder or gradebook rows). Before each
    notebook the worker sends ("start", notebook), after it ("done", notebook, ok, log, error).
    grader: the pool's process, with which the worker dies; mpl_template, zygote: the pool's (``Pool``); folder: the
    pool's folder, in which each notebook's own is made.
    """
    if not sandbox.tied_to(grader):
        return
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    warnings.simplefilter("ignore")  # SQLAlchemy and nbformat chatter; nbgrader reports through its log
    from nbgrader.apps import NbGraderAPI
    from traitlets.config import Config

    from .course import configure

    matplotlib_template(shared=mpl_template)
    if zygote:
        zygote_socket(shared=zygote)
    config = Config()
    configure(config, root=root, db_url=db_url, cell_timeout=cell_timeout,
              sandbox="bwrap" if sandboxed else "none", memory_limit=memory_limit)
    config.VerdictExecute.run_parent = folder
    config.NbGraderAPI.log_level = "WARN"
    api = NbGraderAPI(config=config)
    while True:
        task = conn.recv()
        if task is None:
            return
        kind, student, notebooks = task
        for notebook in notebooks:
            conn.send(("start", notebook))
            api.coursedir.notebook_id = notebook
            if kind == "autograde":
                result = api.autograde(ASSIGNMENT, student, force=True, create=True)
            else:
                result = api.generate_feedback(ASSIGNMENT, student, force=True)
            conn.send(("done", notebook, bool(result.get("success")), result.get("log", ""),
                       result.get("error", "")))
        conn.send(("finished",))


class Pool:
    """Worker processes, one student at a time each; a notebook past its deadline kills its worker.

    What every worker needs is made once, here: the kernels' matplotlib folder, the zygote that forks the sandboxed
    kernels (``verdicts``; this process's, which outlives the pool), and one folder holding each notebook's own
    folder, removed with the pool, so that nothing is left behind by a worker killed in the middle of a notebook.
    """

    def __init__(self, size, root, db_url, cell_timeout, sandboxed, memory_limit):
        self.folder = scratch.make("pool")
        zygote = zygote_socket() if sandboxed and forks_kernels("bwrap") else None
        self.args = (os.getpid(), str(root), db_url, cell_timeout, sandboxed, memory_limit, matplotlib_template(),
                     zygote, self.folder)
        self.context = multiprocessing.get_context("spawn")
        self.workers = [self._start() for _ in range(size)]

    def _start(self):
        parent, child = self.context.Pipe()
        process = self.context.Process(target=_worker, args=(child, *self.args), daemon=True)
        process.start()
        return {"process": process, "conn": parent, "task": None, "notebook": None, "since": None, "left": []}

    @staticmethod
    def _kill(worker):
        """Kill a worker and its kernels (kernels orphaned by a dead worker stop by themselves)."""
        try:
            process = psutil.Process(worker["process"].pid)
            victims = process.children(recursive=True) + [process]
        except psutil.NoSuchProcess:
            victims = []
        for p in victims:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        worker["process"].join(5)

    def run(self, tasks, deadline, on_done):
        """Run every task; call on_done(kind, student, notebook, ok, log, error) once per notebook,
        for notebooks that timed out or whose worker crashed too."""
        pending = list(tasks)
        while pending or any(w["task"] for w in self.workers):
            for w in self.workers:
                if w["task"] is None and pending:
                    task = pending.pop(0)
                    w.update(task=task, notebook=None, since=time.monotonic(), left=list(task[2]))
                    w["conn"].send(task)
            busy = [w for w in self.workers if w["task"] is not None]
            ready = wait([w["conn"] for w in busy], timeout=1.0)
            for i, w in enumerate(self.workers):
                if w["task"] is None:
                    continue
                kind, student, _ = w["task"]
                failure = None
                if w["conn"] in ready:
                    try:
                        message = w["conn"].recv()
                    except (EOFError, OSError):
                        failure = "the grading worker died"
                    else:
                        if message[0] == "start":
                            w["notebook"], w["since"] = message[1], time.monotonic()
                        elif message[0] == "done":
                            w["left"].remove(message[1])
                            on_done(kind, student, *message[1:])
                        else:
                            w["task"] = None
                elif w["notebook"] and time.monotonic() - w["since"] > deadline:
                    failure = f"TIMEOUT after {deadline} s"
                if failure:
                    current = w["notebook"] or w["left"][0]
                    on_done(kind, student, current, False, "", failure)
                    rest = [n for n in w["left"] if n != current]
                    self._kill(w)
                    self.workers[i] = self._start()
                    if rest:
                        pending.insert(0, (kind, student, rest))

    def close(self):
        for w in self.workers:
            try:
                w["conn"].send(None)
            except OSError:
                pass
        for w in self.workers:
            w["process"].join(10)
            if w["process"].is_alive():
                self._kill(w)
        scratch.remove(self.folder)


# --- what the logs and notebooks say ---------------------------------------------

def _log_messages(notebook, log, error):
    out = []
    text = log + error
    if error.startswith("TIMEOUT"):
        out.append(("error", f"{notebook}: ran past the whole-notebook limit ({error[len('TIMEOUT after '):]}); "
                             "scored 0 (an infinite loop or very slow code?)"))
    elif error and ("DeadKernelError" in text or "Kernel died" in text or "kernel died" in text):
        # a kernel that dies in a cell is handled there (verdicts.VerdictExecute: its notebook keeps the cells above)
        out.append(("error", f"{notebook}: the kernel died (os._exit, a crash, or out of memory); scored 0"))
    elif error and "worker died" in error:
        out.append(("error", f"{notebook}: the grading process died; scored 0"))
    elif error:
        last = [line for line in error.strip().splitlines() if line.strip()][-1:] or ["?"]
        out.append(("error", f"{notebook}: nbgrader could not grade it ({last[0].strip()[:200]}); scored 0"))
    return out


def _notebook_messages(path, notebook):
    """Errors worth an instructor's look, read from an autograded notebook's outputs."""
    out = []
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:
        return out
    names = {o.get("ename") for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"}
    unverified = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells
                  for o in c.get("outputs", []) if o.get("ename") in (NOT_RUN, FAILED)]
    if unverified:
        out.append(("error", f"{notebook}: test cells that would have passed without a passing hidden check, "
                             f"scored 0 (the hidden check never ran, or failed unseen): {', '.join(unverified)}"))
    first = {}  # error name -> the first cell with that error, as messages name it
    for i, c in enumerate(nb.cells):
        for o in c.get("outputs", []):
            first.setdefault(o.get("ename"), cell_name(nb, i))
    if KERNEL_DIED in first:
        out.append(("error", f"{notebook}: the kernel died while {first[KERNEL_DIED]} ran (os._exit, a crash, or out "
                             "of memory); that cell and the graded cells after it scored 0"))
    if "CellTimeoutError" in names:
        stuck = next(c for c in nb.cells if any(o.get("ename") == "CellTimeoutError" for o in c.get("outputs", [])))
        flooded = any("Output truncated" in o.get("text", "") for o in stuck.get("outputs", []))
        why = (" while printing without end (its output was truncated to nbgrader's limit)" if flooded else
               " (an infinite loop?)")
        out.append(("error", f"{notebook}: {first['CellTimeoutError']} ran past the per-cell time limit{why}"))
    if "MemoryError" in names:
        out.append(("error", f"{notebook}: a cell ran out of memory (the kernel's limit)"))
    if "SystemExit" in names:
        out.append(("error", f"{notebook}: the notebook calls sys.exit()"))
    if "CellTimeoutError" not in names and \
            any("Output truncated" in o.get("text", "") for c in nb.cells for o in c.get("outputs", [])):
        out.append(("info", f"{notebook}: a cell printed more than nbgrader keeps; its output was truncated"))
    return out


# --- the whole class ------------------------------------------------------------

def source_points(folder):
    """{notebook: {grade_id: max points}} of the assignment whose source notebooks are in ``folder``."""
    out = {}
    for path in sorted(Path(folder).glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        out[path.stem] = {c.metadata["nbgrader"]["grade_id"]: float(c.metadata["nbgrader"]["points"])
                          for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")}
    return out


def _exchange_files(student):
    """nbgrader's exchange files of a submission (its secret), kept beside the notebooks so that nbgrader's
    ``release_feedback`` can hand the feedback back through the exchange; the time is ``_timestamp``'s."""
    secret = student.nbgrader_file("submission_secret.txt")
    return {"submission_secret.txt": secret} if secret is not None and len(secret) <= 1024 else {}


def _timestamp(student, term, messages):
    """{"timestamp.txt": bytes} for nbgrader when the class has a due date and the submission's time is known; what
    was found goes to ``messages`` (an unknown time needs a look: no penalty was applied)."""
    from .term import Term, lateness, submission_time, utc_text

    if term is None:  # no due date: nbgrader's own timestamp.txt (the exchange's) is kept, if it can be read
        when, _ = submission_time(student, Term()) if student.nbgrader_file("timestamp.txt") else (None, None)
        return {"timestamp.txt": utc_text(when).encode()} if when else {}
    when, how = submission_time(student, term)
    if when is None:
        messages.append(("error", f"the submission time is unknown ({how}): graded without a late penalty; check "
                                  "when it was submitted"))
        return {}
    late = (when - term.due_of(student.id)).total_seconds()
    if late > 0:
        messages.append(("info", f"submitted {lateness(late)} after the due date ({how})"))
    return {"timestamp.txt": utc_text(when).encode()}


def grade_class(source, out_dir, settings=None, progress=True, timings=None, feedback=True, shard=(1, 1),
                solutions=None, only=None, term=None):
    """Grade every submission in ``source`` (folder or zip) into ``out_dir``; returns the Results of the students
    graded. grades.csv and the reports are then rebuilt from the gradebook: for the whole class (everyone it
    holds), or for a shard's students only.

    timings: a dict that receives the seconds of the autograde and feedback phases (for the benchmark).
    feedback: False skips the feedback pages (tests that only read scores); a collection of student ids makes them
    for those students only.
    shard: (K, N) grades only the students of shard K of N (``gradebook.shard_of``).
    solutions: the course's source folder (default: this repository's ``solutions/``).
    only: student ids: grade only them (regrading a few students into the class's gradebook); ValueError names any
    the submissions do not hold, before anything is graded.
    term: the due date, late policy and extensions (``term.Term``), stored in the gradebook; None: the stored ones,
    if any. With a due date, each submission's time is written to its ``timestamp.txt`` for nbgrader (``term.py``).
    """
    timings = {} if timings is None else timings
    from tqdm import tqdm

    settings = settings or Settings()
    if settings.sandbox and not sandbox.available()[0]:
        raise SandboxMissing(f"no sandbox: {sandbox.available()[1]}. Install bubblewrap (see the README), "
                             "or grade with --no-sandbox to accept that student code runs with your rights.")
    out_dir = Path(out_dir).resolve()
    root = out_dir / "course"
    db_url = settings.db_url or sqlite_url(root)
    shard_name = f"{shard[0]}/{shard[1]}"
    solutions = Path(solutions or ROOT / "solutions")
    points = source_points(solutions / ASSIGNMENT)
    with gradebook.exclusive(db_url):  # shards sharing a gradebook set it up one after another
        course = gradebook.prepare(db_url, points, lambda: Course.create(root, db_url=db_url, solutions=solutions,
                                                                         cell_timeout=settings.cell_timeout))
        if term is not None:
            gradebook.save_term(db_url, term)
    given, term = term, gradebook.load_term(db_url)
    if term is not None and given is not None:
        term.moodle_times = given.moodle_times  # this download's worksheet: not stored
    sources = {p.stem: nbformat.read(p, as_version=4) for p in sorted(course.source_dir.glob("*.ipynb"))}

    students = [s for s in intake.collect(source) if gradebook.shard_of(s.id, shard[1]) == shard[0]]
    if only is not None:
        unknown = sorted(set(only) - {s.id for s in students})
        if unknown:
            raise ValueError(f"no submission of {', '.join(unknown)} in {source}"
                             + (f" (shard {shard_name})" if shard[1] > 1 else "") + "; its students are "
                             + (", ".join(sorted(s.id for s in students)) or "none"))
        students = [s for s in students if s.id in set(only)]
    else:  # a few students regraded leave the shard's record of its run as it was
        gradebook.shard_started(db_url, shard_name, len(students), out_dir)
    # a shard run again grades its students afresh, and keeps what a person gave them (manual scores, comments)
    kept = gradebook.marks(db_url, [s.id for s in students])
    gradebook.forget(db_url, [s.id for s in students])
    if term is not None:
        gradebook.grant_extensions(db_url, term, [s.id for s in students])
    results = {}
    tasks = []
    for student in students:
        intake.prepare(student, sources)
        results[student.id] = Result(student.id, messages=list(student.messages), lms=dict(student.lms),
                                     shard=shard_name, sandboxed=settings.sandbox, graded=frozenset(student.notebooks))
        if student.notebooks:
            course.submit(student.id, student.notebooks, {**_exchange_files(student),
                                                          **_timestamp(student, term, results[student.id].messages)})
            tasks.append(("autograde", student.id, list(student.notebooks)))

    count = sum(len(t[2]) for t in tasks)
    bar = tqdm(total=count, desc="autograde", unit="notebook", disable=not progress, file=sys.stderr)

    def graded(kind, student, notebook, ok, log, error):
        results[student].messages += _log_messages(f"{notebook}.ipynb", log, "" if ok else error)
        bar.update(1)

    wanted = [student for _, student, _ in tasks if feedback is True or feedback and student in feedback]
    pool = Pool(min(settings.workers, max(1, len(tasks))), root, db_url, settings.cell_timeout, settings.sandbox,
                settings.memory_limit)
    try:
        started = time.monotonic()
        pool.run(tasks, settings.notebook_timeout, graded)
        timings["autograde"] = time.monotonic() - started
        bar.close()
        for student, messages in gradebook.restore(db_url, kept).items():  # before the feedback pages show them
            results[student].messages += messages
        if term is not None:  # a manual score kept changes a notebook's score, so its penalty
            gradebook.reapply_late_penalties(db_url, {s.id for s in students})
        if wanted:
            started = time.monotonic()
            bar = tqdm(total=len(wanted), desc="feedback", unit="student", disable=not progress, file=sys.stderr)
            pool.run([("feedback", student, ["*"]) for student in wanted], settings.notebook_timeout,
                     lambda *done: bar.update(1))
            bar.close()
            timings["feedback"] = time.monotonic() - started
    finally:
        pool.close()

    # a student with nothing gradable (an empty archive, a PDF) gets their summary page alone: it says why
    nothing_gradable = {s.id: s for s in students
                        if not s.notebooks and (feedback is True or feedback and s.id in feedback)}
    for sid, result in results.items():
        for notebook in points:
            result.messages += _notebook_messages(course.autograded_dir(sid) / f"{notebook}.ipynb",
                                                  f"{notebook}.ipynb")
        if sid in wanted and course.feedback_dir(sid).exists():
            result.feedback = str(course.feedback_dir(sid))
        elif sid in nothing_gradable:
            folder = course.feedback_dir(sid)
            shutil.rmtree(folder, ignore_errors=True)  # an earlier grading's pages are not this submission's
            folder.mkdir(parents=True)
            for name in ("timestamp.txt", "submission_secret.txt"):  # what nbgrader's release_feedback reads
                data = nothing_gradable[sid].nbgrader_file(name)
                if data is not None:
                    (folder / name).write_bytes(data)
            result.feedback = str(folder)
    gradebook.record(db_url, results.values())
    if only is None:
        gradebook.shard_finished(db_url, shard_name)
    # one gradebook, one truth: the outputs hold every student it has (a shard's: the shard's students)
    everyone = [r for r in gradebook.load(db_url)[0] if gradebook.shard_of(r.student, shard[1]) == shard[0]]
    graded_now = {s.id for s in students}
    for result in everyone:  # each student's own page, the one they open first
        if result.student in graded_now and result.feedback and Path(result.feedback).is_dir():
            write_summary(result, points)
    write_outputs(out_dir, everyone, points, sandboxed=all(r.sandboxed for r in everyone))
    gradebook.nbgrader_export(db_url, out_dir / "nbgrader_export.csv")  # nbgrader's own CSV, for tools that expect it
    return [r for r in everyone if r.student in graded_now]


def write_outputs(out_dir, results, points, sandboxed=True, shards=None):
    """grades.csv, report.txt and report.html in ``out_dir``; without a sandbox, the reports say so first.

    shards: the gradebook's shard rows (``gradebook.shards``), for a report of a sharded class.
    """
    from .report import awaiting_text, html_report, spreadsheet_cell, text_report
    from .term import lateness
    notebooks = list(points)
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "grades.csv", "w", newline="") as f:
        w = csv.writer(f)
        # awaiting_grading: the written answers no one has graded yet; score leaves them out until they are
        # score: the points, the late penalty (late_penalty, in points) taken off; late: after the due date
        w.writerow(["student", *notebooks, "score", "max_score", "late", "late_penalty", "awaiting_grading",
                    "needs_look", "lms", "lms_id", "shard", "feedback", "messages"])
        for r in results:
            w.writerow([spreadsheet_cell(r.student),
                        *(f"{sum(s for s, _ in r.scores[n].values()):g}" for n in notebooks),
                        f"{r.total:g}", f"{r.max_total:g}", lateness(r.seconds_late), f"{r.penalty:g}",
                        awaiting_text(r), "yes" if r.needs_look else "no",
                        *map(spreadsheet_cell, (r.lms.get("lms", ""), r.lms.get("id", ""), r.shard, r.feedback or "",
                                                " | ".join(text for _, text in r.messages)))])
    warning = None if sandboxed else NO_SANDBOX_WARNING
    (out_dir / "report.txt").write_text(text_report(results, points, warning, shards))
    (out_dir / "report.html").write_text(html_report(results, points, warning, shards))


def class_report(db_url, out_dir):
    """The whole class's grades.csv and reports in ``out_dir``, from the gradebook alone (after every shard)."""
    results, points = gradebook.load(db_url)
    out_dir = Path(out_dir)
    write_outputs(out_dir, results, points, sandboxed=all(r.sandboxed for r in results),
                  shards=gradebook.shards(db_url))
    return results
