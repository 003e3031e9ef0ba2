"""What the class report, grades.csv and the grading run's terminal show of a student's own file names."""
import csv

from autograder.grading.gradebook import Result
from autograder.grading.intake import collect
from autograder.grading.pipeline import write_outputs

# an upload's name is the student's choice (Canvas keeps it after lastfirst_userid_attachmentid_): a spreadsheet
# formula, terminal escape sequences (clear the screen, retitle the window) and a right-to-left override
HOSTILE = '=HYPERLINK("evil.example","open")\x1b[2J\x1b]0;graded: 100%\x07\u202egpj.zip'


def test_a_students_file_names_stay_inert_in_the_report_and_grades_csv(tmp_path):
    download = tmp_path / "download"
    download.mkdir()
    (download / f"eveevil_123_456_{HOSTILE}").write_bytes(b"not a zip")
    (download / "@bob_batchnorm.zip").write_bytes(b"not a zip either")
    students = list(collect(download))
    assert {s.id for s in students} == {"eveevil-123", "@bob"}
    points = {"01_axis_means_keepdims": {"channel_stats_values": 1.0}}
    results = [Result(s.id, scores={"01_axis_means_keepdims": {"channel_stats_values": (0.0, 1.0)}},
                      messages=s.messages, lms=s.lms) for s in students]
    assert any(HOSTILE in text for r in results for _, text in r.messages)
    write_outputs(tmp_path / "out", results, points)

    text = {name: (tmp_path / "out" / name).read_text() for name in ("grades.csv", "report.txt", "report.html")}
    for name, content in text.items():
        assert not [c for c in content if not c.isprintable() and c not in "\n\r"], name
    assert '\\x1b[2J\\x1b]0;graded: 100%\\x07\\u202egpj.zip is not a valid zip archive' in text["report.txt"]
    with open(tmp_path / "out" / "grades.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    cells = [cell for row in rows for cell in row.values()]
    assert [c for c in cells if c[:1] in ("=", "+", "-", "@")] == []
    assert sorted(row["student"] for row in rows) == ["'@bob", "eveevil-123"]
    (eve,) = [row for row in rows if row["student"] == "eveevil-123"]
    assert eve["messages"].startswith("'=HYPERLINK(") and "\\x1b[2J" in eve["messages"]


def test_a_hidden_block_a_students_code_prints_is_redacted_from_feedback_as_text_escaped_or_cut_short():
    from autograder.grading.feedback import _redact
    block = '### BEGIN HIDDEN TESTS\nfrom autograder import check\ncheck("fwd_normalizes", f)\n### END HIDDEN TESTS'
    for shown in (block, repr(block), block.replace("\n", "\\n")[:60]):
        output = {"output_type": "stream", "name": "stdout", "text": f"my cell was: {shown} (the end)\n"}
        text = _redact(output)["text"]
        assert "check(" not in text and "HIDDEN TESTS" not in text and "(hidden tests)" in text, text


def test_the_report_lists_only_failed_tests_counts_only_submitted_notebooks_and_shows_points_as_the_text_does(tmp_path):
    from autograder.grading.gradebook import Result
    points = {"01_axis_means_keepdims": {"a": 2.0, "b": 1.0}, "02_forward": {"c": 4.0}}
    full = {"01_axis_means_keepdims": {"a": (2.0, 2.0), "b": (1.0, 1.0)}, "02_forward": {"c": (4.0, 4.0)}}
    missing = {"01_axis_means_keepdims": {"a": (2.0, 2.0), "b": (1.0, 1.0)}, "02_forward": {"c": (0.0, 4.0)}}
    results = [Result("ann", scores=full, graded=frozenset(points)),
               Result("bob", scores=missing, messages=[("error", "02_forward.ipynb is missing; scored 0")],
                      graded=frozenset({"01_axis_means_keepdims"}))]
    write_outputs(tmp_path, results, points)
    text, html = (tmp_path / "report.txt").read_text(), (tmp_path / "report.html").read_text()
    failed = text.split("tests the class failed most")[1].split("needs an instructor's look")[0]
    assert "every submission that had a notebook passed all its tests" in failed and "1/1" not in failed, failed
    assert "bob (3/7)" in text and "(3/7)" in html and "3.0" not in html and "7.0" not in html

    results[0].scores = {**full, "02_forward": {"c": (1.0, 4.0)}}
    write_outputs(tmp_path, results, points)
    failed = (tmp_path / "report.txt").read_text().split("tests the class failed most")[1].split("needs an")[0]
    assert "  0/1   c  (02_forward)" in failed and " a " not in failed, failed


def test_a_cell_that_floods_its_output_until_the_time_limit_is_named_as_flooding(tmp_path):
    import nbformat

    from autograder.grading.pipeline import _notebook_messages

    def timed_out(printed):
        cell = nbformat.v4.new_code_cell("while True: print(1)", metadata={"nbgrader": {"grade_id": "ex_loop"}})
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=printed),
                        nbformat.v4.new_output("error", ename="CellTimeoutError", evalue="", traceback=[])]
        path = tmp_path / "nb.ipynb"
        nbformat.write(nbformat.v4.new_notebook(cells=[cell]), path)
        return _notebook_messages(path, "01_axis_means_keepdims.ipynb")

    flooded = timed_out("1\n1\n... Output truncated ...\n1\n")
    assert len(flooded) == 1 and flooded[0][0] == "error"
    assert "ran past the per-cell time limit while printing without end (its output was truncated" in flooded[0][1]
    looping = timed_out("")
    assert looping == [("error", "01_axis_means_keepdims.ipynb: cell 'ex_loop' ran past the per-cell time limit (an "
                                 "infinite loop?)")]
