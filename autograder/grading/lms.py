"""Grades and feedback back into the LMS: Canvas's gradebook, Moodle's grading worksheet, feedback files.

Scores come from the gradebook (``gradebook.load``) as ``Result`` objects; a result's ``lms`` dict is the
identity intake read from the download (``intake``): ``{"lms": "canvas", "id": userid, "name": lastfirst, ...}``
or ``{"lms": "moodle", "id": participantid, "name": full name, "folder": download folder}``, ``{}`` otherwise.

Canvas, Grades > Export, then Import (``export_canvas``)::

    Student,ID,SIS User ID,SIS Login ID,Section,Batch Norm (123456),...,Current Score,...
        Points Possible,,,,,120.00,...,(read only),...
    "Smith, John",12345,s123,jsmith,Section 1,,...
    "Student, Test",99999,,,Section 1,,...

``LastName,FirstName`` may replace ``Student``, SIS columns may be missing, and a row with an empty
name may come before Points Possible (manual posting). Assignment columns are ``<title> (<assignment id>)``.
Rows are matched on ``ID`` (Canvas's user id); only the assignment's column is changed.

Moodle, Assignment > View all submissions > Download grading worksheet, then Upload grading worksheet
(``export_moodle``; "Offline grading worksheet" must be enabled among the feedback types)::

    Identifier,Full name,Email address,Status,Grade,Maximum Grade,Grade can be changed,
        Last modified (submission),Online text,Last modified (grade),Feedback comments
    Participant 4242,Ada Lovelace,ada@example.org,Submitted for grading,,100.00,Yes,...

Rows are matched on the participant id; Grade (scaled to Maximum Grade) and Feedback comments are filled.
Moodle skips a grade above the assignment's maximum, and a row whose "Last modified (grade)" is older than
the grade it holds, so that column is left as downloaded.

Feedback files (``feedback_zip``), from each student's feedback folder: their summary ``00_summary.html``
(``feedback.write_summary``) and one ``<notebook>.html`` page per notebook:

- ``moodle_feedback.zip`` for Moodle's "Upload multiple feedback files in a zip": one folder per student,
  named exactly like the download's (``Ada Lovelace_4242_assignsubmission_file_/02_forward.html``); Moodle
  matches a path on its ``<name>_<participantid>_<plugin type>_<plugin>`` part;
- ``canvas_feedback.zip`` for Canvas's "Re-Upload Submissions" (``canvas_files``): one file per file the student
  uploaded, named exactly like it in the download (``smithjohn_12345_6789012_04_running_statistics.ipynb``). Canvas
  reads a name's first two all-digit ``_`` parts as the user id and the id of one of that user's submitted files
  (attachment), adds the file to that submission as a comment ("See attached file"), and shows it under the name of
  the file it answers, whatever its own name (Canvas's ``Assignment#infer_comment_context_from_filename`` and
  ``generate_comments_from_files``; instructure/canvas-lms issue 2406). So the content is of the uploaded file's
  kind: the feedback notebook (``feedback.feedback_notebook``) for an uploaded notebook, a zip of the student's pages
  for an uploaded zip;
- ``canvas/<lastfirst>_<userid>/`` folders, for Canvas students none of whose uploads can carry feedback, to attach
  by hand;
- ``other/<student>/`` for students without an LMS identity.
"""
import csv
import io
import re
import shutil
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from .intake import CANVAS_NAME
from .report import awaiting_text
from .term import lateness

CANVAS_POINTS_POSSIBLE = "Points Possible"  # the label of Canvas's second row, after four spaces
CANVAS_TEST_STUDENT = "Student, Test"       # Canvas's "student view" user: never graded, never reported
CANVAS_READ_ONLY = "(read only)"
# who the student is: never a column to fill
CANVAS_IDENTITY = frozenset({"Student", "LastName", "FirstName", "ID", "SIS User ID", "SIS Login ID", "Integration ID",
                             "Root Account", "Section"})
CANVAS_ASSIGNMENT = re.compile(r"\(\d+\)\s*$")  # an assignment column: "<title> (<assignment id>)"
BATCHNORM_COLUMN = re.compile(r"batch[\s_-]*norm", re.IGNORECASE)
MOODLE_PARTICIPANT = re.compile(r"(\d+)\s*$")  # "Participant 4242"


class LmsFileError(ValueError):
    """A gradebook or worksheet that cannot be read or filled; the message says why and what to do."""


@dataclass
class Report:
    """What an export did: rows filled, students the LMS lists who submitted nothing, results left out."""
    title: str
    filled: list = field(default_factory=list)         # (LMS name, value written)
    no_submission: list = field(default_factory=list)  # LMS names: listed by the LMS, nothing graded (scored 0)
    unmatched: list = field(default_factory=list)      # (student id, reason): graded but not exported
    notes: list = field(default_factory=list)          # anything else the instructor should know
    incomplete: list = field(default_factory=list)     # (LMS name, what awaits grading by hand): partial totals
    out: Path = None                                   # the file or folder written
    done: str = "row(s) filled"                          # what ``filled`` counts, for ``text``

    def text(self):
        lines = [f"{self.title}: {len(self.filled)} {self.done}" + (f" -> {self.out}" if self.out else "")]
        if self.no_submission:
            lines.append(f"listed by the LMS, no submission (scored 0): {len(self.no_submission)}")
            lines += [f"  {name}" for name in self.no_submission]
        if self.unmatched:
            lines.append(f"NOT EXPORTED: {len(self.unmatched)}")
            lines += [f"  {student}: {reason}" for student, reason in self.unmatched]
        if self.incomplete:
            lines.append(f"NOT COMPLETE: {len(self.incomplete)} total(s) leave out written answers that await grading "
                         "by hand; grade them and export again")
            lines += [f"  {name}: {what}" for name, what in self.incomplete]
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)


# --- CSV files as the LMS wrote them -----------------------------------------------------

@dataclass
class _Table:
    """A CSV file's rows, and how to write it back the same way (BOM, delimiter, line ends)."""
    rows: list
    bom: bool
    delimiter: str
    newline: str

    @classmethod
    def read(cls, path):
        path = Path(path)
        try:
            raw = path.read_bytes()
        except OSError as err:
            raise LmsFileError(f"cannot read {path}: {err.strerror or err}") from None
        bom = raw.startswith(b"\xef\xbb\xbf")
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise LmsFileError(f"{path} is not UTF-8 text: export it again as CSV (UTF-8)") from None
        first = text.split("\n", 1)[0]
        delimiter = max(",;\t", key=first.count)
        try:
            rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
        except csv.Error as err:
            raise LmsFileError(f"{path} is not a CSV file ({err})") from None
        if not rows:
            raise LmsFileError(f"{path} is empty")
        width = len(rows[0])
        rows = [row + [""] * (width - len(row)) for row in rows if row]  # short rows: as spreadsheets save them
        return cls(rows, bom, delimiter, "\r\n" if "\r\n" in text else "\n")

    def column(self, name, path):
        try:
            return self.rows[0].index(name)
        except ValueError:
            raise LmsFileError(f"{path} has no {name!r} column (columns: {', '.join(self.rows[0])})") from None

    def write(self, path):
        buf = io.StringIO(newline="")
        csv.writer(buf, delimiter=self.delimiter, lineterminator=self.newline).writerows(self.rows)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(("\ufeff" if self.bom else "").encode() + buf.getvalue().encode("utf-8"))


def _check_paths(source, out):
    if Path(out).resolve() == Path(source).resolve():
        raise LmsFileError(f"{out} is the input file: write to another file (the download stays as it is)")


def _number(value):
    """A score as the LMS shows one, at most two decimals: 7.5, 8, 0.33."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _by_lms_id(results, lms, report):
    """{LMS user id: result} of one LMS; every other result goes to ``report.unmatched``."""
    out = {}
    for r in results:
        if r.lms.get("lms") != lms or not r.lms.get("id"):
            where = f"it came from {r.lms['lms'].title()}" if r.lms.get("lms") else "it has no LMS identity"
            report.unmatched.append((r.student, f"not a {lms.title()} submission ({where}): enter "
                                                f"{_number(r.total)}/{_number(r.max_total)} by hand"))
        elif r.lms["id"] in out:
            report.unmatched.append((r.student, f"a second submission of {lms.title()} user {r.lms['id']} "
                                                f"(the first is {out[r.lms['id']].student}); not exported"))
        else:
            out[r.lms["id"]] = r
    return out


def _left_out(by_id, used, lms, report):
    for uid, r in by_id.items():
        if uid not in used:
            report.unmatched.append((r.student, f"{lms} user {uid} ({r.lms.get('name', '')}) is not in the "
                                                f"file: enter {_number(r.total)}/{_number(r.max_total)} by hand"))


# --- Canvas --------------------------------------------------------------------------

def _canvas_column(header, column, path):
    """Index of the assignment's column: ``column`` (a full header or a unique substring), else batchnorm's."""
    assignments = [h for h in header if CANVAS_ASSIGNMENT.search(h)]
    listing = "; ".join(assignments) or "none"
    if column:
        if column in header and column not in CANVAS_IDENTITY:
            return header.index(column)
        found = [h for h in assignments if column.lower() in h.lower()]
        what = f"--column {column!r}"
    else:
        found = [h for h in assignments if BATCHNORM_COLUMN.search(h)]
        what = "a column named like batchnorm or batch norm"
    if len(found) != 1:
        how = "matches several columns" if found else "matches no assignment column"
        raise LmsFileError(f"{path}: {what} {how} ({'; '.join(found) or 'none'}); pass --column with one of "
                           f"the assignment columns: {listing}")
    return header.index(found[0])


def export_canvas(results, gradebook_csv, out_csv, column=None):
    """Write Canvas's gradebook export back with this assignment's column filled (see the module docstring).

    Each listed student gets their total; one who submitted nothing gets 0 (an excused "EX" stays), and is
    reported; results Canvas does not list, or that did not come from Canvas, are reported, never dropped.
    """
    _check_paths(gradebook_csv, out_csv)
    table = _Table.read(gradebook_csv)
    header = table.rows[0]
    id_col = table.column("ID", gradebook_csv)
    name_cols = [header.index(h) for h in ("LastName", "FirstName") if h in header] or [0]
    col = _canvas_column(header, column, gradebook_csv)
    report = Report(f"Canvas gradebook, column {header[col]!r}", out=Path(out_csv))
    by_id = _by_lms_id(results, "canvas", report)
    used = set()
    for row in table.rows[1:]:
        name = ", ".join(row[i].strip() for i in name_cols)
        uid = row[id_col].strip()
        if row[0].strip() == CANVAS_POINTS_POSSIBLE:
            if row[col].strip() == CANVAS_READ_ONLY:
                raise LmsFileError(f"{gradebook_csv}: the column {header[col]!r} is read only; choose an "
                                   "assignment column with --column")
            _compare_points(row[col], {r.max_total for r in by_id.values()}, report)
            continue
        if not uid or name == CANVAS_TEST_STUDENT:  # the manual posting row; Canvas's test student
            continue
        r = by_id.get(uid)
        if r is not None:
            used.add(uid)
            row[col] = _number(r.total)
            report.filled.append((name, row[col]))
            if not r.complete:
                report.incomplete.append((name, awaiting_text(r)))
        elif row[col].strip().upper() == "EX":
            report.notes.append(f"{name} is excused (EX) and submitted nothing: left excused")
        elif row[col].strip().upper() == "N/A":
            report.notes.append(f"{name} is not assigned this assignment in Canvas (N/A) and submitted nothing: "
                                "left N/A")
        else:
            if _float(row[col]) not in (None, 0):
                report.notes.append(f"{name} had {row[col].strip()} in Canvas and no submission here: now 0")
            row[col] = "0"
            report.no_submission.append(name)
    _left_out(by_id, used, "Canvas", report)
    table.write(out_csv)
    return report


def _float(text):
    try:
        return float(text.strip().replace(",", "."))
    except (ValueError, AttributeError):
        return None


def _compare_points(possible, maxima, report):
    points = _float(possible)
    for m in sorted(maxima):
        if points is not None and abs(points - m) > 1e-6:
            report.notes.append(f"Canvas's Points Possible is {possible.strip()} but the assignment is out of "
                                f"{_number(m)} here: totals written as they are (not scaled)")


# --- Moodle ---------------------------------------------------------------------------

def export_moodle(results, worksheet_csv, out_csv):
    """Write Moodle's grading worksheet back with Grade and Feedback comments filled (see the module docstring).

    A total is scaled to the row's Maximum Grade when that differs from the assignment's maximum here.
    """
    _check_paths(worksheet_csv, out_csv)
    table = _Table.read(worksheet_csv)
    id_col = table.column("Identifier", worksheet_csv)
    grade_col = table.column("Grade", worksheet_csv)
    header = table.rows[0]
    name_col = header.index("Full name") if "Full name" in header else id_col
    max_col = header.index("Maximum Grade") if "Maximum Grade" in header else None
    comment_col = header.index("Feedback comments") if "Feedback comments" in header else None
    locked_col = header.index("Grade can be changed") if "Grade can be changed" in header else None
    report = Report("Moodle grading worksheet", out=Path(out_csv))
    if comment_col is None:
        report.notes.append("the worksheet has no Feedback comments column (enable the Feedback comments "
                            "feedback type to have them): grades only")
    by_id = _by_lms_id(results, "moodle", report)
    used, scaled, replaced = set(), set(), 0
    for row in table.rows[1:]:
        match = MOODLE_PARTICIPANT.search(row[id_col])
        if not match:
            continue
        uid, name = match[1], row[name_col].strip()
        moodle_max = _float(row[max_col]) if max_col is not None else None
        r = by_id.get(uid)
        if r is not None:
            used.add(uid)
            grade, out_of = r.total, r.max_total
            if moodle_max is not None and r.max_total > 0 and abs(moodle_max - r.max_total) > 1e-6:
                grade, out_of = r.total * moodle_max / r.max_total, moodle_max
                scaled.add((_number(r.max_total), _number(moodle_max)))
            comment = (f"Autograded: {_number(r.total)} / {_number(r.max_total)} points"
                       + (f" ({_number(grade)} / {_number(out_of)} in Moodle)" if out_of != r.max_total else "")
                       + ". Start with the attached 00_summary.html, then each notebook's page.")
            if r.seconds_late > 0:
                comment += f" Submitted {lateness(r.seconds_late)} late: late penalty {_number(r.penalty)} points."
            if not r.complete:
                comment += (f" Not complete: {awaiting_text(r)} await grading by hand; this grade leaves them out "
                            "until they are graded.")
                report.incomplete.append((name, awaiting_text(r)))
            report.filled.append((name, f"{grade:.2f}"))
        else:
            grade = 0.0
            comment = "No submission was received: 0 points."
            report.no_submission.append(name)
        row[grade_col] = f"{grade:.2f}"
        if locked_col is not None and row[locked_col].strip().lower() == "no":
            report.notes.append(f"{name}: the grade is locked in Moodle (Grade can be changed: No), so Moodle "
                                "will not import it")
        if comment_col is not None:
            if row[comment_col].strip() and row[comment_col].strip() != comment:
                replaced += 1
            row[comment_col] = comment
    for ours, theirs in sorted(scaled):
        report.notes.append(f"grades scaled from {ours} points here to Moodle's Maximum Grade {theirs}")
    if replaced:
        report.notes.append(f"{replaced} feedback comment(s) already in the worksheet were replaced")
    _left_out(by_id, used, "Moodle", report)
    table.write(out_csv)
    return report


# --- feedback files ---------------------------------------------------------------------

def _pages(result, report):
    """The student's feedback pages, or [] with the reason in ``report.unmatched``."""
    folder = Path(result.feedback) if result.feedback else None
    pages = sorted(folder.glob("*.html")) if folder and folder.is_dir() else []
    if not pages:
        why = f"feedback folder {folder} is missing" if folder and not folder.is_dir() else \
            f"no feedback pages in {folder}" if folder else "no feedback folder was recorded"
        report.unmatched.append((result.student, why))
    return pages


CANVAS_FEEDBACK_ZIP = "canvas_feedback.zip"
RENAMED = re.compile(r"^(?P<file>.+) was renamed; graded as (?P<nb>\S+)\.ipynb$")  # intake's message


def canvas_reads(name):
    """(user id, attachment id) as Canvas's Re-Upload reads a file name: its first two all-digit ``_`` parts."""
    digits = [part for part in name.split("_") if part.isdigit() and part.isascii()]
    return tuple(digits[:2]) if len(digits) >= 2 else None


def canvas_files(result, pages):
    """[(name in canvas_feedback.zip, bytes)]: the feedback Canvas's Re-Upload attaches to each of the student's
    uploads (module docstring): an uploaded notebook gets its feedback notebook, an uploaded zip a zip of ``pages``;
    anything else, or a notebook that was not graded, nothing."""
    folder = Path(result.feedback)
    renamed = {m["file"]: m["nb"] for m in (RENAMED.match(text) for _, text in result.messages) if m}
    files = []
    for original, download in sorted(result.lms.get("uploads", {}).items()):
        match = CANVAS_NAME.match(download)
        if not match:
            continue
        if original.lower().endswith(".zip"):
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
                for page in pages:
                    zf.write(page, page.name)
            data = buf.getvalue()
        elif original.endswith(".ipynb") and (folder / f"{renamed.get(original, original[:-6])}.ipynb").is_file():
            data = (folder / f"{renamed.get(original, original[:-6])}.ipynb").read_bytes()
        else:
            continue
        name = download
        if canvas_reads(name) != (match["id"], match["attachment"]):  # a name Canvas would misread: only the ids
            name = f"{match['id']}_{match['attachment']}_{match['original']}"
        files.append((name, data))
    return files


def feedback_zip(results, out_dir):
    """(paths written, Report): ``out_dir/moodle_feedback.zip``, ``out_dir/canvas_feedback.zip``,
    ``out_dir/canvas/``, ``out_dir/other/``.

    See the module docstring for the layout. ``canvas/`` and ``other/`` are emptied first, so that they hold
    this class's pages only; each zip is written only if some student came from its LMS.
    """
    out_dir = Path(out_dir)
    report = Report("Feedback files", out=out_dir, done="students' pages packed")
    for sub in ("canvas", "other"):
        shutil.rmtree(out_dir / sub, ignore_errors=True)
    moodle, canvas, paths, by_hand = [], [], [], []
    for r in results:
        pages = _pages(r, report)
        if not pages:
            continue
        kind = r.lms.get("lms")
        if kind == "canvas":
            files = canvas_files(r, pages)
            if files:
                canvas.append(files)
                report.filled.append((r.lms.get("name", r.student), f"{CANVAS_FEEDBACK_ZIP}: {len(files)} file(s)"))
                continue
            by_hand.append(r.student)
        if kind == "moodle":
            folder = r.lms.get("folder") or f"{r.lms['name']}_{r.lms['id']}_assignsubmission_file_"
            parts = folder.split("_", 4)
            if len(parts) < 4 or not parts[1].isdigit():
                report.notes.append(f"{r.student}: Moodle will not match the folder {folder!r} (an underscore in "
                                    "the name?): upload these pages by hand")
            moodle.append((folder, pages))
            report.filled.append((r.lms.get("name", r.student), folder))
            continue
        if kind == "canvas":
            target = out_dir / "canvas" / f"{r.lms.get('name', r.student)}_{r.lms['id']}"
        else:
            target = out_dir / "other" / r.student
        target.mkdir(parents=True, exist_ok=True)
        for page in pages:
            shutil.copyfile(page, target / page.name)
        report.filled.append((r.lms.get("name", r.student), str(target.relative_to(out_dir))))
    zip_path = out_dir / "moodle_feedback.zip"
    zip_path.unlink(missing_ok=True)
    if moodle:
        out_dir.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
            for folder, pages in moodle:
                for page in pages:
                    zf.write(page, f"{folder}/{page.name}")
        paths.append(zip_path)
    canvas_zip = out_dir / CANVAS_FEEDBACK_ZIP
    canvas_zip.unlink(missing_ok=True)
    if canvas:
        out_dir.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(canvas_zip, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in (file for files in canvas for file in files):
                zf.writestr(name, data)
        paths.append(canvas_zip)
    if canvas or by_hand:
        report.notes.append(f"Canvas: {len(canvas)} student(s) in {CANVAS_FEEDBACK_ZIP}, {len(by_hand)} to attach by "
                            "hand" + (f" ({', '.join(by_hand)}: none of their uploads is a notebook or a zip; their "
                                      "pages are in canvas/, for a comment in SpeedGrader)" if by_hand else ""))
    if canvas:
        report.notes.append(f"{CANVAS_FEEDBACK_ZIP}: upload it as it is with Re-Upload Submissions on the assignment's "
                            "page; Canvas attaches each file to the upload it answers, under that upload's name, and "
                            "shows it once the grades are posted")
    paths += [out_dir / sub for sub in ("canvas", "other") if (out_dir / sub).is_dir()]
    return paths, report


# --- command line ------------------------------------------------------------------------

def _db_url(args):
    """The gradebook to read: --db-url, else the SQLite gradebook of --graded; LmsFileError if it is missing."""
    if args.db_url:
        url = args.db_url
    else:
        from .pipeline import sqlite_url  # imported here: the pipeline is heavy, and not needed for the export

        url = sqlite_url(Path(args.graded) / "course")
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        raise LmsFileError(f"{url!r} is not a database URL (e.g. postgresql://user@host/db)") from None
    # SQLite would create an empty database where none is
    if parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").is_file():
        raise LmsFileError(f"no gradebook at {parsed.database}: grade the class first (python -m autograder grade "
                           "... --out FOLDER), then pass --graded FOLDER or --db-url")
    return url


def _load(args):
    from . import gradebook

    url = _db_url(args)
    try:
        results, _ = gradebook.load(url)
    except Exception as err:  # SQLAlchemy and nbgrader raise many kinds: all mean "not a graded class"
        raise LmsFileError(f"cannot read the gradebook {url}: {err.__class__.__name__}: {err}") from None
    return results


def _export(args):
    prog = "python -m autograder export"
    source = Path(args.gradebook)
    out = Path(args.out) if args.out else source.with_name(f"{source.stem}_filled.csv")
    if args.column and args.lms != "canvas":
        print(f"{prog}: --column is for Canvas; ignored", file=sys.stderr)
    try:
        if not source.is_file():
            raise LmsFileError(f"{source} does not exist or is not a file")
        results = _load(args)
        if args.lms == "canvas":
            report = export_canvas(results, source, out, column=args.column)
        else:
            report = export_moodle(results, source, out)
    except LmsFileError as err:
        print(f"{prog}: {err}", file=sys.stderr)
        return 1
    print(report.text())
    return 0


def _feedback_zip(args):
    out = Path(args.out) if args.out else Path(args.graded) / "lms_feedback"
    try:
        results = _load(args)
    except LmsFileError as err:
        print(f"python -m autograder feedback-zip: {err}", file=sys.stderr)
        return 1
    paths, report = feedback_zip(results, out)
    print(report.text())
    for path in paths:
        print(f"written: {path}")
    return 0


def _source_options(parser):
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--db-url", default=None, help="the gradebook's URL, e.g. postgresql://user@host/db")
    where.add_argument("--graded", default="build/grading", help="the grading output folder whose SQLite gradebook "
                                                                 "is read (default build/grading)")


def add_commands(subparsers):
    """Register ``export`` and ``feedback-zip`` on the main command line's subparsers; each sets ``func``."""
    e = subparsers.add_parser("export", help="fill the LMS's gradebook file (Canvas gradebook export or Moodle "
                                             "grading worksheet) with the class's scores, for import")
    e.add_argument("--lms", required=True, choices=("canvas", "moodle"))
    e.add_argument("--gradebook", required=True, type=Path, help="Canvas: Grades > Export (CSV); Moodle: the "
                                                                 "assignment's Download grading worksheet")
    e.add_argument("--column", default=None, help="Canvas: the assignment's column, a full header or a unique "
                                                  "part of one (default: the one named like batchnorm)")
    e.add_argument("--out", type=Path, default=None, help="the file to write (default <gradebook>_filled.csv "
                                                          "beside it); never the input")
    _source_options(e)
    e.set_defaults(func=_export)
    f = subparsers.add_parser("feedback-zip", help="feedback for the LMS: moodle_feedback.zip, canvas_feedback.zip, "
                                                   "and canvas/ and other/ folders",
                              description="Each student's feedback from the graded class, one upload per LMS: "
                                          "canvas_feedback.zip for Canvas's Re-Upload Submissions, moodle_feedback.zip "
                                          "for Moodle's Upload multiple feedback files in a zip; canvas/ holds the "
                                          "pages of Canvas students the zip cannot reach, other/ those of students "
                                          "without an LMS identity.")
    _source_options(f)
    f.add_argument("--out", type=Path, default=None, help="output folder (default <graded>/lms_feedback)")
    f.set_defaults(func=_feedback_zip)
