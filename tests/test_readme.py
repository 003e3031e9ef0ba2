"""The README's *A term, step by step*, run as written: every command of its bash blocks, in order, on a small class,
in a copy of this folder (the instructor's own build/ is never touched)."""
import csv
import io
import os
import re
import shutil
import signal
import subprocess
import time
import zipfile

import nbformat
import pytest

from autograder.grading import sandbox
from autograder.grading.course import ROOT
from autograder.samples.submissions import solved_assignment
from test_lms import canvas_reupload

NOTEBOOK = "01_axis_means_keepdims"  # what the two students hand in: the cheapest notebook to grade


def term_commands():
    """Every command line of the bash blocks of the README's *A term, step by step*, in order."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## A term, step by step\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, re.S)
    return [line for block in blocks for line in block.splitlines() if line.strip() and not line.startswith("#")]


def test_the_term_section_has_a_command_for_every_step():
    commands = term_commands()
    for step in ["make release", "make grade SUBMISSIONS=", "autograder formgrade", "autograder override",
                 "autograder export --lms canvas", "autograder feedback-zip", "STUDENT="]:
        assert any(step in c for c in commands), step


@pytest.fixture
def kit(tmp_path):
    """A copy of this folder (its .venv linked, not rebuilt) with what the instructor brings: the LMS download, the
    extensions, the overrides and Canvas's gradebook export."""
    copy = tmp_path / "kit"
    shutil.copytree(ROOT, copy, symlinks=True,
                    ignore=shutil.ignore_patterns(".git", ".venv", "build", "__pycache__", ".pytest_cache"))
    (copy / ".venv").symlink_to(ROOT / ".venv")
    # make must find .venv up to date: rebuilding it from the copy would point the shared venv at the copy
    assert subprocess.run(["make", "-q", "venv"], cwd=copy).returncode == 0, ".venv is older than requirements.txt"
    solved = nbformat.writes(solved_assignment(ROOT / "course" / "batchnorm",
                                               ROOT / "solutions" / "batchnorm")[NOTEBOOK]).encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:  # Canvas's "Download Submissions"
        zf.writestr(f"smithjohn_12345_6789012_{NOTEBOOK}.ipynb", solved)
        zf.writestr(f"doejane_LATE_222_333_{NOTEBOOK}.ipynb", solved)
    (copy / "submissions.zip").write_bytes(buf.getvalue())
    (copy / "extensions.csv").write_text("student,hours\ndoejane-222,48\n")
    (copy / "overrides.csv").write_text("student,grade_id,points,comment\nsmithjohn-12345,channel_stats_values,1,\n")
    with open(copy / "canvas_export.csv", "w", newline="") as f:
        csv.writer(f).writerows([["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Batch Norm (77)"],
                                 ["    Points Possible", "", "", "", "", "140"],
                                 ["Smith, John", "12345", "", "", "S1", ""], ["Doe, Jane", "222", "", "", "S1", ""]])
    return copy


def run(command, cwd):
    """One README command, as a terminal runs it. The formgrader gets its Ctrl-C as early as a hasty person could
    press it, when its first line appears (its address may still be printing): it must stop its server and rebuild."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "VIRTUAL_ENV"))}
    if "formgrade" not in command:
        proc = subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"{command}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        return proc.stdout
    proc = subprocess.Popen(["bash", "-c", command], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    seen = [proc.stdout.readline()]
    try:
        assert seen[0], f"{command} printed nothing:\n{proc.stderr.read()[-3000:]}"
        os.killpg(proc.pid, signal.SIGINT)  # the Ctrl-C the README asks for, sent to the terminal's process group
        out, err = proc.communicate(timeout=120)
        for _ in range(100):  # the formgrader's server goes with it
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            pytest.fail(f"{command}: the formgrader's server outlived Ctrl-C")
    finally:
        try:  # nothing left running, whatever failed
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
    assert proc.returncode == 0, f"{command}\n{out[-3000:]}\n{err[-3000:]}"
    return "".join(seen) + out


def test_a_term_step_by_step_as_the_readme_writes_it(kit):
    if not sandbox.available()[0]:
        pytest.skip(f"the README's grading commands need bubblewrap: {sandbox.available()[1]}")
    said = {command: run(command, kit) for command in term_commands()}
    grading = kit / "build" / "grading"
    assert (kit / "build" / "release" / "batchnorm.zip").is_file()
    with open(grading / "grades.csv") as f:
        rows = {r["student"]: r for r in csv.DictReader(f)}
    assert sorted(rows) == ["doejane-222", "smithjohn-12345"]
    assert rows["doejane-222"]["late"] == "1 d" and float(rows["doejane-222"]["late_penalty"]) > 0
    assert float(rows["smithjohn-12345"]["score"]) == 17 - 2  # channel_stats_values overridden: 3 -> 1 points
    formgrade = next(out for command, out in said.items() if "formgrade" in command)
    assert "rebuilt from the gradebook" in formgrade
    with open(kit / "canvas_import.csv") as f:
        imported = {r[1]: r[5] for r in csv.reader(f)}
    assert imported["12345"] == "15" and imported["222"] == rows["doejane-222"]["score"]
    # one upload hands the feedback back: Canvas attaches each file to the notebook it answers
    attached, ignored = canvas_reupload(grading / "lms_feedback" / "canvas_feedback.zip",
                                        {"12345": {"6789012": f"{NOTEBOOK}.ipynb"}, "222": {"333": f"{NOTEBOOK}.ipynb"}})
    assert not ignored and sorted(attached) == ["12345", "222"]
    for user, total in (("12345", "15"), ("222", rows["doejane-222"]["score"])):
        nb = nbformat.reads(attached[user][f"{NOTEBOOK}.ipynb"].decode(), as_version=4)  # a notebook, as its name says
        nbformat.validate(nb)
        text = nbformat.writes(nb)
        assert f"Total: {float(total):g} of 140 points" in nb.cells[0].source
        assert "Test `channel_stats_values`: 1 of 3 points" in text if user == "12345" else "of 3 points" in text
        assert "HIDDEN" not in text and "nbgrader" not in text
        assert "doejane" not in text and "smithjohn" not in text  # nothing names a student
    assert not (grading / "lms_feedback" / "canvas").exists()  # no folder to attach by hand


def test_make_clean_keeps_a_terms_gradebook_unless_forced(tmp_path):
    """The README's step 3 keeps the term in build/grading: `make clean` leaves it, `make clean FORCE=1` does not."""
    shutil.copy(ROOT / "Makefile", tmp_path)
    for path in ("build/grading/course/build/gradebook.db", "build/demo/grades.csv", "build/release/batchnorm.zip"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("x")
    said = subprocess.run(["make", "-s", "clean"], cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    assert "FORCE=1" in said
    assert [p.relative_to(tmp_path).as_posix() for p in sorted((tmp_path / "build").rglob("*"))] == [
        "build/grading", "build/grading/course", "build/grading/course/build", "build/grading/course/build/gradebook.db"]
    subprocess.run(["make", "-s", "clean", "FORCE=1"], cwd=tmp_path, check=True)
    assert not (tmp_path / "build").exists()
