"""The class's record in the gradebook: nbgrader's own tables, and one table of ours beside them.

nbgrader stores scores (students, submissions, grades); ``batchnorm_results`` stores what nbgrader has no place for:
a student's intake and grading messages, their LMS identity (for the way back) and where their feedback is. A row
there is written in one transaction once a student is completely graded, so the class report, the LMS export and
the feedback archive read the gradebook alone, whichever machine graded whom.

Shards of a class grade disjoint students (``shard_of``), so they never write the same rows; a shard that is run
again first deletes its students' rows (``forget``) and grades them afresh.
"""
import contextlib
import fcntl
import hashlib
import json
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from .course import ASSIGNMENT, COURSE_ID

METADATA = sa.MetaData()
RESULTS = sa.Table(
    "batchnorm_results", METADATA,
    sa.Column("student", sa.String(128), primary_key=True),  # nbgrader's student id
    sa.Column("shard", sa.String(32), nullable=False),         # "K/N", or "1/1" for an unsharded run
    sa.Column("lms", sa.Text, nullable=False),                 # JSON: {lms, id, name, late, ...} or {}
    sa.Column("feedback", sa.Text),                            # the student's feedback folder, on the grading machine
    sa.Column("messages", sa.Text, nullable=False),            # JSON: [[level, text], ...]
    sa.Column("sandboxed", sa.Boolean, nullable=False),        # False: graded with --no-sandbox
    sa.Column("graded_at", sa.Float, nullable=False),          # seconds since the epoch
)
HANDED_IN = sa.Table(
    "batchnorm_handed_in", METADATA,  # the notebooks intake found in a student's submission (nbgrader scores the
    sa.Column("student", sa.String(128), primary_key=True),  # others 0, like a notebook it graded at 0)
    sa.Column("notebook", sa.String(128), primary_key=True),
)
TERM = sa.Table(
    "batchnorm_term", METADATA,
    sa.Column("name", sa.String(32), primary_key=True),      # "term": the one row
    sa.Column("due", sa.Text, nullable=False),               # ISO 8601 with its offset, as the instructor gave it
    sa.Column("policy", sa.String(64), nullable=False),      # "none", "zero", "10%/day,max50%", ...
    sa.Column("extensions", sa.Text, nullable=False),        # JSON: {student: ISO 8601 due date}
)
SHARDS = sa.Table(
    "batchnorm_shards", METADATA,
    sa.Column("shard", sa.String(32), primary_key=True),  # "K/N"
    sa.Column("students", sa.Integer, nullable=False),    # how many students this shard has to grade
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("out", sa.Text, nullable=False),            # the shard's output folder on that host
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("finished_at", sa.Float),                   # None while it runs, or if it died
)


# the state of a written answer (a markdown cell graded by hand), as nbgrader's grade row says it
AWAITING = "awaiting grading"  # answered, and neither an automatic nor a manual score yet
BLANK = "left blank"            # the release's text unchanged: nbgrader scores it 0 and queues nothing
GRADED = "graded by hand"       # a manual score given (the formgrader, or nbgrader's API)


def hand_state(grade):
    """AWAITING, BLANK or GRADED for an nbgrader ``Grade`` of a written answer."""
    if grade.manual_score is not None:
        return GRADED
    return AWAITING if grade.auto_score is None else BLANK


@dataclass
class Result:
    """One student's outcome."""
    student: str
    scores: dict = field(default_factory=dict)    # notebook -> {grade_id: (score, max)}
    messages: list = field(default_factory=list)  # (level, text)
    lms: dict = field(default_factory=dict)       # the LMS's own identity: {lms, id, name, ...}; {} if none
    feedback: str = None                          # folder of the student's feedback pages, or None
    shard: str = "1/1"                            # which shard graded the student ("K/N")
    sandboxed: bool = True                        # False: graded with --no-sandbox
    graded: frozenset = None                      # notebooks handed in and graded (None: not known, every notebook)
    seconds_late: float = 0.0                     # after the student's due date (extension included)
    penalty: float = 0.0                          # the late penalty, in points (nbgrader's, summed over notebooks)
    by_hand: dict = field(default_factory=dict)   # (notebook, grade_id) -> AWAITING, BLANK or GRADED: written answers

    @property
    def total(self):
        """The points, the late penalty taken off."""
        return sum(s for nb in self.scores.values() for s, _ in nb.values()) - self.penalty

    @property
    def max_total(self):
        return sum(m for nb in self.scores.values() for _, m in nb.values())

    @property
    def awaiting(self):
        """[(notebook, grade_id, max points)] of the written answers no one has graded yet: their 0 is not a score."""
        return [(nb, gid, self.scores[nb][gid][1]) for (nb, gid), state in sorted(self.by_hand.items())
                if state == AWAITING]

    @property
    def complete(self):
        """False while a written answer awaits grading by hand: ``total`` is then a part of the grade."""
        return not self.awaiting

    @property
    def needs_look(self):
        return any(level == "error" for level, _ in self.messages)


# --- shards ------------------------------------------------------------------------

def shard_of(student, count):
    """The shard (1..count) that grades ``student``: a stable hash, the same on every machine and Python."""
    return int.from_bytes(hashlib.sha256(student.encode("utf-8")).digest()[:8], "big") % count + 1


def parse_shard(text):
    """(K, N) from "K/N", 1 <= K <= N; ValueError with a clear message otherwise."""
    try:
        k, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise ValueError(f"a shard is K/N, e.g. 2/8 (got {text!r})") from None
    if not 1 <= k <= n:
        raise ValueError(f"shard {text}: K must be between 1 and N")
    return k, n


# --- the database --------------------------------------------------------------------

def _engine(db_url):
    url = sa.engine.make_url(db_url)
    if url.get_backend_name() == "sqlite":
        timeout = float(url.query.get("timeout", 120))
        return sa.create_engine(url.difference_update_query(["timeout"]), connect_args={"timeout": timeout})
    return sa.create_engine(url)


@contextlib.contextmanager
def exclusive(db_url):
    """Hold the gradebook's one lock: setting up the course tables must not race with another shard's.

    PostgreSQL: an advisory lock, held by this connection; SQLite: a lock file beside the database.
    """
    url = sa.engine.make_url(db_url)
    if url.get_backend_name() == "sqlite":
        path = Path(url.database).with_suffix(".lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)
        return
    engine = _engine(db_url)
    key = int.from_bytes(hashlib.sha256(b"batchnorm gradebook").digest()[:7], "big")
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": key})
        conn.commit()
        try:
            yield
        finally:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            conn.commit()
    engine.dispose()


@contextlib.contextmanager
def nbgrader_gradebook(db_url):
    """nbgrader's ``Gradebook`` on ``db_url`` (created if new), without SQLAlchemy's chatter from its queries."""
    from nbgrader.api import Gradebook

    from .course import alembic_head_in_process, one_engine_per_database

    alembic_head_in_process()
    one_engine_per_database()
    with warnings.catch_warnings(), Gradebook(db_url, COURSE_ID) as gb:
        warnings.simplefilter("ignore")
        yield gb


def nbgrader_export(db_url, path):
    """nbgrader's own CSV of the gradebook at ``path``, as ``nbgrader export --to=path`` writes it (its plugin, run
    here rather than in a new nbgrader process)."""
    from nbgrader.plugins import CsvExportPlugin

    with nbgrader_gradebook(db_url) as gb:
        CsvExportPlugin(to=str(path)).export(gb)


def create_tables(db_url):
    engine = _engine(db_url)
    METADATA.create_all(engine)
    engine.dispose()


def forget(db_url, students):
    """Delete every row of these students, ours and nbgrader's, before they are graded (again): read their
    ``marks`` first, and ``restore`` them once the students are graded."""
    from nbgrader.api import MissingEntry

    engine = _engine(db_url)
    with engine.begin() as conn:
        conn.execute(RESULTS.delete().where(RESULTS.c.student.in_(list(students))))
    engine.dispose()
    with nbgrader_gradebook(db_url) as gb:
        for student in students:
            try:
                gb.remove_submission(ASSIGNMENT, student)
            except MissingEntry:
                pass


@dataclass(frozen=True)
class Mark:
    """What a person gave one cell of a student's notebook (the formgrader, ``override``): kept through regrading."""
    student: str
    notebook: str
    grade_id: str
    manual_score: float = None   # None: no manual score (only a comment, or extra credit)
    extra_credit: float = None
    comment: str = None          # the grader's comment (nbgrader's manual_comment)
    auto_score: float = None     # the autograded score the person saw, to tell whether it changed since


def marks(db_url, students):
    """[Mark] of every manual score, extra credit and comment these students have in the gradebook."""
    from nbgrader.api import MissingEntry

    out = []
    with nbgrader_gradebook(db_url) as gb:
        for student in students:
            try:
                submission = gb.find_submission(ASSIGNMENT, student)
            except MissingEntry:
                continue
            for nb in submission.notebooks:
                comments = {c.name: c.manual_comment for c in nb.comments if c.manual_comment}
                grades = {g.name: g for g in nb.grades}
                for gid in sorted(set(comments) | {g for g, grade in grades.items()
                                                   if grade.manual_score is not None or grade.extra_credit is not None}):
                    grade = grades.get(gid)
                    out.append(Mark(student, nb.name, gid, grade.manual_score if grade else None,
                                    grade.extra_credit if grade else None, comments.get(gid),
                                    grade.auto_score if grade else None))
    return out


def restore(db_url, kept):
    """Put ``kept`` marks (``marks`` before the students were graded again) back on their new rows.

    Returns {student: [(level, text)]}: a manual score on a cell whose autograded result changed is kept and listed
    for a look (an error message); a mark whose cell is no longer in the submission is listed, with what it was.
    """
    from nbgrader.api import MissingEntry

    messages = {}
    with nbgrader_gradebook(db_url) as gb:
        for m in kept:
            say = messages.setdefault(m.student, []).append
            what = (f"{m.notebook}.ipynb: {m.grade_id}: the manual score {m.manual_score:g}"
                    if m.manual_score is not None else f"{m.notebook}.ipynb: {m.grade_id}: the grader's mark")
            try:
                grade = gb.find_grade(m.grade_id, m.notebook, ASSIGNMENT, m.student) \
                    if m.manual_score is not None or m.extra_credit is not None else None
                comment = gb.find_comment(m.grade_id, m.notebook, ASSIGNMENT, m.student) if m.comment else None
            except MissingEntry:
                say(("error", f"{what} (comment: {m.comment!r}) could not be kept: the notebook or cell is not in "
                              "this submission; give it again if it still applies"))
                continue
            if grade is not None:
                grade.manual_score, grade.extra_credit = m.manual_score, m.extra_credit
                changed = m.manual_score is not None and grade.auto_score != m.auto_score
                grade.needs_manual_grade = changed
                if changed:
                    def shown(v):
                        return "none (graded by hand)" if v is None else f"{v:g}"
                    say(("error", f"{what} was kept, but the autograded result changed since it was given "
                                  f"(from {shown(m.auto_score)} to {shown(grade.auto_score)}): take a look"))
            if comment is not None:
                comment.manual_comment = m.comment
        gb.db.commit()
    return {student: texts for student, texts in messages.items() if texts}


def record(db_url, results):
    """Store completely graded students' rows, each replacing any older one, one transaction per student."""
    engine = _engine(db_url)
    for result in results:
        row = dict(student=result.student, shard=result.shard, lms=json.dumps(result.lms), feedback=result.feedback,
                   messages=json.dumps([list(m) for m in result.messages]), sandboxed=result.sandboxed,
                   graded_at=time.time())
        with engine.begin() as conn:
            conn.execute(RESULTS.delete().where(RESULTS.c.student == result.student))
            conn.execute(RESULTS.insert().values(**row))
            conn.execute(HANDED_IN.delete().where(HANDED_IN.c.student == result.student))
            for notebook in sorted(result.graded or ()):
                conn.execute(HANDED_IN.insert().values(student=result.student, notebook=notebook))
    engine.dispose()


def save_term(db_url, term):
    """Store the class's due date, late policy and extensions (``term.Term``), and the due date in nbgrader's
    assignment row (its ``duedate``, which nbgrader's lateness counts from)."""
    from .term import naive_utc

    row = dict(name="term", due=term.due.isoformat(), policy=term.policy,
               extensions=json.dumps({s: d.isoformat() for s, d in sorted(term.extensions.items())}))
    engine = _engine(db_url)
    with engine.begin() as conn:
        conn.execute(TERM.delete())
        conn.execute(TERM.insert().values(**row))
    engine.dispose()
    with nbgrader_gradebook(db_url) as gb:
        gb.update_or_create_assignment(ASSIGNMENT, duedate=naive_utc(term.due))


def load_term(db_url):
    """The stored ``term.Term``, or None when the class has no due date."""
    from .term import Term, parse_time

    engine = _engine(db_url)
    try:
        with engine.connect() as conn:
            row = conn.execute(TERM.select()).first()
    except sa.exc.DBAPIError:  # no table yet
        row = None
    engine.dispose()
    if row is None:
        return None
    return Term(parse_time(row.due), row.policy, {s: parse_time(d) for s, d in json.loads(row.extensions).items()})


def grant_extensions(db_url, term, students):
    """nbgrader's extension (``SubmittedAssignment.extension``) for each of ``students`` that ``term`` extends."""
    with nbgrader_gradebook(db_url) as gb:
        for student in students:
            due = term.extensions.get(student)
            if due is not None:
                gb.update_or_create_student(student)
                gb.update_or_create_submission(ASSIGNMENT, student, extension=due - term.due)


def reapply_late_penalties(db_url, students=None):
    """Each submitted notebook's late penalty computed again from its current score (manual grades included), with
    the stored policy, as nbgrader's ``AssignLatePenalties`` computed it at autograde."""
    from .term import penalty

    term = load_term(db_url)
    if term is None:
        return
    with nbgrader_gradebook(db_url) as gb:
        for submission in gb.assignment_submissions(ASSIGNMENT):
            if students is not None and submission.student.id not in students:
                continue
            for nb in submission.notebooks:
                nb.late_submission_penalty = penalty(term.policy, nb.score, submission.total_seconds_late)
        gb.db.commit()


def lateness(db_url):
    """{student: (seconds late, late penalty in points)} from nbgrader's tables."""
    with nbgrader_gradebook(db_url) as gb:
        return {s.student.id: (s.total_seconds_late, sum(nb.late_submission_penalty or 0 for nb in s.notebooks))
                for s in gb.assignment_submissions(ASSIGNMENT)}


def shard_started(db_url, shard, students, out):
    """Note that shard "K/N" began grading ``students`` students into ``out`` (replacing an earlier run's row)."""
    import socket

    engine = _engine(db_url)
    with engine.begin() as conn:
        conn.execute(SHARDS.delete().where(SHARDS.c.shard == shard))
        conn.execute(SHARDS.insert().values(shard=shard, students=students, host=socket.gethostname(),
                                            out=str(out), started_at=time.time(), finished_at=None))
    engine.dispose()


def shard_finished(db_url, shard):
    engine = _engine(db_url)
    with engine.begin() as conn:
        conn.execute(SHARDS.update().where(SHARDS.c.shard == shard).values(finished_at=time.time()))
    engine.dispose()


def shards(db_url):
    """[row] of every shard that started, by shard name."""
    engine = _engine(db_url)
    with engine.connect() as conn:
        rows = list(conn.execute(SHARDS.select().order_by(SHARDS.c.shard)))
    engine.dispose()
    return rows


class OtherAssignment(RuntimeError):
    """The gradebook holds another version of the assignment than the one being graded."""


def prepare(db_url, points_of_source, make_course):
    """Put the assignment into the gradebook once, then make the course folder (``make_course()``, returned) and
    its release: the first shard generates the assignment into the gradebook, later ones only read it.

    A gradebook that has the assignment is never generated into again: that would race with the shards grading into
    it (nbgrader removes and re-creates a notebook that has no submission yet) and write the source's points over
    the gradebook's. Its points are compared with ``points_of_source`` (read from the source notebooks):
    OtherAssignment if they differ, raised before anything is made or written, so that a refused run changes
    nothing; else the release is generated beside it (``Course.generate_here(db=False)``). Call it under
    ``exclusive``.
    """
    try:
        known = points(db_url)
    except Exception:  # no tables yet, or no assignment
        known = None
    if known and known != points_of_source:
        differences = _differences(known, points_of_source)
        shown = "; ".join(differences[:3]) + ("; ..." if len(differences) > 3 else "")
        raise OtherAssignment(
            f"the gradebook {sa.engine.make_url(db_url).render_as_string()} holds another version of the assignment "
            f"than the source being graded ({shown}). Nothing was graded and the gradebook is as it was. Either "
            "grade the whole class again into a new gradebook (a new --out for the default SQLite one, a new "
            "--db-url for a shared one, in every shard), or restore the source (solutions/) to the version this "
            "gradebook was graded with.")
    course = make_course()
    course.generate_here(db=not known)
    create_tables(db_url)
    return course


def _differences(known, source):
    """[text] of what differs between the gradebook's {notebook: {grade_id: points}} and the source's."""
    out = []
    for notebook in sorted(set(known) | set(source)):
        if notebook not in known or notebook not in source:
            out.append(f"{notebook} is only in the {'source' if notebook in source else 'gradebook'}")
            continue
        for cell in sorted(set(known[notebook]) | set(source[notebook])):
            was, now = known[notebook].get(cell), source[notebook].get(cell)
            if was is None or now is None:
                out.append(f"{notebook}: {cell} is only in the {'gradebook' if now is None else 'source'}")
            elif was != now:
                out.append(f"{notebook}: {cell} is worth {now:g} in the source, {was:g} in the gradebook")
    return out


def points(db_url):
    """{notebook: {grade_id: max points}} of the assignment, as the gradebook knows it."""
    with nbgrader_gradebook(db_url) as gb:
        assignment = gb.find_assignment(ASSIGNMENT)
        return {nb.name: {c.name: float(c.max_score) for c in sorted(nb.grade_cells, key=lambda c: c.id)}
                for nb in sorted(assignment.notebooks, key=lambda nb: nb.name)}


def scores(db_url, written=None):
    """{student: {notebook: {grade_id: (score, max_score)}}} from nbgrader's tables. A written answer awaiting
    grading by hand has the score None.

    written: a dict to fill with {student: {(notebook, grade_id): state}} of the written answers (``hand_state``).
    """
    out = {}
    with nbgrader_gradebook(db_url) as gb:
        for submission in gb.assignment_submissions(ASSIGNMENT):
            mine = out[submission.student.id] = {}
            for nb in submission.notebooks:
                mine[nb.name] = {}
                for g in nb.grades:
                    state = hand_state(g) if g.cell.cell_type == "markdown" else None
                    mine[nb.name][g.name] = (None if state == AWAITING else g.score, g.max_score)
                    if state and written is not None:
                        written.setdefault(submission.student.id, {})[(nb.name, g.name)] = state
    return out


def load(db_url, students=None):
    """(results, points): every completely graded student (or only ``students``), in student order.

    A notebook or cell without a grade scores 0 of its points (a notebook intake could not read, one that
    timed out); so does a student whose row is missing from nbgrader's tables (nothing gradable was submitted).
    A written answer awaiting grading by hand counts 0 in ``scores`` and is listed in ``Result.awaiting``.
    """
    maxima = points(db_url)
    written = {}
    got = scores(db_url, written)
    late = lateness(db_url)
    engine = _engine(db_url)
    with engine.connect() as conn:
        query = RESULTS.select().order_by(RESULTS.c.student)
        rows = [r for r in conn.execute(query) if students is None or r.student in students]
        handed_in = {}
        for r in conn.execute(HANDED_IN.select()):
            handed_in.setdefault(r.student, set()).add(r.notebook)
    engine.dispose()
    results = []
    for row in rows:
        mine = got.get(row.student, {})
        result = Result(row.student, messages=[tuple(m) for m in json.loads(row.messages)],
                        lms=json.loads(row.lms), feedback=row.feedback, shard=row.shard, sandboxed=row.sandboxed,
                        graded=frozenset(handed_in.get(row.student, ())),
                        by_hand={key: state for key, state in written.get(row.student, {}).items()
                                 if key[0] in handed_in.get(row.student, ())})
        result.seconds_late, result.penalty = late.get(row.student, (0.0, 0.0))
        for notebook, cells in maxima.items():
            cell_scores = mine.get(notebook, {})
            result.scores[notebook] = {g: (float(cell_scores.get(g, (0,))[0] or 0), m) for g, m in cells.items()}
        results.append(result)
    return results, maxima
