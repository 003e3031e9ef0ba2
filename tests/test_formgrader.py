"""Grading by hand in nbgrader's formgrader, in a real browser: the instructor's side of test_browser.py.

A class of two Canvas students is graded on lesson 4 (its written answer awaits a person); ``start_formgrader``
serves the graded course, and headless Chromium, driven by Playwright, goes Manual Grading > the assignment > the
notebook > the student, gives the written answer points and a comment and lowers an autograded cell's score. The
gradebook then holds the new total, the regenerated feedback page shows the comment and the Canvas export carries
the total. Screenshots of the grading page go to the test's tmp_path. Skipped, with the reason, where no
Chromium can start (set $BATCHNORM_CHROMIUM to use another binary).
"""
import csv
import re
import time
import urllib.error
import urllib.request

import pytest

pw = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: pip install -r requirements.txt")

import lab_browser as lb  # noqa: E402
from autograder.grading import gradebook, lms  # noqa: E402
from autograder.grading.course import Course  # noqa: E402
from autograder.grading.handgrading import graded_course, refresh, start_formgrader, stop_formgrader  # noqa: E402
from autograder.grading.pipeline import Settings, grade_class  # noqa: E402
from autograder.samples import sample  # noqa: E402
from autograder.samples.submissions import solved_assignment  # noqa: E402
from test_lms import CANVAS_HEADER, canvas_gradebook, read_csv  # noqa: E402

expect = pw.expect
NOTEBOOK = "04_running_statistics"  # its written answer is graded by hand
WRITTEN, WRITTEN_POINTS = "written_bessel", 2.0
AUTOGRADED, AUTOGRADED_POINTS = "running_update_unbiased", 3.0
GIVEN, LOWERED = 1.5, 2  # what the instructor types: points for the written answer, the autograded cell's new score
COMMENT = "Right factor n/(n-1); now say what the running variance estimates."
# Canvas download names (lastfirst_userid_attachmentid_...): intake gives the students a Canvas identity
STUDENTS = {"smithjohn_12345_6789012": "smithjohn-12345", "doejane_222_333": "doejane-222"}
STUDENT, OTHER = "smithjohn-12345", "doejane-222"
CANVAS_ROWS = [["    Points Possible", "", "", "", "", "10.00", "140.00", "(read only)", "(read only)", "(read only)",
                "(read only)"],
               ["Smith, John", "12345", "s1", "jsmith", "Section 1", "9.00", "", "90.00", "90.00", "90.00", "90.00"],
               ["Doe, Jane", "222", "s2", "jdoe", "Section 1", "8.00", "", "80.00", "80.00", "80.00", "80.00"]]
BATCHNORM_COLUMN = CANVAS_HEADER.index("Batch Norm (123456)")
SETTINGS = Settings(workers=1, cell_timeout=30, notebook_timeout=60, sandbox=False)
# the formgrader's pages load MathJax from a CDN: the browser reaches nothing but the formgrader on loopback
OFF_MACHINE = re.compile(r"^(?!https?://127\.0\.0\.1[:/])")


@pytest.fixture
def browser(tmp_path):
    """Headless Chromium with a fresh profile that reaches loopback only; the test is skipped when it cannot start."""
    path, why_not = lb.chromium()
    if path is None:
        pytest.skip(why_not)
    playwright = pw.sync_playwright().start()
    context = None
    try:
        try:
            context = lb.launch_chromium(playwright, path, tmp_path / "chromium-profile")
        except pw.Error as e:
            pytest.skip(f"Chromium at {path} cannot start: {lb.launch_failure(e)}")
        context.route(OFF_MACHINE, lambda route: route.abort())
        yield context
    finally:
        if context is not None:
            context.close()
        playwright.stop()


@pytest.fixture
def graded(tmp_path):
    """The ``grade --out`` folder of the class: both students hand in lesson 4 solved; feedback for STUDENT only."""
    course = Course.create(tmp_path / "src")
    course.generate_here()
    solved = solved_assignment(course.release_dir, course.source_dir)
    download = sample.write_class({name: sample.files_of({NOTEBOOK: solved[NOTEBOOK]}) for name in STUDENTS},
                                  tmp_path / "download")
    out = tmp_path / "graded"
    results = {r.student: r for r in grade_class(download, out, SETTINGS, progress=False, feedback=[STUDENT])}
    assert sorted(results) == sorted(STUDENTS.values())
    return out


@pytest.fixture
def formgrader(graded, tmp_path):
    """The url of the formgrader over the graded course, once it answers; stopped at the end whatever happened (its
    log is formgrader.log beside the course folder)."""
    root, _ = graded_course(graded)
    proc, url = start_formgrader(root)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the formgrader exited with {proc.returncode}:\n{proc.log_path.read_text()[-4000:]}")
            try:
                with urllib.request.urlopen(url, timeout=5):
                    break
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    raise RuntimeError("the formgrader did not answer within 60 s") from None
                time.sleep(0.2)
        yield url
    finally:
        stop_formgrader(proc)


def result_of(db_url, student):
    (result,), _ = gradebook.load(db_url, [student])
    return result


def notebook_score(result, spec="g"):
    """NOTEBOOK's score of ``result`` as the formgrader's lists show it ("37.5 / 39"), or the feedback page
    (spec ".1f": "37.5 / 39.0")."""
    cells = result.scores[NOTEBOOK].values()
    return f"{sum(s for s, _ in cells):{spec}} / {sum(m for _, m in cells):{spec}}"


def student_row(page):
    """STUDENT's row of a notebook's submissions list, once loaded, with the students' names shown."""
    names = page.locator("#main-table a.name-shown")
    expect(names).to_have_count(len(STUDENTS))  # anonymous (Submission #1, #2) until the names are shown
    page.get_by_role("button", name="Show All Names").click()
    expect(page.get_by_role("button", name="Hide All Names")).to_be_visible()
    return page.locator("#main-table tr", has=page.get_by_role("link", name=STUDENT, exact=True))


def saved(page, kind, action):
    """Do ``action`` (which blurs an edited input) and wait for the formgrader's PUT of a ``kind`` (grade or
    comment); the saved record as the server returns it."""
    with page.expect_response(lambda r: r.request.method == "PUT" and f"/formgrader/api/{kind}/" in r.url,
                              timeout=30_000) as response:
        action()
    assert response.value.ok, f"saving the {kind} failed: {response.value.status} {response.value.text()}"
    return response.value.json()


def test_grading_by_hand_in_the_formgrader_reaches_feedback_and_canvas(browser, formgrader, graded, tmp_path):
    url = formgrader
    _, db_url = graded_course(graded)
    # the server shows the class's notebooks and runs none of them: no kernel starts
    base, token = url.split("/formgrader")[0], url.split("token=")[1]
    refused = urllib.request.Request(f"{base}/api/kernels?token={token}", data=b"{}", method="POST",
                                     headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as no_kernel:
        urllib.request.urlopen(refused, timeout=10)
    assert no_kernel.value.code == 403
    before = result_of(db_url, STUDENT)
    other = result_of(db_url, OTHER)
    assert before.awaiting == [(NOTEBOOK, WRITTEN, WRITTEN_POINTS)] and not before.complete
    assert before.scores[NOTEBOOK][AUTOGRADED] == (AUTOGRADED_POINTS, AUTOGRADED_POINTS), before.messages
    feedback_page = graded / "course" / "build" / "feedback" / STUDENT / "batchnorm" / f"{NOTEBOOK}.html"
    assert COMMENT not in feedback_page.read_text()

    page = browser.new_page()
    page.set_default_timeout(30_000)
    page.goto(url)
    # Manual Grading > batchnorm > the notebook: each list is filled in by the page's script
    page.get_by_role("link", name="Manual Grading", exact=True).click()
    expect(page).to_have_url(re.compile(r"/formgrader/gradebook/?$"))
    page.locator("#main-table").get_by_role("link", name="batchnorm", exact=True).click()
    page.locator("#main-table").get_by_role("link", name=NOTEBOOK, exact=True).click()
    expect(page).to_have_url(re.compile(rf"/formgrader/gradebook/batchnorm/{NOTEBOOK}$"))
    row = student_row(page)
    expect(row.locator("td.score")).to_have_text(notebook_score(before))
    expect(row.locator("td.needs-manual-grade span.glyphicon-ok")).to_have_count(1)
    row.get_by_role("link", name=STUDENT, exact=True).click()

    # the grading page of STUDENT's notebook: scores and comments load from the gradebook
    expect(page).to_have_url(re.compile(r"/formgrader/submissions/[0-9a-f]+/"))
    page.wait_for_function("() => window.formgrader && formgrader.grades && formgrader.grades.loaded "
                           "&& formgrader.comments && formgrader.comments.loaded")
    written, comment = page.locator(f"input.score#{WRITTEN}"), page.locator(f"textarea#{WRITTEN}-comment")
    autograded = page.locator(f"input.score#{AUTOGRADED}")
    expect(autograded).to_have_attribute("placeholder", f"{AUTOGRADED_POINTS:g}")  # the autograded score
    expect(written).to_have_value("")

    written.click()
    written.fill(f"{GIVEN:g}")
    grade = saved(page, "grade", comment.click)  # leaving the input saves it
    assert float(grade["manual_score"]) == GIVEN and grade["needs_manual_grade"] is False, grade
    comment.fill(COMMENT)
    note = saved(page, "comment", autograded.click)
    assert note["manual_comment"] == COMMENT, note
    autograded.fill(f"{LOWERED:g}")
    grade = saved(page, "grade", lambda: autograded.press("Tab"))
    assert float(grade["manual_score"]) == LOWERED and float(grade["auto_score"]) == AUTOGRADED_POINTS, grade
    panel = page.locator(".nbgrader_cell", has=written)
    panel.scroll_into_view_if_needed()
    page.wait_for_function("() => !$('html, body').is(':animated')")  # the page scrolls to the focused input
    page.screenshot(path=str(tmp_path / "formgrader-grading-page.png"))
    panel.screenshot(path=str(tmp_path / "formgrader-written-answer.png"))

    # the gradebook: the total moved by exactly what was typed, and nothing awaits a person any more
    after = result_of(db_url, STUDENT)
    assert after.total == before.total + GIVEN - (AUTOGRADED_POINTS - LOWERED)
    assert after.complete and after.awaiting == []
    assert after.scores[NOTEBOOK][WRITTEN] == (GIVEN, WRITTEN_POINTS)
    assert after.scores[NOTEBOOK][AUTOGRADED] == (LOWERED, AUTOGRADED_POINTS)
    assert {m.grade_id: (m.manual_score, m.comment) for m in gradebook.marks(db_url, [STUDENT])} == \
        {WRITTEN: (GIVEN, COMMENT), AUTOGRADED: (LOWERED, None)}
    assert result_of(db_url, OTHER).scores == other.scores  # the other student is untouched

    # the formgrader's own list shows the new score, and no manual grade pending for the student
    page.locator(".breadcrumb").get_by_role("link", name=NOTEBOOK, exact=True).click()
    row = student_row(page)
    expect(row.locator("td.score")).to_have_text(notebook_score(after))
    expect(row.locator("td.needs-manual-grade span")).to_have_count(0)
    page.close()

    # every output rebuilt from the gradebook, the student's feedback page made again with the comment
    results, failed = refresh(graded, [STUDENT])
    assert failed == []
    assert {r.student: r.total for r in results} == {STUDENT: after.total, OTHER: other.total}
    with open(graded / "grades.csv", newline="") as f:
        rows = {r["student"]: r for r in csv.DictReader(f)}
    assert (rows[STUDENT]["score"], rows[STUDENT]["awaiting_grading"]) == (f"{after.total:g}", "")
    page_text = feedback_page.read_text()  # nbgrader's feedback template: scores with one decimal
    assert f"<b>Comments:</b> <p>{COMMENT}</p>" in page_text
    assert f'<a href="#{WRITTEN}">Written response</a> (Score: {GIVEN:.1f} / {WRITTEN_POINTS:.1f})' in page_text
    assert f'<a href="#{AUTOGRADED}">Test cell</a> (Score: {LOWERED:.1f} / {AUTOGRADED_POINTS:.1f})' in page_text
    assert f"{NOTEBOOK} (Score: {notebook_score(after, '.1f')})" in page_text

    # the Canvas gradebook export carries the new total in the assignment's column of the student's row
    source = canvas_gradebook(tmp_path / "canvas_gradebook.csv", CANVAS_HEADER, CANVAS_ROWS)
    report = lms.export_canvas(results, source, tmp_path / "canvas_import.csv")
    exported = {row[1]: row[BATCHNORM_COLUMN] for row in read_csv(tmp_path / "canvas_import.csv")[2:]}
    assert exported == {"12345": f"{after.total:g}", "222": f"{other.total:g}"}
    assert report.filled == [("Smith, John", f"{after.total:g}"), ("Doe, Jane", f"{other.total:g}")]
    assert report.unmatched == [] and report.no_submission == []
    assert [name for name, _ in report.incomplete] == ["Doe, Jane"]  # her written answer still awaits a person
