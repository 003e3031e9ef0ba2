"""Submissions in, gradable notebooks out: nothing is modified in place, every repair is reported.

Accepted layouts (a folder, or a zip of one):

- nbgrader's tree: ``[submitted/]<student>/batchnorm/*.ipynb``;
- Canvas's "Download submissions": top-level files
  ``<lastfirst>_[LATE_]<userid>_<attachmentid>_<original file name>``, e.g.
  ``smithjohn_LATE_12345_6789012_batchnorm.zip``; ``userid`` and ``attachmentid`` are digits, one
  student may have several files, and Canvas appends ``-N`` to the original name of a resubmitted file
  (``02_forward-1.ipynb``: read as ``02_forward.ipynb``). The student id is ``<lastfirst>-<userid>``;
- Moodle's "Download all submissions": one folder per student and submission plugin,
  ``<Full Name>_<participantid>_assignsubmission_file_/`` (Moodle 4.1 and later drop the final ``_``)
  holding the uploaded files; with "download submissions in folders" off, the files themselves are
  named ``<Full Name>_<participantid>_assignsubmission_file_<original file name>``. Online text
  (``..._assignsubmission_onlinetext_``) is ignored. The student id is ``<full-name-slug>-<participantid>``
  (``Ada Lovelace_4242_...`` -> ``ada-lovelace-4242``);
- any other LMS download: one folder or archive per student at the top level
  (``<student>/...`` or ``<student>.zip``), notebooks anywhere inside. As in
  nbgrader's ``zip_collect``, the student id is what comes before the first
  ``_`` of a file name such as ``<student>_batchnorm.zip``.

An uploaded archive (``.zip``) is unpacked, without a leading ``batchnorm/`` folder. Canvas and Moodle
students keep the LMS's own identity in ``Student.lms``, for the way back (``lms``):
``{"lms": "canvas", "id": userid, "name": lastfirst, "late": bool, "uploads": {original file name: download file
name}}`` (a download name's ``attachmentid`` is that file's id in Canvas, which its "Re-Upload Submissions" reads
back) or
``{"lms": "moodle", "id": participantid, "name": full name, "folder": the download folder's name}``.
Student ids match ``[A-Za-z0-9._@-]+``; the LMS's user id in them keeps namesakes apart.
"""
import io
import json
import re
import unicodedata
import uuid
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import nbformat

from .course import ASSIGNMENT, RELEASE_FILES
from .notebooks import without_hidden_tests

FEEDBACK_CELL = "summary"  # the first cell of a feedback notebook (feedback.feedback_notebook) is marked so
MAX_FILE_BYTES = 50 * 2 ** 20  # a notebook larger than this is not read
# not notebooks, and not worth a note: the release's own files, and what nbgrader's submit adds
EXPECTED_OTHER_FILES = frozenset(RELEASE_FILES) | {"timestamp.txt", "submission_secret.txt"}
# Canvas: lastfirst_[LATE_]userid_attachmentid_original name
CANVAS_NAME = re.compile(r"^(?P<name>[^_]+)_(?:(?P<late>LATE)_)?(?P<id>\d+)_(?P<attachment>\d+)_(?P<original>.+)$")
# Canvas's mark of a resubmitted file: -N before the extension
RESUBMITTED = re.compile(r"^(?P<stem>.+)-(?P<n>\d+)(?P<ext>\.[A-Za-z0-9]+)$")
# Moodle: a folder Full Name_participantid_assignsubmission_plugin[_], or, when flat, a file
# Full Name_participantid_assignsubmission_plugin_original name. Moodle writes the id after the name, and the
# student chooses the original name: a folder's id is its last one, a flat file's its first, so that neither a
# crafted profile name nor a crafted file name can pass for another participant.
MOODLE_FOLDER = re.compile(r"^(?P<name>.+)_(?P<id>\d+)_assignsubmission_(?P<plugin>[A-Za-z0-9]+)_?$")
MOODLE_FLAT = re.compile(r"^(?P<name>.+?)_(?P<id>\d+)_assignsubmission_(?P<plugin>[A-Za-z0-9]+)_(?P<original>.+)$")


@dataclass
class Student:
    """One student's files (relative path -> bytes) and what intake had to say about them."""
    id: str
    files: dict = field(default_factory=dict)
    notebooks: dict = field(default_factory=dict)  # expected name -> NotebookNode, ready to grade
    messages: list = field(default_factory=list)  # (level, text); level "error" needs an instructor's look
    lms: dict = field(default_factory=dict)  # the LMS's own identity (see the module docstring); {} if none
    uploaded: bool = False  # some files came as an upload (an LMS file or a student's archive), not a folder tree

    def nbgrader_file(self, name):
        """The bytes of nbgrader's own ``timestamp.txt`` or ``submission_secret.txt``, or None. Trusted only from a
        folder tree with no upload in it (nbgrader's ``submitted/`` from its exchange, which writes both itself):
        a file of that name in an LMS upload or a student's archive is the student's, and says nothing."""
        return None if self.uploaded or self.lms else self.files.get(name)

    def note(self, level, text):
        self.messages.append((level, text))

    @property
    def needs_look(self):
        return any(level == "error" for level, _ in self.messages)


def _safe_id(name):
    return re.sub(r"[^A-Za-z0-9._@-]+", "-", name).strip("-.") or "unnamed"


def _slug(name):
    """"Ada Lovelace" -> "ada-lovelace": ASCII letters and digits, lower case, joined by "-"."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")


def _zip_files(data, prefix=""):
    """{relative path: bytes} of a zip archive, skipping folders, unsafe paths and oversized members."""
    out, skipped = {}, []
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for info in zf.infolist():
            path = PurePosixPath(info.filename)
            if info.is_dir() or path.is_absolute() or ".." in path.parts or "__MACOSX" in path.parts:
                continue
            if info.file_size > MAX_FILE_BYTES:
                skipped.append(info.filename)
                continue
            out[prefix + path.as_posix()] = zf.read(info)
    return out, skipped


def _folder_files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.stat().st_size <= MAX_FILE_BYTES}


def _strip_common_folder(files, name):
    """The files without a leading folder `name` that all of them share."""
    if files and all(PurePosixPath(p).parts[0] == name and len(PurePosixPath(p).parts) > 1 for p in files):
        return {PurePosixPath(*PurePosixPath(p).parts[1:]).as_posix(): d for p, d in files.items()}
    return files


def _add_upload(student, name, data):
    """Store one uploaded file under ``name``; an archive is unpacked instead (problems are noted)."""
    student.uploaded = True
    if not name.lower().endswith(".zip"):
        student.files[name] = data
        return
    try:
        inner, skipped = _zip_files(data)
    except zipfile.BadZipFile:
        student.note("error", f"{name} is not a valid zip archive")
        return
    if not inner:
        student.note("error", f"{name} is an empty archive")
    for s in skipped:
        student.note("error", f"{s} in {name} is larger than {MAX_FILE_BYTES >> 20} MB: not read")
    student.files.update(_strip_common_folder(inner, ASSIGNMENT))


def _canvas(students, match):
    """The Canvas student of a download file name, created or updated."""
    sid = _safe_id(f"{match['name']}-{match['id']}")
    student = students.setdefault(sid, Student(sid))
    if not student.lms:
        student.lms = {"lms": "canvas", "id": match["id"], "name": match["name"], "late": False}
    student.lms["late"] = student.lms["late"] or bool(match["late"])
    return student


def _moodle(students, match, folder):
    """The Moodle student of a download folder (or flat file) name, created or updated."""
    sid = _safe_id(f"{_slug(match['name']) or 'participant'}-{match['id']}")
    student = students.setdefault(sid, Student(sid))
    if not student.lms or match["plugin"] == "file" and "_assignsubmission_file" not in student.lms["folder"]:
        student.lms = {"lms": "moodle", "id": match["id"], "name": match["name"], "folder": folder}
    return student


def collect(source):
    """Students found in a folder or zip (see the module docstring), in a stable order."""
    source = Path(source)
    if source.is_file():
        files, _ = _zip_files(source.read_bytes())
    else:
        files = _folder_files(source)
    for wrapper in ("build", "submitted"):  # nbgrader's tree, from the course root or from submitted/
        files = _strip_common_folder(files, wrapper)
    students = {}
    canvas_uploads = {}  # student id -> original name -> (resubmission number, download name, bytes)
    ignored = set()      # Moodle folders of other submission plugins, noted once each
    for path, data in files.items():
        parts = PurePosixPath(path).parts
        canvas = CANVAS_NAME.match(parts[0]) if len(parts) == 1 else None
        moodle = (MOODLE_FOLDER if len(parts) > 1 else MOODLE_FLAT).match(parts[0])
        if canvas:
            student = _canvas(students, canvas)
            original, number = canvas["original"], 0
            resubmitted = RESUBMITTED.match(original)
            if resubmitted:
                original, number = resubmitted["stem"] + resubmitted["ext"], int(resubmitted["n"])
            uploads = canvas_uploads.setdefault(student.id, {})
            if original in uploads:
                older = min(uploads[original], (number, parts[0], data))
                uploads[original] = max(uploads[original], (number, parts[0], data))
                student.note("info", f"{older[1]} is an older upload of {original} than {uploads[original][1]}; "
                                     "ignored")
            else:
                uploads[original] = (number, parts[0], data)
        elif moodle:
            folder = parts[0] if len(parts) > 1 else f"{moodle['name']}_{moodle['id']}_assignsubmission_file_"
            student = _moodle(students, moodle, folder)
            if moodle["plugin"] != "file":
                if parts[0] not in ignored:
                    ignored.add(parts[0])
                    student.note("info", f"{parts[0]} holds a Moodle {moodle['plugin']} submission, not files; "
                                         "ignored")
                continue
            _add_upload(student, PurePosixPath(*parts[1:]).as_posix() if len(parts) > 1 else moodle["original"],
                        data)
        elif len(parts) == 1:
            name = parts[0]
            sid = _safe_id(Path(name).stem.split("_")[0])
            _add_upload(students.setdefault(sid, Student(sid)), name, data)
        else:
            sid = _safe_id(parts[0])
            student = students.setdefault(sid, Student(sid))
            inner = PurePosixPath(*parts[1:])
            if inner.parts[0] == ASSIGNMENT and len(inner.parts) > 1:
                inner = PurePosixPath(*inner.parts[1:])
            student.files[inner.as_posix()] = data
    for sid, uploads in canvas_uploads.items():
        for original, (number, name, data) in sorted(uploads.items()):
            if number:
                students[sid].note("info", f"{name}: Canvas's resubmission mark -{number} removed; read as "
                                           f"{original}")
            _add_upload(students[sid], original, data)
            students[sid].lms.setdefault("uploads", {})[original] = name  # for Canvas's Re-Upload (lms)
    return [students[s] for s in sorted(students)]


def _grade_ids(nb):
    return {c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells} - {None}


def _read(name, data, student):
    """A NotebookNode (nbformat 4) from bytes, or None with a message."""
    try:
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        student.note("error", f"{name} is not valid notebook JSON ({err.__class__.__name__}: {err}); scored 0")
        return None
    if not isinstance(raw, dict) or "cells" not in raw and "worksheets" not in raw:
        student.note("error", f"{name} is JSON but not a notebook; scored 0")
        return None
    try:
        version = int(raw.get("nbformat", 0))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # missing or repeated cell ids: repaired below
            nb = nbformat.reads(json.dumps(raw), as_version=4)
    except Exception as err:  # nbformat raises several kinds of errors for broken notebooks
        student.note("error", f"{name} could not be read as a notebook ({err}); scored 0")
        return None
    if version < 4:
        student.note("info", f"{name} was in nbformat {version}; converted to nbformat 4")
    return nb


def _repair_grade_cells(name, nb, source_nb, student):
    """Make a notebook's nbgrader metadata consistent with the source; report each repair."""
    source_ids = {c.metadata["nbgrader"]["grade_id"]: c for c in source_nb.cells if "nbgrader" in c.metadata}
    source_solutions = [g for g, c in source_ids.items() if c.metadata["nbgrader"].get("solution")]
    seen = set()
    unknown_solutions, unknown_tests = [], []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader")
        if not meta:
            continue
        gid = meta.get("grade_id")
        if gid in seen:
            del cell.metadata["nbgrader"]
            student.note("info", f"{name}: a second cell with grade id {gid!r} (a duplicated cell) is graded "
                                 "as ordinary code")
            continue
        if gid not in source_ids:
            if meta.get("solution"):
                unknown_solutions.append(cell)
            else:
                del cell.metadata["nbgrader"]
                unknown_tests.append(gid)
            continue
        seen.add(gid)
        if not meta.get("solution") and cell.source.strip() != without_hidden_tests(source_ids[gid].source).strip():
            student.note("error", f"{name}: the locked test cell {gid} was edited; graded with the original")
    missing = [g for g in source_solutions if g not in seen]
    for cell in unknown_solutions:
        gid = cell.metadata["nbgrader"]["grade_id"]
        if len(missing) == 1 and len(unknown_solutions) == 1:
            cell.metadata["nbgrader"]["grade_id"] = missing[0]
            seen.add(missing[0])
            student.note("error", f"{name}: an answer cell's grade id was changed to {gid!r}; set back to "
                                  f"{missing[0]!r}")
        else:
            del cell.metadata["nbgrader"]
            student.note("error", f"{name}: an answer cell has the unknown grade id {gid!r}; graded as ordinary code")
    deleted = [g for g, c in source_ids.items() if c.metadata["nbgrader"].get("grade") and g not in seen
               and not c.metadata["nbgrader"].get("solution")]
    if unknown_tests:
        student.note("error", f"{name}: test cells were given other grade ids ({', '.join(map(repr, unknown_tests))}); "
                              f"the original tests ({', '.join(deleted) or 'none missing'}) are restored and graded")
    elif deleted:
        student.note("error", f"{name}: test cells {', '.join(deleted)} were deleted; restored and graded")


def _unique_cell_ids(nb):
    """Give cells with a missing or repeated id a fresh one (duplicated cells, converted notebooks)."""
    seen = set()
    for cell in nb.cells:
        if not cell.get("id") or cell["id"] in seen:
            cell["id"] = uuid.uuid4().hex[:8]
        seen.add(cell["id"])


def prepare(student, source_notebooks):
    """Fill ``student.notebooks`` (expected name -> notebook) from ``student.files``; report what was done."""
    expected = dict(source_notebooks)
    found, unreadable = {}, set()
    for path in sorted(student.files):
        name = PurePosixPath(path).name
        if name.startswith(".") or ".ipynb_checkpoints" in path:
            continue
        if not name.endswith(".ipynb"):
            if name not in EXPECTED_OTHER_FILES:
                student.note("info", f"{path} is not a notebook; ignored")
            continue
        nb = _read(path, student.files[path], student)
        stem = name[:-len(".ipynb")]
        if nb is None:
            unreadable.add(stem)  # reported: not "missing" as well
            continue
        ids = _grade_ids(nb)
        if not ids and nb.cells and nb.cells[0].metadata.get("batchnorm") == FEEDBACK_CELL:
            student.note("error", f"{path} is a feedback notebook (a graded copy handed back), not the notebook "
                                  "worked in; scored 0")
            if stem in expected and stem not in found:
                found[stem] = None  # said once: not "missing" too
            continue
        if stem in expected and stem not in found and ids:
            found[stem] = nb
            continue
        matches = [n for n, src in expected.items() if n not in found and ids & _grade_ids(src)]
        if not ids:
            if stem in expected:
                student.note("error", f"{path} has no nbgrader metadata (cells copied into a new notebook?): "
                                      "it cannot be graded automatically; scored 0")
                found[stem] = None
            else:
                student.note("info", f"{path} is an extra notebook; ignored")
        elif len(matches) == 1:
            found[matches[0]] = nb
            student.note("error", f"{path} was renamed; graded as {matches[0]}.ipynb")
        else:
            student.note("info", f"{path} is an extra notebook; ignored")
    for name, src in expected.items():
        nb = found.get(name)
        if nb is None:
            if name not in found and name not in unreadable:
                student.note("error", f"{name}.ipynb is missing; scored 0")
            continue
        _repair_grade_cells(f"{name}.ipynb", nb, src, student)
        _unique_cell_ids(nb)
        student.notebooks[name] = nb
    return student
