"""The student's flow in a real browser: run the lessons, press Validate, fetch and submit the assignment, fetch
its feedback.

A JupyterLab server from this environment (with nbgrader's lab extension) serves a temporary home that holds
the solved assignment and one realistic mistake; headless Chromium, driven by Playwright, works in it as a
student would. Screenshots of every step go to build/browser/. Skipped, with the reason, where no Chromium
can start (set $BATCHNORM_CHROMIUM to use another binary).
"""
import copy
import shutil
import zipfile
from types import SimpleNamespace

import nbformat
import pytest

pw = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: pip install -r requirements.txt")

import lab_browser as lb  # noqa: E402
from autograder import exchange_demo, release  # noqa: E402
from autograder.grading.course import ASSIGNMENT, COURSE_ID, ROOT, Course  # noqa: E402
from autograder.grading.notebooks import grade_id  # noqa: E402
from autograder.grading.pipeline import Settings, grade_class  # noqa: E402
from autograder.samples import variants as V  # noqa: E402
from autograder.samples.submissions import solved_assignment  # noqa: E402

expect = pw.expect
SCREENSHOTS = ROOT / "build" / "browser"
RELEASE = ROOT / "course" / ASSIGNMENT
LESSON1, LESSON2, LESSON5 = "01_axis_means_keepdims", "02_forward", "05_batchnorm_in_a_network"
# lesson 2's batchnorm_forward normalising with ddof=1, and the hint its test cell gives
MISTAKE = "fwd_unbiased_variance"
MISTAKE_MESSAGE = ("AssertionError: out has wrong values. Likely mistake: "
                   "used the unbiased variance (ddof=1); normalising uses the biased one")
# texts of nbgrader 0.9.6's lab extension (validation dialog)
DIALOG_TITLE = "Validation Results"
VALIDATION_SUCCESS = "Success! Your notebook passes all the tests."
CELL_FAILED = "The following cell failed:"
STDERR_MIME = "application/vnd.jupyter.stderr"  # JupyterLab renders stderr streams and errors with it


def png_outputs(nb, folder, env):
    """Number of image/png outputs of ``nb`` executed headless by nbclient in ``folder``."""
    from nbclient import NotebookClient

    folder.mkdir(exist_ok=True)
    shutil.copy(RELEASE / "bn_helpers.py", folder)
    nb = copy.deepcopy(nb)
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(folder)}}).execute(env=env, cwd=str(folder))
    return sum("image/png" in out.get("data", {}) for cell in nb.cells if cell.cell_type == "code"
               for out in cell.outputs)


def shot(page, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


@pytest.fixture(scope="module")
def chromium_path():
    path, why_not = lb.chromium()
    if path is None:
        pytest.skip(why_not)
    return path


@pytest.fixture(scope="module")
def browser(chromium_path, tmp_path_factory):
    """Headless Chromium with a fresh profile; the test is skipped when it cannot start."""
    playwright = pw.sync_playwright().start()
    context = None
    try:
        try:
            context = lb.launch_chromium(playwright, chromium_path, tmp_path_factory.mktemp("chromium") / "profile")
        except pw.Error as e:
            pytest.skip(f"Chromium at {chromium_path} cannot start: {lb.launch_failure(e)}")
        yield context
    finally:
        if context is not None:
            context.close()
        playwright.stop()


@pytest.fixture(scope="module")
def student(course, tmp_path_factory):
    """The student's home: batchnorm/ solved, mistake/ with lesson 2's ddof=1 mistake; the assignment released."""
    tmp = tmp_path_factory.mktemp("student")
    exchange = tmp / "exchange"
    # the instructor releases the assignment to the exchange with nbgrader's own command
    course.nbgrader("release_assignment", ASSIGNMENT, f"--Exchange.root={exchange}", "--force")
    home, env = lb.student_home(tmp, exchange)
    rel, src = course.release_dir, course.source_dir
    with zipfile.ZipFile(release.build_zip(tmp / f"{ASSIGNMENT}.zip")) as zf:  # what students receive
        zf.extractall(home)
    work = home / ASSIGNMENT
    solved = solved_assignment(rel, src)
    for name, nb in solved.items():
        nbformat.write(nb, work / f"{name}.ipynb")
    mistake = V.by_name(MISTAKE)
    assert mistake.notebook == LESSON2
    wrong = solved_assignment(rel, src, [mistake])[mistake.notebook]
    (home / "mistake").mkdir()
    shutil.copy(work / "bn_helpers.py", home / "mistake")
    nbformat.write(wrong, home / "mistake" / f"{mistake.notebook}.ipynb")
    figures = {name: png_outputs(solved[name], tmp / "headless", env) for name in (LESSON1, LESSON5)}
    return SimpleNamespace(tmp=tmp, home=home, env=env, solved=solved, mistake=mistake, wrong=wrong,
                           figures=figures)


@pytest.fixture(scope="module")
def lab(student):
    """JupyterLab serving the student's home; stopped with its kernels at the end, whatever happened."""
    server = lb.LabServer(student.home, student.env, student.tmp / "lab.log")
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def page(browser, lab):
    """One lab page shared by the steps, in the order of this file."""
    page = browser.new_page()
    lb.open_lab(page, lab)
    yield page
    page.close()


def outputs_of_current_notebook(page):
    """{cells in the model, cells in the DOM, error or stderr outputs in the model}."""
    return page.evaluate("""() => {
        const w = window.jupyterapp.shell.currentWidget;
        const cells = [...w.content.model.cells];
        const bad = [];
        cells.forEach((c, i) => {
            if (c.type !== 'code') return;
            for (let j = 0; j < c.outputs.length; j++) {
                const o = c.outputs.get(j).toJSON();
                if (o.output_type === 'error' || (o.output_type === 'stream' && o.name === 'stderr'))
                    bad.push([i, o.output_type]);
            }
        });
        return {model: cells.length, dom: w.node.querySelectorAll('.jp-Notebook .jp-Cell').length, bad: bad};
    }""")


@pytest.mark.parametrize("name, picture", [(LESSON1, "lesson1"), (LESSON5, "lesson5")], ids=["lesson1", "lesson5"])
def test_run_all_cells_without_errors_and_with_every_figure_shown(page, student, name, picture):
    expected = student.figures[name]
    assert expected > 0, f"{name} draws no figure when run headless: nothing to compare"
    lb.close_dialogs(page)
    panel = lb.open_notebook(page, f"{ASSIGNMENT}/{name}.ipynb")
    not_run = lb.run_all(page)
    images = panel.locator(".jp-OutputArea-output img")
    try:
        page.wait_for_function(lb.IMAGES_LOADED, arg=expected, timeout=30_000)
    except pw.TimeoutError:
        pass  # the assertions below say what is missing
    if images.count():
        lb.scroll_to_first_figure(page)
        expect(images.first).to_be_in_viewport()
    shot(page, picture)

    seen = outputs_of_current_notebook(page)
    assert seen["model"] == seen["dom"] == len(student.solved[name].cells), seen
    assert seen["bad"] == [], f"{name}: error or stderr outputs (cell index, type): {seen['bad']}"
    assert not_run == [], f"{name}: code cells (by index) left without an execution count: {not_run}"
    stderr = panel.locator(f'.jp-OutputArea-output[data-mime-type="{STDERR_MIME}"]')
    assert stderr.count() == 0, f"{name} shows error/stderr output: {stderr.all_text_contents()}"
    sizes = images.evaluate_all("l => l.map(i => [i.complete, i.naturalWidth, i.naturalHeight])")
    assert len(sizes) == expected, f"{name}: {len(sizes)} images on the page, {expected} figures headless"
    assert all(done and w > 0 and h > 0 for done, w, h in sizes), f"{name}: images not drawn: {sizes}"
    assert panel.locator('.jp-OutputArea-output[data-mime-type="image/png"] img').count() == expected


def validate(page, panel):
    """Press the notebook's Validate button; the validation dialog once it shows a result."""
    panel.locator(".validate-button").click()
    dialog = page.locator(".jp-Dialog")
    expect(dialog.locator("#validation-message")).to_be_visible(timeout=180_000)
    return dialog


def test_validate_passes_the_solved_lesson(page):
    lb.close_dialogs(page)
    panel = lb.open_notebook(page, f"{ASSIGNMENT}/{LESSON2}.ipynb")
    dialog = validate(page, panel)
    shot(page, "validate-success")
    try:
        expect(dialog).to_contain_class("nbgrader-SuccessDialog")
        expect(dialog.locator(".jp-Dialog-header")).to_have_text(DIALOG_TITLE)
        message = dialog.locator("#validation-message")
        expect(message).to_contain_class("validation-success")
        expect(message).to_have_text(VALIDATION_SUCCESS)
    finally:
        lb.close_dialogs(page)


def test_validate_names_the_failing_test_and_its_hint(page, student):
    lb.close_dialogs(page)
    mistake = student.mistake
    panel = lb.open_notebook(page, f"mistake/{mistake.notebook}.ipynb")
    dialog = validate(page, panel)
    message = dialog.locator("#validation-message")
    shot(page, "validate-mistake")  # the top: the failing test
    message.evaluate("e => { e.scrollTop = e.scrollHeight; }")
    shot(page, "validate-mistake-message")  # the bottom: its message
    try:
        expect(dialog).to_contain_class("nbgrader-ErrorDialog")
        expect(dialog.locator(".jp-Dialog-header")).to_have_text(DIALOG_TITLE)
        expect(message).to_contain_class("validation-failed")
        failing = sorted(c.source.strip() for c in student.wrong.cells if grade_id(c) in mistake.fails)
        expect(message.locator("p", has_text=CELL_FAILED)).to_have_count(len(failing))
        shown = message.locator(".jp-RenderedText pre").all_inner_texts()  # per failed cell: source, error
        sources, errors = shown[0::2], shown[1::2]
        assert sorted(s.strip() for s in sources) == failing
        first_line = failing[0].splitlines()[0]
        assert first_line.startswith('"""batchnorm_forward with gamma=1, beta=0')
        assert any(MISTAKE_MESSAGE in e for e in errors), errors
    finally:
        lb.close_dialogs(page)


def test_assignment_list_shows_the_released_assignment(page, student):
    lb.close_dialogs(page)
    lb.menu(page, "Nbgrader", "nbgrader:open-assignment-list")
    released = page.locator("#released_assignments_list > .list_item")
    expect(released).to_have_count(1, timeout=60_000)
    shot(page, "assignment-list")
    expect(page.locator("#assignments .version_error")).to_be_hidden()
    expect(released.locator(".item_name")).to_have_text(ASSIGNMENT)
    expect(released.locator(".item_course")).to_have_text(COURSE_ID)

    # Fetch copies it from the exchange into the student's downloads/
    released.get_by_role("button", name="Fetch").click()
    fetched = page.locator("#fetched_assignments_list > .list_item")
    expect(fetched).to_have_count(1, timeout=60_000)
    expect(released).to_have_count(0)
    shot(page, "assignment-fetched")
    expect(fetched.locator(".item_name").first).to_have_text(ASSIGNMENT)
    downloaded = student.home / "downloads" / ASSIGNMENT
    assert sorted(p.name for p in downloaded.glob("*.ipynb")) == sorted(f"{n}.ipynb" for n in student.solved)


def test_feedback_comes_back_through_the_assignment_list(page, student):
    """The student hands in lesson 1 alone with Submit; the instructor collects, grades (the kit's pipeline) and
    releases the feedback with nbgrader's commands; Fetch Feedback brings the student's page, which they open from
    the file browser: it starts with their results, the lessons they did not hand in included."""
    downloaded = student.home / "downloads" / ASSIGNMENT
    for nb in downloaded.glob("*.ipynb"):
        nb.unlink()
    nbformat.write(student.solved[LESSON1], downloaded / f"{LESSON1}.ipynb")
    lb.close_dialogs(page)
    fetched = page.locator("#fetched_assignments_list > .list_item")
    fetched.get_by_role("button", name="Submit").click()
    submitted = page.locator("#submitted_assignments_list > .list_item")
    expect(submitted).to_have_count(1, timeout=60_000)
    shot(page, "assignment-submitted")

    # the instructor: nbgrader collect, the kit's grading, nbgrader release_feedback
    exchange = student.tmp / "exchange"
    instructor = Course.create(student.tmp / "instructor", exchange_root=str(exchange))
    instructor.generate()
    instructor.nbgrader("collect", ASSIGNMENT, "--ExchangeCollect.check_owner=False")
    (result,) = grade_class(instructor.root / "build" / "submitted", student.tmp / "graded",
                            Settings(workers=1, cell_timeout=30, notebook_timeout=120, sandbox=False), progress=False)
    assert result.total == sum(m for _, m in result.scores[LESSON1].values()) > 0
    exchange_demo.release_feedback(student.tmp / "graded" / "course", exchange, say=lambda _: None)

    # the student
    page.locator("#refresh_assignments_list").click()
    submitted.get_by_role("button", name="Fetch Feedback").click()
    view = submitted.get_by_text("(view feedback)")
    expect(view).to_be_visible(timeout=60_000)
    shot(page, "feedback-fetched")
    view.click()
    item = page.locator(".jp-DirListing-item", has_text=f"{LESSON1}.html")
    expect(item).to_be_visible(timeout=60_000)
    item.dblclick()
    shown = page.frame_locator(".jp-HTMLViewer iframe").locator("body")
    expect(shown).to_contain_text("Batch norm: your results", timeout=60_000)
    expect(shown).to_contain_text(f"Total: {result.total:g} of {result.max_total:g} points")
    expect(shown).to_contain_text(f"{LESSON2}.ipynb was not in your submission: 0 of 22 points.")
    expect(shown).to_contain_text(f"{LESSON1} (Score:")
    shot(page, "feedback-page")
