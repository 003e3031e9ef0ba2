"""nbgrader's exchange with the real CLI: release, two students fetch and submit, collect, then `make grade`, then
the graded class releases its feedback and each student fetches their own."""
import csv
import secrets
import shutil
import stat
import subprocess
from pathlib import Path

import nbformat

from autograder import exchange_demo
from autograder.grading import sandbox
from autograder.grading.course import ASSIGNMENT, COURSE_ID, ROOT
from autograder.samples import variants as V


def points(notebook, grade_ids=None, cell_type="code"):
    """Points of the test cells ``grade_ids`` of a notebook (all of them when None); cell_type "markdown": of its
    written answers, graded by hand."""
    nb = nbformat.read(ROOT / "solutions" / ASSIGNMENT / f"{notebook}.ipynb", as_version=4)
    return sum(c.metadata["nbgrader"].get("points", 0) for c in nb.cells
               if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == cell_type
               and (grade_ids is None or c.metadata["nbgrader"]["grade_id"] in grade_ids))


def test_exchange_round_trip_then_make_grade(tmp_path):
    said = []
    course = exchange_demo.round_trip(tmp_path, say=said.append)
    assert any("nbgrader collect" in s for s in said)

    # the students fetched the release through the exchange, with its README and requirements
    for student in exchange_demo.STUDENTS:
        fetched = tmp_path / "home" / student / ASSIGNMENT
        assert (fetched / "README.md").is_file() and (fetched / "bn_helpers.py").is_file()
    collected = course.root / "build" / "submitted"
    assert sorted(p.name for p in collected.iterdir()) == sorted(exchange_demo.STUDENTS)
    lessons = sorted(p.name for p in (ROOT / "solutions" / ASSIGNMENT).glob("*.ipynb"))
    assert sorted(p.name for p in (collected / "bob" / ASSIGNMENT).glob("*.ipynb")) == lessons

    out = tmp_path / "grading"
    args = [f"SUBMISSIONS={collected}", f"OUT={out}"] + ([] if sandbox.available()[0] else ["NO_SANDBOX=1"])
    proc = subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), "grade", *args],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with open(out / "grades.csv") as f:
        rows = {r["student"]: r for r in csv.DictReader(f)}
    assert sorted(rows) == ["alice", "bob"]
    lessons = [p.stem for p in (ROOT / "solutions" / ASSIGNMENT).glob("*.ipynb")]
    total = sum(points(nb) for nb in lessons)  # auto-graded: the written answers await grading by hand
    written = sum(points(nb, cell_type="markdown") for nb in lessons)
    assert float(rows["alice"]["score"]) == total and float(rows["alice"]["max_score"]) == total + written
    assert rows["alice"]["awaiting_grading"].endswith(f"{written:g} points: written_bessel, written_weight_scale, "
                                                      "written_layernorm, written_ics")
    mistake = V.by_name(exchange_demo.MISTAKE)
    loss = points(mistake.notebook, mistake.fails)
    assert loss > 0
    assert float(rows["bob"]["score"]) == total - loss
    assert float(rows["bob"][mistake.notebook]) == points(mistake.notebook) - loss
    # nbgrader's own files (timestamp, secret) and the release's are expected, not reported
    assert rows["alice"]["messages"] == rows["bob"]["messages"] == ""

    # the graded class hands its feedback back through the same exchange: each student fetches their own pages
    exchange = tmp_path / "exchange"
    graded = out / "course"
    outbound = exchange_demo.release_feedback(graded, exchange, say=said.append)
    released = {p.read_bytes() for p in outbound.glob("*.html")}
    # the pages are filed under hashes (no student id in a name) in a folder others may enter but not list
    assert len(released) > 1 and not any(s in p.name for p in outbound.iterdir() for s in exchange_demo.STUDENTS)
    assert stat.S_IMODE(outbound.stat().st_mode) & 0o066 == 0
    graded_pages = {s: {p.name: p.read_bytes() for p in (graded / "build" / "feedback" / s / ASSIGNMENT).glob("*.html")}
                    for s in exchange_demo.STUDENTS}
    lesson_pages = sorted(f"{nb}.html" for nb in lessons)
    fetched = {}
    for student in exchange_demo.STUDENTS:
        pages = exchange_demo.fetch_feedback(tmp_path, student, say=said.append)
        fetched[student] = {p.name: p.read_bytes() for p in pages}
        assert sorted(fetched[student]) == lesson_pages  # one page per submitted notebook
        assert {p.parent.name for p in pages} == {(collected / student / ASSIGNMENT / "timestamp.txt").read_text()}
        assert all(fetched[student][name] == graded_pages[student][name] for name in lesson_pages)
    page = f"{mistake.notebook}.html"
    assert "Likely mistake" in fetched["bob"][page].decode() and "Likely mistake" not in fetched["alice"][page].decode()
    for student in exchange_demo.STUDENTS:  # every fetched page opens with the student's own results
        for text in (p.decode() for p in fetched[student].values()):
            assert f"Total: {float(rows[student]['score']):g} of {total + written:g} points" in text
            assert text.index("Batch norm: your results") < text.index('id="notebook"')
    assert fetched["bob"][page] != fetched["alice"][page]

    # nbgrader finds a page by its submission's secret, kept in the student's own cache of the submission (their
    # home), never by a student id: bob asking for alice's gets his own
    shutil.rmtree(tmp_path / "home" / "bob" / ASSIGNMENT / "feedback")
    as_alice = exchange_demo.fetch_feedback(tmp_path, "bob", "--student=alice", say=said.append)
    assert {p.name: p.read_bytes() for p in as_alice} == fetched["bob"]

    # a copy of alice's submission (her notebooks, her submission time) without her secret gets nothing; the same
    # copy with her secret gets her pages, so the secret alone stands between a student and another's feedback
    cache = Path("home", "{}", ".local", "share", "jupyter", "nbgrader_cache", COURSE_ID)
    (alices,) = (tmp_path / str(cache).format("alice")).glob(f"alice+{ASSIGNMENT}+*")
    copy = tmp_path / str(cache).format("mallory") / alices.name.replace("alice+", "mallory+", 1)
    shutil.copytree(alices, copy)
    for secret, args in [(secrets.token_hex(64), ()), (None, ("--student=alice",))]:
        (copy / "submission_secret.txt").unlink(missing_ok=True)
        if secret:
            (copy / "submission_secret.txt").write_text(secret)
        assert exchange_demo.fetch_feedback(tmp_path, "mallory", *args, say=said.append) == []
    shutil.copy(alices / "submission_secret.txt", copy / "submission_secret.txt")
    stolen = exchange_demo.fetch_feedback(tmp_path, "mallory", say=said.append)
    assert {p.name: p.read_bytes() for p in stolen} == fetched["alice"]
