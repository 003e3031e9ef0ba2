"""The class-grading pipeline: every kind of broken submission, parallel = sequential, PostgreSQL."""
import hashlib
import os

import pytest

from autograder.samples import sample
from autograder.samples import variants as V
from autograder.grading.course import Course
from autograder.grading.pipeline import Settings, grade_class

FULL = {"01_axis_means_keepdims": 15, "02_forward": 20, "03_backward": 25, "04_running_statistics": 35,
        "05_batchnorm_in_a_network": 15, "06_normalization_family": 10}
SETTINGS = dict(workers=2, cell_timeout=10, notebook_timeout=20, memory_limit=1 << 30)


def folder_digest(folder):
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        h.update(str(p.relative_to(folder)).encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="session")
def class_results(course, tmp_path_factory):
    """Every kind of broken submission, correct work, blank work and a mistake, graded in one pipeline run."""
    students = sample.class_files(course.release_dir, course.source_dir,
                                  broken=sample.BROKEN + [sample.slow_notebook], mistakes=[V.DEMO_MISTAKE])
    folder = sample.write_class(students, tmp_path_factory.mktemp("lms") / "download")
    before = folder_digest(folder)
    out = tmp_path_factory.mktemp("graded")
    results = grade_class(folder, out, Settings(**SETTINGS), progress=False)
    assert folder_digest(folder) == before, "grading modified the submissions"
    by_student = {r.student: r for r in results}
    by_student["_out"] = out
    return by_student


@pytest.fixture(scope="session")
def small_class(course):
    """Correct, blank, a rewrite and a mistake (also in class_results): compared across graders and gradebooks."""
    return sample.class_files(course.release_dir, course.source_dir, broken=[], mistakes=[V.DEMO_MISTAKE])


@pytest.fixture(scope="session")
def small_class_folder(small_class, tmp_path_factory):
    return sample.write_class(small_class, tmp_path_factory.mktemp("small") / "download")


@pytest.fixture(scope="session")
def small_class_on_sqlite(small_class, class_results):
    """The small class's results from the pipeline run of class_results (SQLite, parallel workers)."""
    return [class_results[student] for student in sorted(small_class)]


def per_notebook(result):
    return {nb: sum(s for s, _ in cells.values()) for nb, cells in result.scores.items()}


def said(result, fragment, level="error"):
    return any(fragment in text and lvl == level for lvl, text in result.messages)


EXPECTED = {
    # case: (notebooks scored 0, message fragment, level of the message)
    "invalid-json": ({"02_forward"}, "is not valid notebook JSON", "error"),
    "old-nbformat": (set(), "converted to nbformat 4", "info"),
    "missing-notebook": ({"05_batchnorm_in_a_network"}, "05_batchnorm_in_a_network.ipynb is missing", "error"),
    "renamed-notebook": (set(), "was renamed; graded as 03_backward.ipynb", "error"),
    "extra-notebook": (set(), "scratch.ipynb is an extra notebook; ignored", "info"),
    "deleted-test-cell": (set(), "were deleted; restored and graded", "error"),
    "duplicated-cells": (set(), "(a duplicated cell) is graded as ordinary code", "info"),
    "changed-grade-ids": (set(), "test cells were given other grade ids ('my_test')", "error"),
    "no-metadata": ({"03_backward"}, "has no nbgrader metadata", "error"),
    "infinite-loop": (set(), "ran past the per-cell time limit", "error"),
    "too-much-memory": (set(), "ran out of memory", "error"),
    "kernel-exit": ({"03_backward"}, "the kernel died", "error"),
    "calls-sys-exit": (set(), "calls sys.exit()", "error"),
    "floods-output": (set(), "output was truncated", "info"),
    "empty-archive": (set(FULL), "is an empty archive", "error"),
    "not-a-notebook": (set(FULL), "homework.pdf is not a notebook; ignored", "info"),
    "slow-notebook": ({"04_running_statistics"}, "ran past the whole-notebook limit", "error"),
}


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_broken_submission_gets_a_message_and_a_fair_score(class_results, case):
    result = class_results[f"broken-{case}"]
    zeros, fragment, level = EXPECTED[case]
    assert said(result, fragment, level), f"no {level} message containing {fragment!r}: {result.messages}"
    assert per_notebook(result) == {nb: 0 if nb in zeros else pts for nb, pts in FULL.items()}


def test_edited_test_cell_is_reported_and_graded_with_the_original(class_results):
    edited, mistake = class_results["broken-edited-test-cell"], class_results[f"mistake-{V.DEMO_MISTAKE.replace('_', '-')}"]
    assert said(edited, "was edited; graded with the original")
    assert edited.scores == mistake.scores and edited.total < edited.max_total


def test_the_rest_of_the_class_is_graded_normally(class_results):
    assert class_results["full-solution"].total == sum(FULL.values()) and not class_results["full-solution"].messages
    assert class_results["untouched-release"].total == 0
    assert class_results["correct-rewrite"].total == sum(FULL.values())


def scores_by_sequential_nbgrader(students, root):
    """Plain `nbgrader autograde` (one process, one student after another) on the same notebooks."""
    course = Course.create(root)
    course.generate()
    for student, files in students.items():
        course.submit(student, sample.notebooks_of(files))
    course.autograde()
    return course.grades()


def test_parallel_pipeline_scores_equal_sequential_nbgrader(small_class, small_class_on_sqlite, tmp_path):
    sequential = scores_by_sequential_nbgrader(small_class, tmp_path / "seq")
    for r in small_class_on_sqlite:
        assert r.scores == {nb: {g: (float(s or 0), m) for g, (s, m) in cells.items()}
                            for nb, cells in sequential[r.student].items()}, r.student


def test_postgresql_gradebook_gives_the_same_scores_as_sqlite(small_class_folder, small_class_on_sqlite, tmp_path):
    url = os.environ.get("BATCHNORM_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("no PostgreSQL server: .ci/run starts one and sets BATCHNORM_TEST_POSTGRES_URL")
    on_pg = grade_class(small_class_folder, tmp_path / "pg", Settings(**SETTINGS, db_url=url), progress=False)
    assert sorted((r.student, r.scores) for r in on_pg) == [(r.student, r.scores) for r in small_class_on_sqlite]
    assert sum(r.total for r in on_pg) > 0


def test_feedback_shows_failures_but_not_hidden_tests(class_results):
    feedback = class_results["_out"] / "course" / "build" / "feedback"
    pages = list(feedback.rglob("*.html"))
    assert len(pages) >= 5
    for page in pages:
        text = page.read_text()
        for secret in ["BEGIN HIDDEN TESTS", "from autograder", "autograder/checks"]:
            assert secret not in text, f"{page.relative_to(feedback)} shows {secret!r}"
    mistake = feedback / f"mistake-{V.DEMO_MISTAKE.replace('_', '-')}" / "batchnorm" / "01_axis_means_keepdims.html"
    assert "Likely mistake" in mistake.read_text()


def test_report_lists_what_needs_a_look(class_results):
    out = class_results["_out"]
    report = (out / "report.txt").read_text()
    assert "needs an instructor's look" in report and "broken-kernel-exit" in report
    assert "<img" in (out / "report.html").read_text()
    rows = (out / "grades.csv").read_text().splitlines()
    assert len(rows) == 1 + len([k for k in class_results if not k.startswith("_")])


def test_intake_reads_nbgrader_trees_and_lms_downloads(small_class, tmp_path):
    """Both layouts give the same students and notebooks: submitted/<student>/batchnorm/ and <student>_x.zip."""
    from autograder.grading.intake import collect
    root = tmp_path / "course"
    tree = root / "build" / "submitted"
    for student, files in small_class.items():
        for name, data in files.items():
            (tree / student / "batchnorm").mkdir(parents=True, exist_ok=True)
            (tree / student / "batchnorm" / name).write_bytes(data)
    lms = sample.write_class(small_class, tmp_path / "lms")
    for folder in (root, root / "build", tree, lms):
        found = {s.id: s.files for s in collect(folder)}
        assert found == small_class, folder
