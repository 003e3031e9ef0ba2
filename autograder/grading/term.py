"""The term around a grading run: the due date, extensions, when each student submitted, and the late penalty.

The due date and each student's extension live in nbgrader's gradebook (the assignment's ``duedate``, a
submission's ``extension``); a submission's time goes into ``timestamp.txt`` beside its notebooks, which nbgrader's
autograde reads; the penalty is nbgrader's late-penalty plugin mechanism (``AssignLatePenalties`` with
``LatePolicy`` as its plugin), stored per notebook as ``late_submission_penalty``.

Where a submission's time comes from (``submission_time``):

- nbgrader's exchange: the ``timestamp.txt`` nbgrader wrote when the student submitted (only from a folder tree: in an
  LMS upload or a student's archive, a file of that name is the student's own, and ignored);
- Moodle: the grading worksheet's "Last modified (submission)" (``--moodle-worksheet``), read in the due date's
  time zone (Moodle writes the instructor's);
- Canvas: the download's file names carry no time, only Canvas's ``LATE`` mark (late against the due date set in
  Canvas). The rule: a LATE submission counts as one day late, after the student's due date here; one without
  the mark is on time;
- otherwise the time is unknown: the submission is graded without a penalty and listed for a look, never
  silently forgiven. File times are never used (a download resets them; a student can set them).
"""
import csv
import datetime as dt
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from traitlets import Unicode

from nbgrader.plugins import LateSubmissionPlugin

CANVAS_LATE = dt.timedelta(days=1)  # the documented rule for Canvas's LATE mark
POLICY = re.compile(r"^\s*(?P<rate>\d+(?:\.\d+)?)%/(?P<unit>day|hour)(?:\s*,\s*max\s*(?P<cap>\d+(?:\.\d+)?)%)?\s*$")
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f UTC"  # what timestamp.txt holds (nbgrader's exchange writes this form)


class TermError(ValueError):
    """A due date, policy or extensions file that cannot be used; the message says why."""


def parse_time(text, tz=None):
    """An aware datetime from ISO 8601 text ("2026-12-01T23:59+01:00"); naive text is read in ``tz`` (required)."""
    try:
        value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise TermError(f"{text!r} is not a date and time in ISO 8601 (e.g. 2026-12-01T23:59+01:00)") from None
    if value.tzinfo is None:
        if tz is None:
            raise TermError(f"{text!r} has no time zone: write it with its offset, e.g. 2026-12-01T23:59+01:00")
        value = value.replace(tzinfo=tz)
    return value


def parse_policy(text):
    """(kind, rate, unit, cap): "none", "zero", or "P%/day" / "P%/hour" with an optional ",maxC%"."""
    text = (text or "none").strip()
    if text in ("none", "zero"):
        return text, 0.0, None, None
    match = POLICY.match(text)
    if not match:
        raise TermError(f"late policy {text!r}: use none, zero, or a rate such as 10%/day or 10%/day,max50%")
    cap = float(match["cap"]) / 100 if match["cap"] else 1.0
    return "rate", float(match["rate"]) / 100, match["unit"], min(cap, 1.0)


def penalty_fraction(policy, seconds_late):
    """The fraction of a notebook's score a submission ``seconds_late`` loses: every started unit costs the rate."""
    kind, rate, unit, cap = parse_policy(policy)
    if seconds_late <= 0 or kind == "none":
        return 0.0
    if kind == "zero":
        return 1.0
    units = math.ceil(seconds_late / (86400 if unit == "day" else 3600))
    return min(cap, rate * units)


def penalty(policy, score, seconds_late):
    """The late penalty in points (to 0.01) of a notebook that scored ``score``, or None when there is none."""
    fraction = penalty_fraction(policy, seconds_late)
    return round(score * fraction, 2) if fraction else None


class LatePolicy(LateSubmissionPlugin):
    """nbgrader's late-penalty plugin, with the policy the class's gradebook stores (``gradebook.save_term``):
    none, zero, or P%/day (or /hour) of the notebook's score for every started day (hour), at most C%."""

    # nbgrader's own choice of method, unused: the stored policy decides
    penalty_method = Unicode("stored policy")

    def late_submission_penalty(self, student_id, score, total_seconds_late):
        from .gradebook import load_term

        term = load_term(self.parent.db_url)  # the parent is nbgrader's AssignLatePenalties
        return penalty(term.policy if term else "none", score, total_seconds_late)


def read_extensions(path, due):
    """{student: new due date} from a CSV file with the columns ``student`` and either ``due`` (ISO 8601) or
    ``hours`` (added to ``due``)."""
    try:
        rows = list(csv.DictReader(Path(path).read_text(encoding="utf-8-sig").splitlines()))
    except (OSError, UnicodeDecodeError) as err:
        raise TermError(f"cannot read {path}: {err}") from None
    out, problems = {}, []
    for line, row in enumerate(rows, start=2):
        student = (row.get("student") or "").strip()
        if not student:
            continue
        try:
            if (row.get("due") or "").strip():
                out[student] = parse_time(row["due"], due.tzinfo)
            elif (row.get("hours") or "").strip():
                out[student] = due + dt.timedelta(hours=float(row["hours"]))
            else:
                problems.append(f"line {line}: {student} has neither due nor hours")
        except (TermError, ValueError) as err:
            problems.append(f"line {line}: {err}")
    if problems:
        raise TermError(f"{path}: " + "; ".join(problems))
    if rows and not ({"student"} <= set(rows[0]) and {"due", "hours"} & set(rows[0])):
        raise TermError(f"{path}: the columns are student and due (ISO 8601) or hours")
    return out


def read_moodle_times(path, tz):
    """{participant id: aware datetime} of the worksheet's "Last modified (submission)" (read in ``tz``)."""
    from .lms import MOODLE_PARTICIPANT, _Table

    table = _Table.read(path)
    header = table.rows[0]
    if "Last modified (submission)" not in header:
        raise TermError(f"{path} has no 'Last modified (submission)' column: download Moodle's grading worksheet")
    col, id_col = header.index("Last modified (submission)"), table.column("Identifier", path)
    out = {}
    for row in table.rows[1:]:
        match = MOODLE_PARTICIPANT.search(row[id_col])
        text = row[col].strip()
        if match and text and text != "-":
            try:
                out[match[1]] = dt.datetime.strptime(text, "%A, %d %B %Y, %I:%M %p").replace(tzinfo=tz)
            except ValueError:
                raise TermError(f"{path}: {text!r} is not Moodle's date form (e.g. 'Monday, 3 March 2025, 10:00 "
                                "AM')") from None
    return out


@dataclass
class Term:
    """The due date (aware), the late policy and the extensions of a class."""
    due: dt.datetime = None
    policy: str = "none"
    extensions: dict = field(default_factory=dict)   # student -> aware due date
    moodle_times: dict = field(default_factory=dict)  # Moodle participant id -> aware time

    def due_of(self, student):
        return self.extensions.get(student, self.due)


def submission_time(student, term):
    """(aware time or None, how it is known) of an intake ``Student``'s submission (see the module docstring)."""
    from nbgrader.utils import parse_utc

    stamp = student.nbgrader_file("timestamp.txt")
    if stamp is not None:
        try:
            return parse_utc(stamp.decode("utf-8").strip()).replace(tzinfo=dt.timezone.utc), "nbgrader's timestamp.txt"
        except (ValueError, UnicodeDecodeError, OverflowError):
            return None, "timestamp.txt could not be read"
    lms = student.lms.get("lms")
    if lms == "moodle" and student.lms.get("id") in term.moodle_times:
        return term.moodle_times[student.lms["id"]], "Moodle's worksheet"
    if lms == "canvas":
        due = term.due_of(student.id)
        if student.lms.get("late"):
            return due + CANVAS_LATE, "Canvas's LATE mark (counted as one day late)"
        return due, "Canvas (no LATE mark: on time)"
    return None, "no submission time: no timestamp.txt, LMS time or mark"


def utc_text(when):
    return when.astimezone(dt.timezone.utc).strftime(TIMESTAMP_FORMAT)


def naive_utc(when):
    """nbgrader's form of a time: naive, in UTC."""
    return when.astimezone(dt.timezone.utc).replace(tzinfo=None)


def lateness(seconds):
    """"" for 0, else e.g. "3 d 2 h", "1 h 5 min", "40 s"."""
    if seconds <= 0:
        return ""
    days, rest = divmod(int(round(seconds)), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days} d" if days else "", f"{hours} h" if hours else "", f"{minutes} min" if minutes and not days
             else "", f"{secs} s" if secs and not days and not hours else ""]
    return " ".join(p for p in parts if p)
