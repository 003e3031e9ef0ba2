"""Shared fixtures: one temporary course, and one class (every grading scenario, every broken submission) graded
once by the real pipeline and read by every test that only reads grades."""
import contextlib
import copy
import hashlib
import os
from types import SimpleNamespace

import nbformat
import pytest

from autograder.samples import variants as V
from autograder.grading.course import Course
from autograder.grading.pipeline import Settings, grade_class, sqlite_url
from autograder.samples import sample
from autograder.grading.notebooks import grade_id, read_notebooks
from autograder.samples.submissions import solved_assignment


@pytest.fixture
def summary_line(record_property):
    """say(text): a measurement printed at the end of the run, under "what the run measured"."""
    return lambda text: record_property("summary", text)


_SUMMARY = []


def pytest_runtest_logreport(report):
    if report.when == "call":
        _SUMMARY.extend(text for key, text in report.user_properties if key == "summary")


# the test files that read the shared class (``graded_class``): one process runs them all, so it is graded once
SHARED_CLASS_FILES = ("tests/test_grading.py", "tests/test_pipeline.py")


# then the slowest of the other files: the many quick ones (unit tests, nbval's notebook cells) come last and keep
# both processes busy to the end, rather than one slow test running alone (pytest.ini: --no-loadscope-reorder)
SLOW_FILES = SHARED_CLASS_FILES + ("tests/test_cheats.py", "tests/test_student_release.py", "tests/test_exchange.py",
                                   "tests/test_release.py", "tests/test_browser.py", "tests/test_sandbox.py",
                                   "tests/test_regrade.py", "tests/test_formgrader.py",
                                   "tests/test_readme.py", "tests/test_term.py")


def pytest_collection_modifyitems(items):
    rank = {path: i for i, path in enumerate(SLOW_FILES)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))


def pytest_xdist_make_scheduler(config, log):
    """Two processes run the tests (``-n 2``, pytest.ini), each a whole file at a time, in the order of
    ``SLOW_FILES``: a module's fixtures are made once and a notebook's cells run in order, in one kernel. The files
    that read the shared class count as one."""
    from xdist.scheduler import LoadScopeScheduling

    class SharedClassOnce(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            path = nodeid.split("::")[0]
            return "the shared class" if path in SHARED_CLASS_FILES else path

    return SharedClassOnce(config, log)


def pytest_terminal_summary(terminalreporter):
    if _SUMMARY:
        terminalreporter.section("what the run measured")
        for text in _SUMMARY:
            terminalreporter.write_line(text)


def correct_groups():
    """Correct variants packed into as few submissions as possible (no two change the same cell)."""
    groups = []
    for v in V.CORRECT:
        for g in groups:
            if all(set(v.cells).isdisjoint(o.cells) for o in g):
                g.append(v)
                break
        else:
            groups.append([v])
    return groups


def tamper(notebooks, notebook, test_id, new_source="pass"):
    """Copy of a submission in which the locked test cell `test_id` was edited by the student."""
    out = copy.deepcopy(notebooks)
    cells = [c for c in out[notebook].cells if grade_id(c) == test_id]
    assert len(cells) == 1, test_id
    cells[0].source = new_source
    return out


AFTER_LAST_GRADED = "05_batchnorm_in_a_network"  # lesson 5: figures and training runs after its last test cell


def after_last_graded(notebooks):
    """Copy of a solved notebook with a kernel-killing cell added at its end, after its last graded cell."""
    out = copy.deepcopy(notebooks)
    out[AFTER_LAST_GRADED].cells.append(nbformat.v4.new_code_cell("import os\nos._exit(1)"))
    return out


def student_id(scenario):
    """The id a scenario is submitted under (an LMS file name's id ends at its first underscore)."""
    return scenario.replace("_", "-")


def only(notebooks, name):
    return {name: notebooks[name]}


@pytest.fixture(scope="session")
def course(tmp_path_factory):
    c = Course.create(tmp_path_factory.mktemp("course"))
    c.generate()
    return c


# the shared class's limits: short, so that the infinite loop and the slow notebook cost little time, yet far above
# the slowest notebook (lesson 5 in full, about 2 s alone), with room for both test processes sharing two cores; the
# slow notebook sleeps 3 x 6 s. Two workers: the other test process grades the cheats corpus at the same time
SETTINGS = dict(workers=2, cell_timeout=7, notebook_timeout=15, memory_limit=1 << 30)


def folder_digest(folder):
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        h.update(str(p.relative_to(folder)).encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="session")
def packed(course):
    """{student: (broken cases, files)}: every kind of broken submission, packed into few students."""
    return sample.pack(sample.BROKEN + [sample.slow_notebook], sample.Sample(course.release_dir, course.source_dir))


@pytest.fixture(scope="session")
def graded_class(course, packed, tmp_path_factory):
    """The one graded class that every test reading grades shares, graded in one run of the parallel pipeline.

    Every grading scenario is its own student: the solution, the blank release, correct variants packed into two
    submissions, each wrong variant alone in its notebook, the "warns" answer, a tampered test cell, the demo
    mistake, a notebook whose kernel would die after its last graded cell; beside them every kind of broken
    submission (``packed``). Feedback pages are made too.
    """
    rel, src = course.release_dir, course.source_dir
    scenarios = {"solution": solved_assignment(rel, src), "blank": read_notebooks(rel)}
    for i, group in enumerate(correct_groups()):
        scenarios[f"correct-{i}"] = solved_assignment(rel, src, group)
    for v in V.WRONG:
        scenarios[f"wrong-{v.name}"] = only(solved_assignment(rel, src, [v]), v.notebook)
    warning = {v.notebook for v in V.WARNS}  # the notebooks whose answers are functions
    scenarios["warns"] = {n: nb for n, nb in solved_assignment(rel, src, V.WARNS).items() if n in warning}
    mistake = V.by_name(V.DEMO_MISTAKE)
    scenarios["tampered"] = tamper(only(solved_assignment(rel, src, [mistake]), mistake.notebook),
                                   mistake.notebook, sorted(mistake.fails)[0])
    scenarios["mistake"] = only(solved_assignment(rel, src, [mistake]), mistake.notebook)
    scenarios["after-last-graded"] = after_last_graded(only(scenarios["solution"], AFTER_LAST_GRADED))
    students = {student_id(s): sample.files_of(nbs) for s, nbs in scenarios.items()}
    students.update({name: files for name, (_, files) in packed.items()})
    tmp = tmp_path_factory.mktemp("class")
    folder = sample.write_class(students, tmp / "download")
    before = folder_digest(folder)
    # feedback pages for the solved and the blank work, the mistakes and the broken students: what the feedback
    # tests read (the correct variants' and the warning answers' pages would be the solution's again)
    pages = [student_id(s) for s in ("solution", "blank", "mistake", "tampered")] + list(packed)
    timings = {}
    with watching_pools() as pools:
        results = grade_class(folder, tmp / "graded", Settings(**SETTINGS), progress=False, timings=timings,
                              feedback=pages)
    assert folder_digest(folder) == before, "grading modified the submissions"
    root = tmp / "graded" / "course"
    graded = Course(root, db_url=sqlite_url(root))
    graded.scenarios = list(scenarios)
    return SimpleNamespace(course=graded, results={r.student: r for r in results}, out=tmp / "graded",
                           download=folder, students=students, timings=timings, pools=pools)


@contextlib.contextmanager
def watching_pools():
    """The pipeline's worker pools closed in this process meanwhile, each with ``left``: what its folder held when
    the pool was closed (``Pool.folder``, removed then)."""
    from autograder.grading import pipeline

    pools, close = [], pipeline.Pool.close

    def watched_close(pool):
        pool.left = sorted(os.listdir(pool.folder))
        pools.append(pool)
        close(pool)

    pipeline.Pool.close = watched_close
    try:
        yield pools
    finally:
        pipeline.Pool.close = close


@pytest.fixture(scope="session")
def graded_course(graded_class):
    """The shared class's course folder (nbgrader's tree and gradebook); ``.scenarios`` names the scenarios."""
    return graded_class.course


@pytest.fixture(scope="session")
def graded(graded_course):
    """{scenario: {notebook: {grade_id: (score, max_score)}}}."""
    grades = graded_course.grades()
    return {name: grades[student_id(name)] for name in graded_course.scenarios}


def lost(grades_of_notebook):
    """grade ids that did not get full points (a written answer awaiting grading by hand, score None, has lost
    nothing yet)"""
    return {gid for gid, (score, max_score) in grades_of_notebook.items() if score is not None and score < max_score}


def awaiting(grades_of_notebook):
    """grade ids of the written answers awaiting grading by hand"""
    return {gid for gid, (score, _) in grades_of_notebook.items() if score is None}


def total(grades_of_student):
    return sum(score or 0 for nb in grades_of_student.values() for score, _ in nb.values())


def max_total(grades_of_student):
    """the points of every cell graded so far (a written answer awaiting grading by hand is not)"""
    return sum(m for nb in grades_of_student.values() for score, m in nb.values() if score is not None)


# the student helper module, importable by the project's tests as it is by the notebooks
import sys  # noqa: E402
from autograder.grading.course import ROOT  # noqa: E402

sys.path.insert(0, str(ROOT / "solutions" / "batchnorm"))
