"""The way in and back out of Canvas and Moodle: download names, gradebook files, feedback archives (no grading)."""
import argparse
import csv
import io
import re
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder.grading import lms
from autograder.grading.gradebook import Result
from autograder.grading.intake import collect

NB1, NB2 = "01_axis_means_keepdims.ipynb", "02_forward.ipynb"


def archive(files):
    """A zip of {path: bytes}, as a student would upload one."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path, data in files.items():
            zf.writestr(path, data)
    return buf.getvalue()


def write(folder, files):
    for path, data in files.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_bytes(data)
    return folder


def zip_folder(folder, path):
    path.write_bytes(archive({p.relative_to(folder).as_posix(): p.read_bytes()
                              for p in folder.rglob("*") if p.is_file()}))
    return path


def collect_download(tmp_path, files, as_zip):
    """{id: Student} intake finds in a download written as a folder, or as a zip of that folder."""
    source = write(tmp_path / "download", files)
    if as_zip:
        source = zip_folder(source, tmp_path / "submissions.zip")
    return {s.id: s for s in collect(source)}


def result(student, total, max_total=120.0, lms_identity=None, feedback=None):
    """A graded student: `total` of `max_total` points over two notebooks."""
    half = max_total / 2
    scores = {"01_axis_means_keepdims": {"a": (min(total, half), half)},
              "02_forward": {"b": (max(total - half, 0.0), half)}}
    return Result(student, scores=scores, lms=lms_identity or {}, feedback=feedback)


def canvas(uid, name, late=False, uploads=None):
    return {"lms": "canvas", "id": uid, "name": name, "late": late, **({"uploads": uploads} if uploads else {})}


def moodle(uid, name):
    return {"lms": "moodle", "id": uid, "name": name, "folder": f"{name}_{uid}_assignsubmission_file_"}


def read_csv(path):
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"), newline="")))


# --- intake ------------------------------------------------------------------------

CANVAS_DOWNLOAD = {
    "smithjohn_12345_6789012_batchnorm.zip": archive({f"batchnorm/{NB1}": b"john 1", f"batchnorm/{NB2}": b"john 2"}),
    f"doejane_LATE_222_333_{NB1}": b"jane 1",
    "doejane_LATE_222_333_02_forward-1.ipynb": b"jane 2, resubmitted",
    f"smithjohn_54321_777_{NB1}": b"the other john",  # a namesake
    "alice_batchnorm.zip": archive({f"batchnorm/{NB1}": b"alice 1"}),  # not Canvas: the old layout
    f"bob/{NB2}": b"bob 2",
}


@pytest.mark.parametrize("as_zip", [False, True])
def test_canvas_download_names(tmp_path, as_zip):
    """Canvas's lastfirst_[LATE_]userid_attachmentid_name: one student per user id, -N marks removed."""
    students = collect_download(tmp_path, CANVAS_DOWNLOAD, as_zip)
    assert sorted(students) == ["alice", "bob", "doejane-222", "smithjohn-12345", "smithjohn-54321"]
    assert students["smithjohn-12345"].files == {NB1: b"john 1", NB2: b"john 2"}
    assert students["doejane-222"].files == {NB1: b"jane 1", NB2: b"jane 2, resubmitted"}
    assert students["smithjohn-54321"].files == {NB1: b"the other john"}
    assert students["smithjohn-12345"].lms == canvas("12345", "smithjohn",
                                                     uploads={"batchnorm.zip": "smithjohn_12345_6789012_batchnorm.zip"})
    assert students["doejane-222"].lms == canvas("222", "doejane", late=True, uploads={
        NB1: f"doejane_LATE_222_333_{NB1}", NB2: "doejane_LATE_222_333_02_forward-1.ipynb"})
    assert any(level == "info" and "-1" in text and NB2 in text for level, text in students["doejane-222"].messages)
    assert students["alice"].files == {NB1: b"alice 1"} and students["alice"].lms == {}
    assert students["bob"].files == {NB2: b"bob 2"} and students["bob"].lms == {}


def test_canvas_keeps_the_latest_resubmission(tmp_path):
    write(tmp_path, {f"doejane_222_333_{NB2}": b"first", "doejane_222_333_02_forward-2.ipynb": b"third",
                     "doejane_222_333_02_forward-1.ipynb": b"second"})
    (student,) = collect(tmp_path)
    assert student.files == {NB2: b"third"}
    assert sum("older upload" in text for _, text in student.messages) == 2


MOODLE_DOWNLOAD = {
    "Ada Lovelace_4242_assignsubmission_file_/batchnorm.zip": archive({f"batchnorm/{NB1}": b"ada 1"}),
    "Ada Lovelace_4242_assignsubmission_onlinetext_/onlinetext.html": b"<p>hello</p>",
    f"Ada Lovelace_4343_assignsubmission_file/{NB2}": b"the other ada",  # Moodle 4.1: no final _
    f"José Núñez_77_assignsubmission_file_/work/{NB1}": b"jose 1",
    f"Grace Hopper_88_assignsubmission_file_{NB2}": b"grace 2",  # "download submissions in folders" off
}


@pytest.mark.parametrize("as_zip", [False, True])
def test_moodle_download_names(tmp_path, as_zip):
    """Moodle's Full Name_participantid_assignsubmission_file_/ folders; online text is ignored, with a note."""
    students = collect_download(tmp_path, MOODLE_DOWNLOAD, as_zip)
    assert sorted(students) == ["ada-lovelace-4242", "ada-lovelace-4343", "grace-hopper-88", "jose-nunez-77"]
    ada = students["ada-lovelace-4242"]
    assert ada.files == {NB1: b"ada 1"}
    assert ada.lms == {"lms": "moodle", "id": "4242", "name": "Ada Lovelace",
                       "folder": "Ada Lovelace_4242_assignsubmission_file_"}
    assert any(level == "info" and "onlinetext" in text for level, text in ada.messages)
    assert students["ada-lovelace-4343"].files == {NB2: b"the other ada"}
    assert students["ada-lovelace-4343"].lms["folder"] == "Ada Lovelace_4343_assignsubmission_file"
    assert students["jose-nunez-77"].files == {f"work/{NB1}": b"jose 1"}
    assert students["jose-nunez-77"].lms["name"] == "José Núñez"
    assert students["grace-hopper-88"].files == {NB2: b"grace 2"}
    assert students["grace-hopper-88"].lms["folder"] == "Grace Hopper_88_assignsubmission_file_"


def test_a_crafted_name_cannot_pass_for_another_participant(tmp_path):
    """Moodle writes the participant id after the name; the student picks the file name (and sometimes the name)."""
    write(tmp_path, {
        # flat download: Mallory uploads a file named like Ada's
        f"Mallory Cole_555_assignsubmission_file_x_4242_assignsubmission_file_{NB1}": b"mallory 1",
        # folders: a profile name that ends like Ada's folder
        f"Ada Lovelace_4242_assignsubmission_file__556_assignsubmission_file_/{NB2}": b"mallory 2",
        f"Ada Lovelace_4242_assignsubmission_file_/{NB2}": b"ada 2",
    })
    students = {s.id: s for s in collect(tmp_path)}
    assert students["ada-lovelace-4242"].files == {NB2: b"ada 2"}
    assert students["mallory-cole-555"].files == {f"x_4242_assignsubmission_file_{NB1}": b"mallory 1"}
    assert students["mallory-cole-555"].lms["id"] == "555"
    assert [s.lms["id"] for s in students.values() if s.files.get(NB2) == b"mallory 2"] == ["556"]


# --- Canvas gradebook --------------------------------------------------------------------

CANVAS_HEADER = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Quiz 1 (111)", "Batch Norm (123456)",
                 "Current Score", "Unposted Current Score", "Final Score", "Unposted Final Score"]
CANVAS_ROWS = [
    ["    Points Possible", "", "", "", "", "10.00", "120.00", "(read only)", "(read only)", "(read only)",
     "(read only)"],
    ["Smith, John", "12345", "s1", "jsmith", "Section 1", "9.00", "", "90.00", "90.00", "90.00", "90.00"],
    ["Doe, Jane", "222", "s2", "jdoe", "Section 1", "8.00", "", "80.00", "80.00", "80.00", "80.00"],
    ["Lovelace, Ada", "999", "s3", "alovelace", "Section 2", "10.00", "", "100.00", "100.00", "100.00", "100.00"],
    ["Student, Test", "5555", "", "", "Section 1", "", "", "", "", "", ""],
]
COLUMN = CANVAS_HEADER.index("Batch Norm (123456)")


def canvas_gradebook(path, header=CANVAS_HEADER, rows=CANVAS_ROWS):
    buf = io.StringIO(newline="")
    csv.writer(buf, lineterminator="\n").writerows([header] + rows)
    path.write_bytes(b"\xef\xbb\xbf" + buf.getvalue().encode())  # Canvas's export starts with a BOM
    return path


def test_canvas_export_fills_one_column(tmp_path):
    source = canvas_gradebook(tmp_path / "gradebook.csv")
    before = source.read_bytes()
    results = [result("smithjohn-12345", 100.5, lms_identity=canvas("12345", "smithjohn")),
               result("doejane-222", 60, lms_identity=canvas("222", "doejane", late=True)),
               result("latejoiner-8", 30, lms_identity=canvas("8", "latejoiner")),
               result("alice", 12)]
    report = lms.export_canvas(results, source, tmp_path / "filled.csv")
    assert source.read_bytes() == before
    out = read_csv(tmp_path / "filled.csv")
    assert (tmp_path / "filled.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    original = [CANVAS_HEADER] + CANVAS_ROWS
    assert len(out) == len(original)
    changed = {(i, j) for i, row in enumerate(out) for j, cell in enumerate(row) if cell != original[i][j]}
    assert changed == {(2, COLUMN), (3, COLUMN), (4, COLUMN)}  # John, Jane, Ada; not Points Possible or Test
    assert [out[i][COLUMN] for i in (2, 3, 4)] == ["100.5", "60", "0"]
    assert report.filled == [("Smith, John", "100.5"), ("Doe, Jane", "60")]
    assert report.no_submission == ["Lovelace, Ada"]
    assert sorted(s for s, _ in report.unmatched) == ["alice", "latejoiner-8"]
    text = report.text()
    assert "Lovelace, Ada" in text and "latejoiner-8" in text and "alice" in text and "NOT EXPORTED" in text
    with pytest.raises(lms.LmsFileError, match="input"):
        lms.export_canvas(results, source, source)


def test_canvas_export_first_last_names_and_points_possible(tmp_path):
    header = ["LastName", "FirstName", "ID", "SIS Login ID", "Section", "batchnorm (7)"]
    rows = [["", "", "", "", "", "Manual Posting"], ["    Points Possible", "", "", "", "", "100.00"],
            ["Smith", "John", "12345", "jsmith", "S1", "EX"], ["Doe", "Jane", "222", "jdoe", "S1", "EX"]]
    source = canvas_gradebook(tmp_path / "g.csv", header, rows)
    report = lms.export_canvas([result("smithjohn-12345", 60, lms_identity=canvas("12345", "smithjohn"))], source,
                               tmp_path / "out.csv")
    out = read_csv(tmp_path / "out.csv")
    assert out[3][5] == "60" and out[4][5] == "EX"  # an excused student who submitted nothing stays excused
    assert report.filled == [("Smith, John", "60")] and report.no_submission == []
    assert any("Points Possible is 100.00" in note for note in report.notes)
    assert any("Doe, Jane" in note and "excused" in note for note in report.notes)


def test_canvas_column_choice(tmp_path):
    header = CANVAS_HEADER[:6] + ["Batch Norm (1)", "Batchnorm retake (2)"]
    rows = [["    Points Possible", "", "", "", "", "10", "120", "120"],
            ["Smith, John", "12345", "", "", "", "", "", ""]]
    source = canvas_gradebook(tmp_path / "g.csv", header, rows)
    results = [result("smithjohn-12345", 42, lms_identity=canvas("12345", "smithjohn"))]
    with pytest.raises(lms.LmsFileError) as err:
        lms.export_canvas(results, source, tmp_path / "out.csv")
    assert "several" in str(err.value) and "Batchnorm retake (2)" in str(err.value) and "--column" in str(err.value)
    lms.export_canvas(results, source, tmp_path / "out.csv", column="retake")
    assert read_csv(tmp_path / "out.csv")[2][5:] == ["", "", "42"]
    lms.export_canvas(results, source, tmp_path / "out.csv", column="Batch Norm (1)")
    assert read_csv(tmp_path / "out.csv")[2][5:] == ["", "42", ""]
    with pytest.raises(lms.LmsFileError, match="Quiz 1 \\(111\\)"):
        lms.export_canvas(results, source, tmp_path / "out.csv", column="final exam")
    with pytest.raises(lms.LmsFileError, match="no 'ID' column"):
        lms.export_canvas(results, canvas_gradebook(tmp_path / "bad.csv", ["Name", "Batch Norm (1)"], []),
                          tmp_path / "out.csv")


# --- Moodle worksheet --------------------------------------------------------------------

MOODLE_HEADER = ["Identifier", "Full name", "Email address", "Status", "Grade", "Maximum Grade",
                 "Grade can be changed", "Last modified (submission)", "Online text", "Last modified (grade)",
                 "Feedback comments"]


def moodle_worksheet(path, maximum):
    rows = [["Participant 4242", "Ada Lovelace", "ada@example.org", "Submitted for grading", "", maximum, "Yes",
             "Monday, 3 March 2025, 10:00 AM", "", "-", ""],
            ["Participant 4343", "Grace Hopper", "grace@example.org", "No submission", "", maximum, "Yes", "-", "",
             "Tuesday, 4 March 2025, 9:00 AM", "old comment"]]
    buf = io.StringIO(newline="")
    csv.writer(buf, lineterminator="\n").writerows([MOODLE_HEADER] + rows)
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


@pytest.mark.parametrize("maximum, grade", [("100.00", "50.00"), ("120.00", "60.00")])
def test_moodle_export(tmp_path, maximum, grade):
    source = moodle_worksheet(tmp_path / "worksheet.csv", maximum)
    before = read_csv(source)
    results = [result("ada-lovelace-4242", 60, lms_identity=moodle("4242", "Ada Lovelace")),
               result("alan-turing-9999", 70, lms_identity=moodle("9999", "Alan Turing")),
               result("smithjohn-12345", 80, lms_identity=canvas("12345", "smithjohn"))]
    report = lms.export_moodle(results, source, tmp_path / "out.csv")
    out = read_csv(tmp_path / "out.csv")
    assert out[0] == MOODLE_HEADER and len(out) == 3
    grade_col, comment_col = MOODLE_HEADER.index("Grade"), MOODLE_HEADER.index("Feedback comments")
    for new, old in zip(out[1:], before[1:]):  # only Grade and Feedback comments change
        assert [c for j, c in enumerate(new) if j not in (grade_col, comment_col)] == \
            [c for j, c in enumerate(old) if j not in (grade_col, comment_col)]
    assert out[1][grade_col] == grade and out[2][grade_col] == "0.00"
    assert "60 / 120" in out[1][comment_col] and "00_summary.html" in out[1][comment_col]
    assert "No submission" in out[2][comment_col]
    assert report.no_submission == ["Grace Hopper"]
    assert sorted(s for s, _ in report.unmatched) == ["alan-turing-9999", "smithjohn-12345"]
    scaled = [note for note in report.notes if "scaled" in note]
    assert bool(scaled) == (maximum != "120.00")
    if scaled:
        assert "120" in scaled[0] and "100" in scaled[0]


# --- feedback files ----------------------------------------------------------------------

def pages(folder, *names):
    folder.mkdir(parents=True)
    for name in names:
        (folder / f"{name}.html").write_text(f"<html>{folder} {name}</html>")
    return str(folder)


def test_feedback_zip(tmp_path):
    fb = tmp_path / "feedback"
    results = [result("ada-lovelace-4242", 60, lms_identity=moodle("4242", "Ada Lovelace"),
                      feedback=pages(fb / "ada" / "batchnorm", "01_axis_means_keepdims", "02_forward")),
               result("kimbo-444", 80, lms_identity=canvas("444", "kimbo", uploads={"answers.py": "kimbo_444_9_answers.py"}),
                      feedback=pages(fb / "kim" / "batchnorm", "01_axis_means_keepdims")),
               result("alice", 10, feedback=pages(fb / "alice" / "batchnorm", "02_forward")),
               result("gone-7", 0, lms_identity=moodle("7", "Gone Away"), feedback=str(fb / "gone" / "batchnorm")),
               result("nobody", 0)]
    out = tmp_path / "lms_feedback"
    (out / "canvas" / "stale_1").mkdir(parents=True)  # a student of an earlier run: removed
    paths, report = lms.feedback_zip(results, out)
    assert paths == [out / "moodle_feedback.zip", out / "canvas", out / "other"]
    with zipfile.ZipFile(out / "moodle_feedback.zip") as zf:
        assert sorted(zf.namelist()) == ["Ada Lovelace_4242_assignsubmission_file_/01_axis_means_keepdims.html",
                                         "Ada Lovelace_4242_assignsubmission_file_/02_forward.html"]
        assert b"02_forward" in zf.read("Ada Lovelace_4242_assignsubmission_file_/02_forward.html")
    # a Canvas student none of whose uploads can carry feedback: their pages, to attach by hand, and a note
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.html")) == [
        "canvas/kimbo_444/01_axis_means_keepdims.html", "other/alice/02_forward.html"]
    assert report.notes == ["Canvas: 0 student(s) in canvas_feedback.zip, 1 to attach by hand (kimbo-444: none of "
                            "their uploads is a notebook or a zip; their pages are in canvas/, for a comment in "
                            "SpeedGrader)"]
    assert {s for s, _ in report.unmatched} == {"gone-7", "nobody"}
    assert any("missing" in why for s, why in report.unmatched if s == "gone-7")
    assert len(report.filled) == 3


def canvas_reupload(zip_path, submitted):
    """What Canvas's "Re-Upload Submissions" does with a zip, as its source does it (Assignment#
    generate_comments_from_files): each file's name, split on "_", gives the user id and attachment id as its first
    two parts made of digits alone; a file whose attachment is not one of that user's submitted files is ignored; the
    rest is attached to the user's submission under the name of the file it answers.
    ``submitted``: {user id: {attachment id: file name}}. Returns ({user id: {shown name: bytes}}, [ignored])."""
    attached, ignored = {}, []
    with zipfile.ZipFile(zip_path) as zf:
        for name in zf.namelist():
            digits = [part for part in name.rsplit("/", 1)[-1].split("_") if re.fullmatch(r"[0-9]+", part)]
            user, attachment = (digits + [None, None])[:2]
            shown = submitted.get(user, {}).get(attachment)
            if shown is None:
                ignored.append(name)
            else:
                attached.setdefault(user, {})[shown] = zf.read(name)
    return attached, ignored


def feedback_notebook(folder, name, total):
    """A feedback notebook as the pipeline writes one: the results first, then the graded cells."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(f"Total: {total}",
                                                                       metadata={"batchnorm": "summary"}),
                                         nbformat.v4.new_code_cell("x = 1")])
    nbformat.write(nb, folder / f"{name}.ipynb")


def test_canvas_feedback_zip_is_one_upload_that_canvas_attaches_to_each_students_files(tmp_path):
    """A class of three as Canvas's download names them: one uploaded a zip, one two notebooks (one resubmitted),
    one a renamed notebook and a PDF. Every file of the zip lands on the right student's right upload, and what each
    student then sees under their upload's name is a file of that kind."""
    fb = tmp_path / "feedback"
    john = pages(fb / "john" / "batchnorm", "00_summary", "01_axis_means_keepdims", "02_forward")
    jane = pages(fb / "jane" / "batchnorm", "00_summary", "01_axis_means_keepdims", "02_forward")
    lee = pages(fb / "lee" / "batchnorm", "00_summary", "01_axis_means_keepdims", "02_forward")
    for folder, who in ((jane, "jane"), (lee, "lee")):
        for nb in ("01_axis_means_keepdims", "02_forward"):
            feedback_notebook(Path(folder), nb, f"{who} {nb}")
    results = [
        result("smithjohn-12345", 80, feedback=john, lms_identity=canvas("12345", "smithjohn", uploads={
            "batchnorm.zip": "smithjohn_12345_6789012_batchnorm.zip"})),
        result("doejane-222", 70, feedback=jane, lms_identity=canvas("222", "doejane", late=True, uploads={
            NB1: f"doejane_LATE_222_333_{NB1}", NB2: "doejane_LATE_222_334_02_forward-1.ipynb"})),
        result("leeann-31", 50, feedback=lee, lms_identity=canvas("31", "leeann", uploads={
            "my_work.ipynb": "leeann_31_41_my_work.ipynb", "notes.pdf": "leeann_31_42_notes.pdf"})),
    ]
    results[2].messages.append(("error", f"my_work.ipynb was renamed; graded as {NB2}"))
    out = tmp_path / "lms_feedback"
    paths, report = lms.feedback_zip(results, out)
    assert paths == [out / "canvas_feedback.zip"] and not report.unmatched
    assert report.notes == ["Canvas: 3 student(s) in canvas_feedback.zip, 0 to attach by hand",
                            "canvas_feedback.zip: upload it as it is with Re-Upload Submissions on the assignment's "
                            "page; Canvas attaches each file to the upload it answers, under that upload's name, and "
                            "shows it once the grades are posted"]
    # what Canvas holds: each student's submitted files (the download's names, without lastfirst_[LATE_]ids_)
    submitted = {"12345": {"6789012": "batchnorm.zip"}, "222": {"333": NB1, "334": "02_forward-1.ipynb"},
                 "31": {"41": "my_work.ipynb", "42": "notes.pdf"}}
    attached, ignored = canvas_reupload(out / "canvas_feedback.zip", submitted)
    assert not ignored
    assert {user: sorted(files) for user, files in attached.items()} == {
        "12345": ["batchnorm.zip"], "222": [NB1, "02_forward-1.ipynb"], "31": ["my_work.ipynb"]}
    with zipfile.ZipFile(io.BytesIO(attached["12345"]["batchnorm.zip"])) as zf:  # a zip of john's pages
        assert sorted(zf.namelist()) == ["00_summary.html", "01_axis_means_keepdims.html", "02_forward.html"]
        assert b"john" in zf.read("00_summary.html")
    shown = {(user, name): nbformat.reads(data.decode(), as_version=4).cells[0].source
             for user, files in attached.items() for name, data in files.items() if name.endswith(".ipynb")}
    assert shown == {("222", NB1): "Total: jane 01_axis_means_keepdims", ("222", "02_forward-1.ipynb"):
                     "Total: jane 02_forward", ("31", "my_work.ipynb"): "Total: lee 02_forward"}


def test_a_name_canvas_would_misread_keeps_only_the_ids(tmp_path):
    """A lastfirst made of digits would pass for the user id: the file is named by the ids alone."""
    folder = Path(pages(tmp_path / "fb", "00_summary", "01_axis_means_keepdims"))
    feedback_notebook(folder, "01_axis_means_keepdims", "x")
    r = result("123-555", 10, feedback=str(folder), lms_identity=canvas("555", "123", uploads={
        NB1: f"123_555_777_{NB1}"}))
    lms.feedback_zip([r], tmp_path / "out")
    attached, ignored = canvas_reupload(tmp_path / "out" / "canvas_feedback.zip", {"555": {"777": NB1}})
    assert not ignored and list(attached["555"]) == [NB1]


# --- command line ------------------------------------------------------------------------

def run(argv, monkeypatch=None, results=None):
    parser = argparse.ArgumentParser()
    lms.add_commands(parser.add_subparsers(dest="command", required=True))
    if results is not None:
        monkeypatch.setattr(lms, "_load", lambda args: results)
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_export(tmp_path, monkeypatch, capsys):
    source = canvas_gradebook(tmp_path / "gradebook.csv")
    results = [result("smithjohn-12345", 100, lms_identity=canvas("12345", "smithjohn"))]
    assert run(["export", "--lms", "canvas", "--gradebook", str(source)], monkeypatch, results) == 0
    assert read_csv(tmp_path / "gradebook_filled.csv")[2][COLUMN] == "100"
    assert "Lovelace, Ada" in capsys.readouterr().out
    assert run(["export", "--lms", "canvas", "--gradebook", str(tmp_path / "none.csv")], monkeypatch, results) == 1
    assert "does not exist" in capsys.readouterr().err
    assert run(["export", "--lms", "canvas", "--gradebook", str(source), "--out", str(source)],
               monkeypatch, results) == 1
    assert "input" in capsys.readouterr().err
    (tmp_path / "empty.csv").write_text("")
    assert run(["export", "--lms", "moodle", "--gradebook", str(tmp_path / "empty.csv")], monkeypatch, results) == 1
    assert "empty" in capsys.readouterr().err


def test_cli_without_a_graded_class(tmp_path, capsys):
    source = canvas_gradebook(tmp_path / "gradebook.csv")
    assert run(["export", "--lms", "canvas", "--gradebook", str(source), "--graded", str(tmp_path / "nothing")]) == 1
    assert "no gradebook" in capsys.readouterr().err
    assert run(["feedback-zip", "--graded", str(tmp_path / "nothing")]) == 1
    with pytest.raises(SystemExit):  # --db-url and --graded exclude each other
        run(["feedback-zip", "--graded", "x", "--db-url", "sqlite:///x.db"])


def test_cli_reads_the_gradebook(tmp_path, monkeypatch, capsys):
    """From nbgrader's tables and ours (``gradebook``) to the filled file and the feedback archive."""
    import os
    import sys
    import warnings

    from nbgrader.api import Gradebook

    from autograder.grading import gradebook
    from autograder.grading.course import ASSIGNMENT, COURSE_ID

    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])  # nbgrader: alembic
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    with warnings.catch_warnings(), Gradebook(url, COURSE_ID) as gb:
        warnings.simplefilter("ignore")
        gb.add_assignment(ASSIGNMENT)
        for notebook, cells in {"01_axis_means_keepdims": {"a": 4, "b": 6}, "02_forward": {"c": 10}}.items():
            gb.add_notebook(notebook, ASSIGNMENT)
            for cell, points in cells.items():
                gb.update_or_create_grade_cell(cell, notebook, ASSIGNMENT, max_score=points, cell_type="code")
        for student in ("smithjohn-12345", "ada-lovelace-4242"):
            gb.add_student(student)
            gb.add_submission(ASSIGNMENT, student)
        gb.find_grade("a", "01_axis_means_keepdims", ASSIGNMENT, "smithjohn-12345").auto_score = 4
        gb.find_grade("c", "02_forward", ASSIGNMENT, "smithjohn-12345").auto_score = 7.5
        gb.db.commit()
    gradebook.create_tables(url)
    feedback = pages(tmp_path / "feedback", "02_forward")
    gradebook.record(url, [Result("smithjohn-12345", lms=canvas("12345", "smithjohn"), feedback=feedback),
                           Result("ada-lovelace-4242", lms=moodle("4242", "Ada Lovelace"), feedback=feedback)])
    source = canvas_gradebook(tmp_path / "gradebook.csv", CANVAS_HEADER[:6] + ["Batch Norm (1)"],
                              [["    Points Possible", "", "", "", "", "10", "20"],
                               ["Smith, John", "12345", "", "", "", "", ""]])
    assert run(["export", "--lms", "canvas", "--gradebook", str(source), "--db-url", url]) == 0
    assert read_csv(tmp_path / "gradebook_filled.csv")[2][6] == "11.5"
    assert "ada-lovelace-4242" in capsys.readouterr().out  # a Moodle student in a Canvas export: reported
    assert run(["feedback-zip", "--db-url", url, "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "canvas" / "smithjohn_12345" / "02_forward.html").is_file()
    with zipfile.ZipFile(tmp_path / "out" / "moodle_feedback.zip") as zf:
        assert zf.namelist() == ["Ada Lovelace_4242_assignsubmission_file_/02_forward.html"]


def test_canvas_column_is_never_an_identity_column(tmp_path):
    source = canvas_gradebook(tmp_path / "g.csv")
    with pytest.raises(lms.LmsFileError, match="matches no assignment column"):
        lms.export_canvas([], source, tmp_path / "out.csv", column="ID")
    with pytest.raises(lms.LmsFileError, match="read only"):
        lms.export_canvas([], source, tmp_path / "out.csv", column="Current Score")


# --- written answers awaiting grading by hand ----------------------------------------------

def test_a_total_with_written_answers_awaiting_grading_is_never_a_silent_zero(tmp_path):
    from autograder.grading.gradebook import AWAITING, BLANK, GRADED
    from autograder.grading.pipeline import write_outputs

    points = {"01_axis_means_keepdims": {"a": 60.0}, "02_forward": {"b": 56.0, "written_x": 2.0, "written_y": 2.0}}

    def graded(student, identity, states):
        scores = {"01_axis_means_keepdims": {"a": (60.0, 60.0)},
                  "02_forward": {"b": (56.0, 56.0), "written_x": (1.0 if states[0] == GRADED else 0.0, 2.0),
                                 "written_y": (0.0, 2.0)}}
        return Result(student, scores=scores, lms=identity, graded=frozenset(points),
                      by_hand={("02_forward", "written_x"): states[0], ("02_forward", "written_y"): states[1]})

    ada = graded("ada-lovelace-4242", moodle("4242", "Ada Lovelace"), (AWAITING, AWAITING))
    grace = graded("grace-hopper-4343", moodle("4343", "Grace Hopper"), (GRADED, BLANK))
    john = graded("smithjohn-12345", canvas("12345", "smithjohn"), (AWAITING, BLANK))
    assert [r.complete for r in (ada, grace, john)] == [False, True, False]
    assert john.awaiting == [("02_forward", "written_x", 2.0)]

    write_outputs(tmp_path / "out", [ada, grace, john], points)
    with open(tmp_path / "out" / "grades.csv", newline="") as f:
        rows = {row["student"]: row for row in csv.DictReader(f)}
    assert rows["ada-lovelace-4242"]["awaiting_grading"] == "2 written answer(s), 4 points: written_x, written_y"
    assert rows["grace-hopper-4343"]["awaiting_grading"] == "" and rows["grace-hopper-4343"]["score"] == "117"
    text = (tmp_path / "out" / "report.txt").read_text()
    assert "2 submission(s) have answers awaiting grading" in text
    assert "written_x (02_forward, 2 points): 2 awaiting grading, 1 graded, 0 left blank (0 points)" in text
    assert "written_y (02_forward, 2 points): 1 awaiting grading, 0 graded, 2 left blank (0 points)" in text
    failed = text.split("tests the class failed most")[1].split("needs an")[0]
    assert "written_" not in failed  # graded by hand: counted on their own, never as failed tests
    html = (tmp_path / "out" / "report.html").read_text()
    assert "awaiting grading by hand" in html and "4 points: written_x, written_y" in html

    report = lms.export_moodle([ada, grace], moodle_worksheet(tmp_path / "worksheet.csv", "120.00"),
                               tmp_path / "moodle.csv")
    comments = {row[1]: row[MOODLE_HEADER.index("Feedback comments")] for row in read_csv(tmp_path / "moodle.csv")[1:]}
    assert "Not complete: 2 written answer(s), 4 points: written_x, written_y await grading by hand" in \
        comments["Ada Lovelace"]
    assert "Not complete" not in comments["Grace Hopper"]
    assert report.incomplete == [("Ada Lovelace", "2 written answer(s), 4 points: written_x, written_y")]
    assert "NOT COMPLETE: 1 total(s)" in report.text()

    source = canvas_gradebook(tmp_path / "g.csv", CANVAS_HEADER[:5] + ["Batch Norm (1)"],
                              [["    Points Possible", "", "", "", "", "120"], ["Smith, John", "12345", "", "", "", ""]])
    report = lms.export_canvas([john], source, tmp_path / "canvas.csv")
    assert report.filled == [("Smith, John", "116")]
    assert report.incomplete == [("Smith, John", "1 written answer(s), 2 points: written_x")]
    assert "NOT COMPLETE" in report.text() and "Smith, John: 1 written answer(s)" in report.text()
