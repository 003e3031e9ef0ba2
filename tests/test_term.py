"""Due dates, extensions and late penalties: from every source of a submission's time to grades.csv, the report
and the LMS comment, through nbgrader's gradebook and late-penalty plugin."""
import csv
import datetime as dt
import io

import nbformat
import pytest

from autograder.grading import gradebook, lms, term
from autograder.grading.course import Course
from autograder.grading.pipeline import Settings, grade_class, sqlite_url
from autograder.samples.submissions import solved_assignment
from test_lms import CANVAS_HEADER, archive, canvas_gradebook

NOTEBOOK = "01_axis_means_keepdims"  # the cheapest notebook to grade; 17 points, no written answer
POINTS = 17
DUE = "2026-12-01T23:59+01:00"
SETTINGS = Settings(workers=2, cell_timeout=30, notebook_timeout=60, sandbox=False)


def test_policies_count_every_started_day_up_to_the_cap():
    day = 86400
    assert term.penalty_fraction("10%/day,max20%", 0) == 0
    assert term.penalty_fraction("10%/day,max20%", 3600) == pytest.approx(0.1)        # an hour: one started day
    assert term.penalty_fraction("10%/day,max20%", day + 1) == pytest.approx(0.2)
    assert term.penalty_fraction("10%/day,max20%", 3 * day) == pytest.approx(0.2)     # capped
    assert term.penalty_fraction("5%/hour", 2.5 * 3600) == pytest.approx(0.15)
    assert term.penalty_fraction("zero", 1) == 1 and term.penalty_fraction("none", 10 * day) == 0
    for bad in ["10%", "ten%/day", "10%/week", "10%/day,50%"]:
        with pytest.raises(term.TermError, match="use none, zero, or a rate"):
            term.parse_policy(bad)
    with pytest.raises(term.TermError, match="no time zone"):
        term.parse_time("2026-12-01T23:59")


def test_extensions_file_gives_a_due_date_or_hours_and_names_bad_rows(tmp_path):
    due = term.parse_time(DUE)
    path = tmp_path / "extensions.csv"
    path.write_text("student,due,hours\neve,,48\nfay,2026-12-05T12:00+01:00,\n")
    assert term.read_extensions(path, due) == {"eve": due + dt.timedelta(hours=48),
                                               "fay": term.parse_time("2026-12-05T12:00+01:00")}
    path.write_text("student,due,hours\ngus,,\nhal,tomorrow,\n")
    with pytest.raises(term.TermError) as err:
        term.read_extensions(path, due)
    assert "line 2: gus has neither due nor hours" in str(err.value) and "line 3: 'tomorrow'" in str(err.value)


def moodle_worksheet(path, times):
    """Moodle's grading worksheet with "Last modified (submission)" for each participant id."""
    header = ["Identifier", "Full name", "Email address", "Status", "Grade", "Maximum Grade", "Grade can be changed",
              "Last modified (submission)", "Online text", "Last modified (grade)", "Feedback comments"]
    rows = [[f"Participant {pid}", name, "", "Submitted for grading", "", "140.00", "Yes", when, "", "-", ""]
            for pid, (name, when) in times.items()]
    buf = io.StringIO(newline="")
    csv.writer(buf, lineterminator="\n").writerows([header] + rows)
    path.write_text(buf.getvalue())
    return path


def test_a_term_late_work_extensions_and_unknown_times_from_every_source(tmp_path, capsys):
    from autograder.__main__ import main

    course = Course.create(tmp_path / "src")
    course.generate_here()
    solved = nbformat.writes(solved_assignment(course.release_dir, course.source_dir)[NOTEBOOK]).encode()
    due = term.parse_time(DUE)
    stamp = {"ontime": due - dt.timedelta(hours=1), "hourlate": due + dt.timedelta(hours=1),
             "threedays": due + dt.timedelta(days=3), "eve": due + dt.timedelta(hours=30)}
    download = tmp_path / "download"
    for student, when in stamp.items():  # nbgrader's exchange tree, timestamps as nbgrader writes them
        folder = download / student / "batchnorm"
        folder.mkdir(parents=True)
        (folder / f"{NOTEBOOK}.ipynb").write_bytes(solved)
        (folder / "timestamp.txt").write_text(term.utc_text(when))
    (download / "smithjohn_LATE_12345_6789012_batchnorm.zip").write_bytes(archive({f"{NOTEBOOK}.ipynb": solved}))
    (download / "doejane_222_333_batchnorm.zip").write_bytes(archive({f"{NOTEBOOK}.ipynb": solved}))
    moodle = {"4242": ("Ada Lovelace", "Wednesday, 2 December 2026, 1:59 AM"),       # 2 h late
              "4243": ("Bea Bell", "Friday, 4 December 2026, 11:00 PM"),           # 3 days late: capped
              "4244": ("Cy Cole", "Thursday, 3 December 2026, 5:59 AM"),           # 30 h late, 48 h extension
              "4245": ("Di Dorn", "Tuesday, 1 December 2026, 11:00 PM")}           # on time
    for pid, (name, _) in moodle.items():
        folder = download / f"{name}_{pid}_assignsubmission_file_"
        folder.mkdir()
        (folder / f"{NOTEBOOK}.ipynb").write_bytes(solved)
    (download / "zed").mkdir()  # a folder per student with no time at all
    (download / "zed" / f"{NOTEBOOK}.ipynb").write_bytes(solved)
    worksheet = moodle_worksheet(tmp_path / "worksheet.csv", moodle)
    extensions = tmp_path / "extensions.csv"
    extensions.write_text("student,hours\neve,48\ncy-cole-4244,48\n")
    out = tmp_path / "graded"
    args = ["grade", str(download), "--out", str(out), "--due", DUE, "--late-policy", "10%/day,max20%",
            "--extensions", str(extensions), "--moodle-worksheet", str(worksheet), "--workers", "2",
            "--no-sandbox", "--cell-timeout", "30"]
    assert main(args) == 0, capsys.readouterr()
    db_url = sqlite_url(out / "course")
    results = {r.student: r for r in gradebook.load(db_url)[0]}
    fraction = {"ontime": 0, "hourlate": 0.1, "threedays": 0.2, "eve": 0, "smithjohn-12345": 0.1,
                "doejane-222": 0, "ada-lovelace-4242": 0.1, "bea-bell-4243": 0.2, "cy-cole-4244": 0,
                "di-dorn-4245": 0, "zed": 0}
    assert {s: r.penalty for s, r in results.items()} == {s: round(POINTS * f, 2) for s, f in fraction.items()}
    assert {s: r.total for s, r in results.items()} == {s: POINTS - round(POINTS * f, 2) for s, f in fraction.items()}
    assert results["hourlate"].seconds_late == 3600 and results["threedays"].seconds_late == 3 * 86400
    assert results["eve"].seconds_late == 0  # 30 h after the due date, within her 48 h
    assert results["smithjohn-12345"].seconds_late == 86400 and results["ada-lovelace-4242"].seconds_late == 7200
    assert any("the submission time is unknown" in t and level == "error" for level, t in results["zed"].messages)
    assert any("submitted 1 d after the due date (Canvas's LATE mark" in t
               for _, t in results["smithjohn-12345"].messages)

    with open(out / "grades.csv") as f:
        rows = {r["student"]: r for r in csv.DictReader(f)}
    assert (rows["threedays"]["late"], rows["threedays"]["late_penalty"], rows["threedays"]["score"]) == \
        ("3 d", "3.4", "13.6")
    assert rows["ontime"]["late"] == "" and rows["ontime"]["late_penalty"] == "0"
    page = (out / "course" / "build" / "feedback" / "hourlate" / "batchnorm" / f"{NOTEBOOK}.html").read_text()
    assert "Late submission penalty (Score: -1.7)" in page  # nbgrader's feedback page shows its penalty
    assert "Submitted 1 hour after the due date." in page and "(after a late penalty of\n1.7 points)" in page
    page = (out / "course" / "build" / "feedback" / "threedays" / "batchnorm" / "00_summary.html").read_text()
    assert "Submitted 3 days after the due date." in page
    page = (out / "course" / "build" / "feedback" / "smithjohn-12345" / "batchnorm" / "00_summary.html").read_text()
    assert "Canvas marked your submission late; a late submission counts as one day late." in page
    assert "after the due date" not in page  # Canvas gives no time: none is claimed
    report = (out / "report.txt").read_text()

    assert "late submissions: 5, late penalties" in report and "threedays: 3 d late, penalty 3.4" in report

    moodle_report = lms.export_moodle(list(results.values()), worksheet, tmp_path / "moodle.csv")
    assert dict(moodle_report.filled) == {"Ada Lovelace": "15.30", "Bea Bell": "13.60", "Cy Cole": "17.00",
                                   "Di Dorn": "17.00"}
    comment = lms._Table.read(tmp_path / "moodle.csv").rows[1][-1]
    assert "Submitted 2 h late: late penalty 1.7 points." in comment

    gradebook_csv = canvas_gradebook(tmp_path / "canvas.csv", CANVAS_HEADER[:5] + ["Batch Norm (1)"],
                                     [["    Points Possible", "", "", "", "", "140"],
                                      ["Smith, John", "12345", "", "", "", ""], ["Doe, Jane", "222", "", "", "", ""]])
    canvas = lms.export_canvas(list(results.values()), gradebook_csv, tmp_path / "canvas_import.csv")
    assert canvas.filled == [("Smith, John", "15.3"), ("Doe, Jane", "17")]  # the LATE one after its penalty

    # the term is the gradebook's: regrading one student later, without --due, applies the same due date and policy
    assert main(["grade", str(download), "--out", str(out), "--student", "threedays", "--no-sandbox"]) == 0
    again = {r.student: r for r in gradebook.load(db_url)[0]}
    assert again["threedays"].penalty == 3.4 and again["hourlate"].penalty == 1.7
    assert main(["grade", str(download), "--out", str(out), "--late-policy", "zero", "--no-sandbox"]) == 2
    assert "--late-policy, --extensions and --moodle-worksheet need --due" in capsys.readouterr().err



def test_a_timestamp_a_student_puts_in_an_upload_is_not_the_submission_time(tmp_path):
    """A student who adds a timestamp.txt claiming an early time to a Canvas upload or to their own archive gains
    nothing: the LMS's mark decides, or the time is unknown (and listed); only nbgrader's tree is read for it."""
    from autograder.grading.intake import collect

    due = term.parse_time(DUE)
    forged = term.utc_text(due - dt.timedelta(days=1)).encode()
    download = tmp_path / "download"
    download.mkdir()
    (download / "smithjohn_LATE_12345_6789012_batchnorm.zip").write_bytes(
        archive({f"{NOTEBOOK}.ipynb": b"{}", "timestamp.txt": forged, "submission_secret.txt": b"alice's"}))
    (download / "eve_batchnorm.zip").write_bytes(archive({f"{NOTEBOOK}.ipynb": b"{}", "timestamp.txt": forged}))
    (download / "ann" / "batchnorm").mkdir(parents=True)  # nbgrader's submitted/ tree
    (download / "ann" / "batchnorm" / "timestamp.txt").write_bytes(forged)
    students = {s.id: s for s in collect(download)}
    when = {sid: term.submission_time(s, term.Term(due)) for sid, s in students.items()}
    assert when["smithjohn-12345"][0] == due + term.CANVAS_LATE
    assert when["eve"][0] is None
    assert when["ann"] == (due - dt.timedelta(days=1), "nbgrader's timestamp.txt")
    assert students["smithjohn-12345"].nbgrader_file("submission_secret.txt") is None
