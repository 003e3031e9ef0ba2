"""nbgrader's exchange with the real CLI: release, two students fetch and submit, collect, then `make grade`."""
import csv
import subprocess

import nbformat

from autograder import exchange_demo
from autograder.grading import sandbox
from autograder.grading.course import ASSIGNMENT, ROOT
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
