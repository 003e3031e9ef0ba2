"""The class-grading pipeline: every kind of broken submission, parallel = sequential, shards on PostgreSQL."""
import csv
import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import psutil
import pytest

from autograder.samples import sample
from autograder.samples import variants as V
from autograder.grading.course import ROOT, Course
from autograder.grading.notebooks import grade_id
from conftest import SETTINGS, SHARED_CLASS_FILES
from autograder.grading import gradebook, sandbox, scratch
from autograder.grading.pipeline import Settings, grade_class, sqlite_url

# a solved notebook's points from the grader: every auto-graded cell; its written answers await grading by hand
FULL = {"01_axis_means_keepdims": 17, "02_forward": 22, "03_backward": 26, "04_running_statistics": 37,
        "05_batchnorm_in_a_network": 17, "06_normalization_family": 11,
        "07_why_batchnorm_works": 3}
SOLVED, BLANK, REWRITE, MISTAKE = "solution", "blank", "correct-0", "mistake"  # students of the shared class


@pytest.fixture(scope="session")
def class_results(graded_class):
    """{student: Result} of the shared class (conftest), with "_out" its output folder, "_download" its submissions."""
    return {**graded_class.results, "_out": graded_class.out, "_download": graded_class.download}


@pytest.fixture(scope="session")
def small_class(graded_class):
    """The solution, the blank release, a rewrite and the demo mistake: compared across graders and gradebooks."""
    return {s: graded_class.students[s] for s in (SOLVED, BLANK, REWRITE, MISTAKE)}


@pytest.fixture(scope="session")
def small_class_on_sqlite(small_class, class_results):
    """The small class's results from the shared class's pipeline run (SQLite, parallel workers)."""
    return [class_results[student] for student in sorted(small_class)]


def per_notebook(result):
    return {nb: sum(s for s, _ in cells.values()) for nb, cells in result.scores.items()}


def said(result, fragment, level="error"):
    """Whether a message of ``level`` (None: any) contains ``fragment``."""
    return any(fragment in text and level in (None, lvl) for lvl, text in result.messages)


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
    "kernel-exit-late": (set(), "the kernel died while cell 'channel_stats_shape' ran", "error"),
    "kernel-exit-in-hidden-check": (set(), "the kernel died while cell 'channel_stats_shape' ran", "error"),
    "calls-sys-exit": (set(), "calls sys.exit()", "error"),
    # a note, or an error when the printing outlasts the per-cell time limit (slower machines): named as flooding
    "floods-output": (set(), "output was truncated", None),
    "empty-archive": (set(FULL), "is an empty archive", "error"),
    "not-a-notebook": (set(FULL), "homework.pdf is not a notebook; ignored", "info"),
    "slow-notebook": ({"04_running_statistics"}, "ran past the whole-notebook limit", "error"),
    "feedback-notebook": ({"06_normalization_family"}, "06_normalization_family.ipynb is a feedback notebook", "error"),
}


# cases that cost part of a notebook: {case: {notebook: points it keeps}}
def stopped_at(notebook, grade_id):
    """{test cell: points} of a notebook whose kernel stopped in test cell ``grade_id``: full points above it, 0 from
    it on (the source's cells, in order)."""
    cells, after = {}, False
    for c in nbformat.read(ROOT / "solutions" / "batchnorm" / f"{notebook}.ipynb", as_version=4).cells:
        meta = c.metadata.get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution"):
            after = after or meta["grade_id"] == grade_id
            cells[meta["grade_id"]] = 0 if after else meta["points"]
    return cells


DIED_IN = ("01_axis_means_keepdims", "channel_stats_shape")  # where lesson 1's kernel-killing channel_stats stops it
PARTIAL = {case: {DIED_IN[0]: sum(stopped_at(*DIED_IN).values())}
           for case in ("kernel-exit-late", "kernel-exit-in-hidden-check")}


def student_with(packed, case):
    """(student, cases) of the packed student that holds ``case``."""
    return next((student, [c.__name__.replace("_", "-") for c in cases]) for student, (cases, _) in packed.items()
                if case in [c.__name__.replace("_", "-") for c in cases])


def test_every_notebook_of_the_shared_class_is_autograded(graded_class, summary_line):
    autograded = graded_class.out / "course" / "build" / "autograded"
    handed_in = [(s, name) for s, files in graded_class.students.items() if not s.startswith("broken-") for name in files]
    assert [(s, name) for s, name in handed_in if not (autograded / s / "batchnorm" / name).exists()] == []
    t = graded_class.timings
    summary_line(f"shared class: {len(graded_class.results)} students, {len(handed_in)} notebooks of scenarios and "
                 f"the broken ones autograded in {t['autograde']:.0f} s, feedback pages in {t.get('feedback', 0):.0f} s")


def test_only_the_shared_class_files_read_it(request):
    # the test process that runs these files grades the class; a reader elsewhere would grade it a second time
    readers = {item.nodeid.split("::")[0] for item in request.session.items
               if "graded_class" in getattr(item, "fixturenames", ())}
    assert readers <= set(SHARED_CLASS_FILES), \
        f"{sorted(readers - set(SHARED_CLASS_FILES))} read the shared class: add them to SHARED_CLASS_FILES (conftest)"


def test_every_broken_case_is_graded():
    assert set(EXPECTED) | {"edited-test-cell"} == {c.__name__.replace("_", "-") for c in
                                                    sample.BROKEN + [sample.slow_notebook]}


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_broken_submission_gets_a_message_and_a_fair_score(class_results, packed, case):
    # the student's other cases touch other notebooks; every notebook no case zeroes earns full marks
    student, cases = student_with(packed, case)
    result = class_results[student]
    zeros, fragment, level = EXPECTED[case]
    assert said(result, fragment, level), f"no {level} message containing {fragment!r}: {result.messages}"
    zeros = set().union(*(EXPECTED[c][0] for c in cases if c in EXPECTED))
    kept = {nb: pts for c in cases for nb, pts in PARTIAL.get(c, {}).items()}
    # an edited test cell sits on the demo mistake: that notebook is compared with the mistake's own elsewhere
    mistake = {V.by_name(V.DEMO_MISTAKE).notebook} if "edited-test-cell" in cases else set()
    assert {nb: s for nb, s in per_notebook(result).items() if nb not in mistake} == \
        {nb: 0 if nb in zeros else kept.get(nb, pts) for nb, pts in FULL.items() if nb not in mistake}, cases


@pytest.mark.parametrize("case, notebook, why", [("invalid-json", "02_forward", "is not valid notebook JSON"),
                                                 ("not-a-notebook", "01_axis_means_keepdims", "is not valid notebook JSON"),
                                                 ("feedback-notebook", "06_normalization_family", "is a feedback notebook")])
def test_an_unreadable_notebook_is_reported_once_not_as_missing_too(class_results, packed, case, notebook, why):
    student, _ = student_with(packed, case)
    assert said(class_results[student], f"{notebook}.ipynb {why}")
    assert not said(class_results[student], f"{notebook}.ipynb is missing"), class_results[student].messages


def test_a_kernel_stuck_in_a_hidden_check_costs_that_cell_and_those_after_not_those_before(course, tmp_path):
    """A hidden check that never returns, in a kernel deaf to SIGINT and SIGTERM: the cell runs past its time limit,
    the kernel never goes idle again, and the notebook is still graded (nbclient's wait for the cell's last output
    raises; without care, nbgrader could not grade the notebook at all)."""
    files = sample.kernel_stuck_in_hidden_check(sample.Sample(course.release_dir, course.source_dir))
    notebook = "01_axis_means_keepdims"
    folder = sample.write_class({"stuck": {f"{notebook}.ipynb": files[f"{notebook}.ipynb"]}}, tmp_path / "download")
    (result,) = grade_class(folder, tmp_path / "graded", Settings(workers=1, cell_timeout=3, notebook_timeout=60,
                                                                  sandbox=sandbox.available()[0]), progress=False)
    scores = {gid: score for gid, (score, _) in result.scores[notebook].items()}
    assert scores == stopped_at(*DIED_IN), (scores, result.messages)
    assert said(result, f"{notebook}.ipynb: cell 'channel_stats_shape' ran past the per-cell time limit"), \
        result.messages


@pytest.mark.parametrize("case", ["kernel-exit-late", "kernel-exit-in-hidden-check"])
def test_a_kernel_that_dies_costs_the_cell_it_died_in_and_those_after_not_those_before(class_results, packed, case):
    """Honest work in the cells above keeps its points, whether the kernel dies in the visible part of a test cell or
    during its hidden check; the dying cell and the graded cells after it score 0 and say why."""
    student, _ = student_with(packed, case)
    notebook = "01_axis_means_keepdims"
    scores = {gid: score for gid, (score, _) in class_results[student].scores[notebook].items()}
    assert scores == stopped_at(*DIED_IN) and scores["reduced_shape_no_keepdims"] == 2, scores
    path = class_results["_out"] / "course" / "build" / "autograded" / student / "batchnorm" / f"{notebook}.ipynb"
    errors = {grade_id(c): [(o.ename, o.evalue) for o in c.outputs if o.output_type == "error"]
              for c in nbformat.read(path, as_version=4).cells if grade_id(c)}
    assert any(ename == "KernelDied" and evalue.startswith("the kernel died while cell 'channel_stats_shape' ran")
               for ename, evalue in errors["channel_stats_shape"]), errors["channel_stats_shape"]
    assert errors["channel_stats_values"] == [
        ("CellNotRun", "not run: the kernel died in cell 'channel_stats_shape', above; this cell scores 0")]
    assert all(errors[gid] == [] for gid, score in scores.items() if score), errors


def test_the_pools_folder_goes_with_it_and_with_it_what_a_killed_worker_left(graded_class, class_results, packed):
    # the slow notebook's worker was killed in the middle of the notebook, so it did not remove its notebook's folder:
    # the worker started in its place removes it (``scratch``: its first folder sweeps), or else the pool does
    student, _ = student_with(packed, "slow-notebook")
    assert said(class_results[student], "ran past the whole-notebook limit")
    (pool,) = graded_class.pools
    assert len(pool.left) <= 1 and all(name.startswith("bn-run.") for name in pool.left), pool.left
    assert not os.path.exists(pool.folder)


def test_edited_test_cell_is_reported_and_graded_with_the_original(class_results, packed):
    student, _ = student_with(packed, "edited-test-cell")
    edited, mistake = class_results[student], class_results[MISTAKE]
    notebook = V.by_name(V.DEMO_MISTAKE).notebook
    assert said(edited, "was edited; graded with the original")
    assert edited.scores[notebook] == mistake.scores[notebook]
    assert per_notebook(edited)[notebook] < FULL[notebook]


def test_the_rest_of_the_class_is_graded_normally(class_results):
    assert class_results[SOLVED].total == sum(FULL.values()) and not class_results[SOLVED].messages
    assert class_results[BLANK].total == 0
    # answered written questions await grading by hand (the total is not complete); blank ones are 0, not queued
    assert not class_results[SOLVED].complete and class_results[BLANK].complete
    assert {gid for _, gid, _ in class_results[SOLVED].awaiting} == \
        {gid for (_, gid), state in class_results[BLANK].by_hand.items() if state == gradebook.BLANK}
    assert class_results[REWRITE].total == sum(FULL.values())


EXPERIMENTS = "07_why_batchnorm_works"  # its code cells after the last graded one: 7 s of experiments a student


def without_experiments(nb):
    """``nb`` without the code cells after its last graded code cell."""
    last = max(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade"))
    nb.cells = [c for i, c in enumerate(nb.cells) if i <= last or c.cell_type != "code"]
    return nb


def scores_by_sequential_nbgrader(students, root):
    """Plain nbgrader autograde (its API in this process, one student after another) on the same notebooks, running
    every cell (the pipeline leaves the cells after a notebook's last graded cell unrun). Lesson 7's experiments
    (no score depends on them) are taken out of its copy, which saves about 40% of this test's time: lessons 1-6 show
    what running every cell changes."""
    course = Course.create(root, stop_after_last_graded=False)
    course.generate_here()
    for student, files in students.items():
        nbs = sample.notebooks_of(files)
        if EXPERIMENTS in nbs:
            without_experiments(nbs[EXPERIMENTS])
        course.submit(student, nbs)
    course.autograde_here()
    return course.grades()


def test_parallel_pipeline_scores_equal_sequential_nbgrader(small_class, small_class_on_sqlite, tmp_path):
    sequential = scores_by_sequential_nbgrader(small_class, tmp_path / "seq")
    for r in small_class_on_sqlite:
        assert r.scores == {nb: {g: (float(s or 0), m) for g, (s, m) in cells.items()}
                            for nb, cells in sequential[r.student].items()}, r.student


@pytest.fixture
def postgres_db():
    """A fresh database on the PostgreSQL server .ci/run starts; dropped afterwards."""
    import sqlalchemy as sa
    server = os.environ.get("BATCHNORM_TEST_POSTGRES_URL")
    if not server:
        pytest.skip("no PostgreSQL server: .ci/run starts one and sets BATCHNORM_TEST_POSTGRES_URL")
    name = f"shards_{os.getpid()}_{int(time.time())}"
    engine = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    yield sa.engine.make_url(server).set(database=name).render_as_string(hide_password=False)
    with engine.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE {name} WITH (FORCE)"))
    engine.dispose()


def shard_command(folder, url, out, shard):
    # time limits well above the shared class's: none of the shard test's students reaches one, and a shard on a
    # loaded machine must not score 0 for a notebook the unsharded run graded in time
    return [sys.executable, "-m", "autograder", "grade", str(folder), "--shard", shard, "--db-url", url,
            "--out", str(out), "--workers", "1", "--cell-timeout", "30", "--notebook-timeout", "60",
            "--memory-limit-mb", str(SETTINGS["memory_limit"] >> 20)]


def launches_a_kernel(process):
    """Whether ``process`` is a graded kernel's launcher (``grading/sandbox.py``)."""
    try:
        return any(arg.endswith("sandbox.py") for arg in process.cmdline())
    except psutil.Error:
        return False


def held_folders(processes):
    """The grading folders in /tmp (``scratch``) that ``processes`` hold open, and so locked."""
    held = set()
    for p in processes:
        try:
            fds = os.listdir(f"/proc/{p.pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{p.pid}/fd/{fd}")
            except OSError:
                continue
            if scratch.NAMED.fullmatch(os.path.basename(target)) and os.path.dirname(target) == scratch.parent():
                held.add(target)
    return held


def rows(url, table):
    import sqlalchemy as sa
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        out = list(conn.execute(sa.text(f"SELECT * FROM {table}")))
    engine.dispose()
    return out


def without_places(path):
    """grades.csv rows without the columns that name where a student was graded (shard, feedback folder)."""
    with open(path, newline="") as f:
        return [{k: v for k, v in row.items() if k not in ("shard", "feedback")} for row in csv.DictReader(f)]


def test_shards_on_postgresql_killed_and_rerun_equal_one_unsharded_run_on_sqlite(class_results, packed, postgres_db,
                                                                                 tmp_path):
    # the class: work (one notebook in full), a mistake, blank work, and broken students (a memory hog and repaired
    # notebooks, nothing gradable)
    chosen = ["after-last-graded", MISTAKE, BLANK, student_with(packed, "empty-archive")[0],
              student_with(packed, "too-much-memory")[0], student_with(packed, "not-a-notebook")[0]]
    by_shard = {k: [s for s in chosen if gradebook.shard_of(s, 2) == k] for k in (1, 2)}
    assert all(by_shard.values()), f"both shards must have students: {by_shard}"
    download = class_results["_download"]
    folder = tmp_path / "download"
    folder.mkdir()
    for entry in download.iterdir():
        if entry.name.split("_")[0] in chosen:
            (shutil.copytree if entry.is_dir() else shutil.copy)(entry, folder / entry.name)
    url = postgres_db

    # shard 1 killed after its first notebook is graded, while it grades another: a partial run
    first = subprocess.Popen(shard_command(folder, url, tmp_path / "s1", "1/2"), start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline, grading = time.monotonic() + 180, False
    while not grading and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.2)
        try:
            processes = psutil.Process(first.pid).children(recursive=True)
            grading = len(rows(url, "submitted_notebook")) >= 2 and any(launches_a_kernel(p) for p in processes)
        except Exception:  # the tables do not exist yet, or shard 1 has just ended
            pass
    assert grading and first.poll() is None, "shard 1 finished before it could be killed in the middle of a notebook"
    held = held_folders([psutil.Process(first.pid)] + processes)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    # nothing of it stays behind: not its workers, nor a kernel, its launcher (in a session of its own) or sandbox
    _, alive = psutil.wait_procs(processes, timeout=10)
    assert [p.pid for p in alive] == [], [" ".join(p.cmdline())[:150] for p in alive]
    (shard,) = rows(url, "batchnorm_shards")
    assert shard.shard == "1/2" and shard.finished_at is None
    assert len(rows(url, "batchnorm_results")) < len(by_shard[1])
    report = subprocess.run([sys.executable, "-m", "autograder", "report", "--db-url", url, "--out",
                             str(tmp_path / "partial")], capture_output=True, text=True)
    assert "shard 1/2" in report.stdout and "NOT FINISHED" in report.stdout and "2/2: never started" in report.stdout

    # both shards at once, shard 1 run again; then the class report from the gradebook alone
    runs = [subprocess.Popen(shard_command(folder, url, tmp_path / f"s{k}", f"{k}/2"), stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True) for k in (1, 2)]
    for run in runs:
        assert run.wait(timeout=600) == 0, run.stderr.read()[-3000:]
    # nor its folders in /tmp (its pool's, with a notebook's inside, its zygote's, matplotlib's): the shards' sweep
    assert len(held) == 3 and [f for f in held if os.path.exists(f)] == [], held
    report = subprocess.run([sys.executable, "-m", "autograder", "report", "--db-url", url, "--out",
                             str(tmp_path / "class")], capture_output=True, text=True)
    assert report.returncode == 0, report.stderr
    assert "NOT FINISHED" not in report.stdout and "never started" not in report.stdout

    # no duplicate or partial rows: exactly the rows of one unsharded run on SQLite
    sqlite = sqlite_url(class_results["_out"] / "course")
    assert sorted(r.student for r in rows(url, "batchnorm_results")) == sorted(chosen)
    assert gradebook.scores(url) == {s: g for s, g in gradebook.scores(sqlite).items() if s in chosen}
    assert len(rows(url, "grade")) == sum(len(cells) for s, nbs in gradebook.scores(url).items()
                                          for cells in nbs.values())
    on_sqlite = [row for row in without_places(class_results["_out"] / "grades.csv") if row["student"] in chosen]
    assert without_places(tmp_path / "class" / "grades.csv") == on_sqlite
    assert [(r.student, r.scores) for r in gradebook.load(url)[0]] == \
        [(s, class_results[s].scores) for s in sorted(chosen)]
    # the report says where each student's feedback is: in its shard's output folder
    graded = {row["student"]: row for row in csv.DictReader(open(tmp_path / "class" / "grades.csv"))}
    for k, students in by_shard.items():
        for s in students:
            assert graded[s]["shard"] == f"{k}/2"
            if class_results[s].scores and (tmp_path / f"s{k}" / "course" / "build" / "feedback" / s).exists():
                assert graded[s]["feedback"].startswith(str(tmp_path / f"s{k}"))
    assert str(tmp_path / "s1" / "course" / "build" / "feedback") in report.stdout


def test_feedback_shows_failures_but_not_hidden_tests(class_results):
    feedback = class_results["_out"] / "course" / "build" / "feedback"
    pages = list(feedback.rglob("*.html"))
    assert len(pages) >= 5
    for page in pages:
        text = page.read_text()
        for secret in ["BEGIN HIDDEN TESTS", "from autograder", "autograder/checks"]:
            assert secret not in text, f"{page.relative_to(feedback)} shows {secret!r}"
    mistake = feedback / MISTAKE / "batchnorm" / f"{V.by_name(V.DEMO_MISTAKE).notebook}.html"
    assert "Likely mistake" in mistake.read_text()


def test_feedback_says_which_written_answers_await_grading_by_hand(class_results):
    """The solved work's answers await grading: each page says so above the answer; a blank answer's does not."""
    from autograder.grading.feedback import AWAITING_NOTE

    feedback = class_results["_out"] / "course" / "build" / "feedback"
    note = AWAITING_NOTE.split("**")[1]
    waiting = {nb for nb, _, _ in class_results[SOLVED].awaiting}
    assert waiting
    for notebook in FULL:
        solved = (feedback / SOLVED / "batchnorm" / f"{notebook}.html").read_text()
        blank = (feedback / BLANK / "batchnorm" / f"{notebook}.html").read_text()
        assert solved.count(note) == sum(1 for nb, _, _ in class_results[SOLVED].awaiting if nb == notebook)
        assert note not in blank


def test_feedback_pages_parse_as_nbconverts_own_html_exporter_makes_them(graded_class, packed, tmp_path):
    # the pipeline's exporter skips HTMLExporter's BeautifulSoup pass (grading/feedback.py): the same document, once
    # the student's results that open it are taken out
    from bs4 import BeautifulSoup
    from nbconvert.exporters import HTMLExporter
    from nbgrader.apps import NbGraderAPI
    from traitlets.config import Config

    from autograder.grading.course import ASSIGNMENT, configure
    from autograder.grading.feedback import NO_ALT, SUMMARY_IN_PAGE

    course = graded_class.course
    config = Config()
    configure(config, root=course.root, db_url=course.db_url)
    config.CourseDirectory.feedback_directory = str(tmp_path)  # nbgrader's pages here, beside the pipeline's
    config.GenerateFeedback.exporter_class = HTMLExporter
    config.NbGraderAPI.log_level = "WARN"
    api = NbGraderAPI(config=config)
    # students no other test grades again (test_grading.py does the solution): their pages are of these notebooks
    flood = student_with(packed, "floods-output")[0]
    for student, notebook in [(MISTAKE, V.by_name(V.DEMO_MISTAKE).notebook), (flood, "03_backward")]:
        api.coursedir.notebook_id = notebook
        assert api.generate_feedback(ASSIGNMENT, student, force=True)["success"]
        theirs = (tmp_path / student / ASSIGNMENT / f"{notebook}.html").read_text()
        mine = (course.feedback_dir(student) / f"{notebook}.html").read_text()
        assert len(SUMMARY_IN_PAGE.findall(mine)) == 1
        mine = SUMMARY_IN_PAGE.sub("", mine)
        assert mine.count(f'alt="{NO_ALT}"') == theirs.count(f'alt="{NO_ALT}"') > 0
        assert BeautifulSoup(mine, "html.parser") == BeautifulSoup(theirs, "html.parser"), f"{student}: {notebook}"


def test_feedback_of_a_students_own_html_parses_as_nbconverts_exporter_makes_it():
    # raw HTML a student can put in outputs and markdown: images with and without alt text, "<img" in text, in a
    # script, a comment, a quoted attribute, an unterminated tag
    import nbformat
    from bs4 import BeautifulSoup
    from nbconvert.exporters import HTMLExporter
    from nbgrader.converters import GenerateFeedback
    from traitlets.config import Config

    from autograder.grading.feedback import NO_ALT, FeedbackExporter

    html = ('<img src="a"><IMG SRC="b" ALT="B"><img src="c" title="x>y"><script>var s = "<img";</script>'
            '<div title="<img src=t>">t</div><img title="a>b" alt="x"><!-- <img src=c> --><style>img {}</style>'
            '<img/src="s"><img\nsrc="n"\n><div')
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell('<img src="x.png"> ![a picture](y.png) <img alt="mine" src="z.png">'),
        nbformat.v4.new_code_cell("print('<img src=q>')  # <img src=nope>", outputs=[
            nbformat.v4.new_output("stream", name="stdout", text="<img src=q> alt= <img\n"),
            nbformat.v4.new_output("display_data", data={"text/html": html, "text/plain": "html"})])])
    nb.metadata["language_info"] = {"name": "python", "pygments_lexer": "ipython3"}
    config = GenerateFeedback(config=Config()).config  # nbgrader's feedback template
    grades = {"notebook": "n", "score": 0, "max_score": 1, "late_penalty": 0}  # what GetGrades gives the template
    pages = [exporter(config=config).from_notebook_node(nb, {"nbgrader": grades})[0]
             for exporter in (HTMLExporter, FeedbackExporter)]
    theirs, mine = (BeautifulSoup(page, "html.parser") for page in pages)
    assert len(mine.select(f'img[alt="{NO_ALT}"]')) == len(theirs.select(f'img[alt="{NO_ALT}"]')) == 5
    assert mine == theirs


def test_feedback_remembers_highlighted_code_within_bounds():
    # a class of students cannot make a grading worker hold more than SIZE cells of LONGEST characters
    from nbconvert.filters.highlight import Highlight2HTML

    from autograder.grading.feedback import _Remembered

    highlight = _Remembered(Highlight2HTML(pygments_lexer="ipython3"))
    for i in range(_Remembered.SIZE + 10):
        assert highlight(f"x = {i}") == Highlight2HTML(pygments_lexer="ipython3")(f"x = {i}")
        assert len(_Remembered._seen) <= _Remembered.SIZE
    long = "x = 1\n" * (_Remembered.LONGEST // 6 + 1)
    assert highlight(long) == Highlight2HTML(pygments_lexer="ipython3")(long)
    assert not any(key[0] == long for key in _Remembered._seen)


def test_the_pipelines_release_is_what_the_generate_assignment_command_makes(graded_class, course):
    # the pipeline generates the assignment with nbgrader's API in its own process (Course.generate_here); the
    # session's course ran the `nbgrader generate_assignment` command
    mine, theirs = graded_class.course.release_dir, course.release_dir
    names = sorted(p.name for p in theirs.iterdir())
    assert sorted(p.name for p in mine.iterdir()) == names
    for name in names:
        assert (mine / name).read_bytes() == (theirs / name).read_bytes(), name


def test_nbgrader_export_csv_is_what_nbgrader_export_writes(graded_class, tmp_path):
    # the pipeline runs nbgrader's CSV export plugin in its own process (gradebook.nbgrader_export)
    graded_class.course.export(tmp_path / "by_nbgrader.csv")
    assert (graded_class.out / "nbgrader_export.csv").read_text() == (tmp_path / "by_nbgrader.csv").read_text()


def test_report_lists_what_needs_a_look(class_results, packed):
    out = class_results["_out"]
    report = (out / "report.txt").read_text()
    assert "needs an instructor's look" in report and student_with(packed, "kernel-exit")[0] in report
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


def test_each_student_has_one_page_first_with_the_total_each_notebook_and_what_intake_saw_in_their_words(
        class_results, packed):
    from autograder.grading.feedback import SUMMARY_PAGE, for_the_student
    from autograder.grading.intake import Student, prepare

    def page(student):
        return (Path(class_results[student].feedback) / SUMMARY_PAGE).read_text()

    missing, _ = student_with(packed, "missing-notebook")
    r = class_results[missing]
    text = page(missing)
    assert sorted(p.name for p in Path(r.feedback).glob("*.html"))[0] == SUMMARY_PAGE
    assert f"Total: {r.total:g} of {r.max_total:g} points" in text
    assert "05_batchnorm_in_a_network.ipynb was not in your submission: 0 of 19 points." in text
    assert "you edited the test cell" in page("tampered") and "the original test was put back" in page("tampered")
    solved = page(SOLVED)
    assert "Not complete yet: 4 written answer(s), 7" in solved and "About your submission" not in solved
    assert "<td>37 / 39\n(2 awaiting grading)</td>" in solved  # lesson 4's written answer, on its row
    for case, why in [("empty-archive", "is an empty archive."), ("not-a-notebook", "could not be read as a notebook")]:
        nothing, _ = student_with(packed, case)  # nothing gradable: their page alone says why
        assert why in page(nothing) and f"Total: 0 of {r.max_total:g} points" in page(nothing)
        assert sorted(p.name for p in Path(class_results[nothing].feedback).glob("*.html")) == [SUMMARY_PAGE]
    student = Student("pdf")
    student.files = {"notes.pdf": b"%PDF-1.4"}
    prepare(student, {})
    assert [for_the_student(text, {}) for _, text in student.messages] == ["notes.pdf is not a notebook: it was not "
                                                                           "graded."]
    for student in [missing, "tampered", SOLVED]:  # nothing hidden, nothing of another student
        text = page(student)
        assert "HIDDEN TESTS" not in text and "check(" not in text and "autograder" not in text
        others = [s for s in class_results if not s.startswith("_") and s != student and "-" in s]
        assert not [s for s in others if s in text], student


def test_each_notebooks_page_and_feedback_notebook_open_with_the_students_results(class_results, packed,
                                                                                   tmp_path):
    """What a hub student fetches (a notebook's page) and what Canvas hands back (the feedback notebook) start with
    the summary; the feedback notebook is the graded notebook with each test's points and no hidden test."""
    from autograder.grading.feedback import write_summary

    missing, _ = student_with(packed, "missing-notebook")
    r = class_results[missing]
    folder = Path(r.feedback)
    said = "05_batchnorm_in_a_network.ipynb was not in your submission: 0 of 19 points."
    html = (folder / "04_running_statistics.html").read_text()
    assert html.count("Batch norm: your results") == 1 and said in html
    assert html.index(said) < html.index('id="notebook"') < html.index("Running statistics")
    nb = nbformat.read(folder / "04_running_statistics.ipynb", as_version=4)
    nbformat.validate(nb)
    assert "Feedback on your 04_running_statistics" in nb.cells[0].source and said in nb.cells[0].source
    notes = [c.source for c in nb.cells if c.metadata.get("batchnorm") == "points"]
    assert len(notes) == len(r.scores["04_running_statistics"])  # one per graded cell
    assert f"Test `running_update_direction`: {r.scores['04_running_statistics']['running_update_direction'][0]:g} of 3 " \
           "points" in "\n".join(notes)
    assert all(c.metadata.get("editable") is False for c in nb.cells)  # feedback, not a copy to work in
    text = (folder / "04_running_statistics.ipynb").read_text()
    assert "HIDDEN" not in text and "nbgrader" not in text and missing not in text
    # made again (after grading by hand, in a copy): the summary is replaced, never repeated
    copy = tmp_path / "feedback"
    shutil.copytree(folder, copy)
    points = {nb: {gid: m for gid, (_, m) in cells.items()} for nb, cells in r.scores.items()}
    write_summary(dataclasses.replace(r, feedback=str(copy)), points)
    assert (copy / "04_running_statistics.html").read_text() == html
    assert nbformat.read(copy / "04_running_statistics.ipynb", as_version=4).cells[0].source == nb.cells[0].source
