"""Grading again into a class's gradebook after the source changed: refused, and the refused run changes nothing."""
import nbformat
import pytest
import sqlalchemy as sa

from autograder.grading import gradebook
from autograder.grading.course import Course
from autograder.grading.notebooks import grade_id, is_graded
from autograder.grading.pipeline import Settings, grade_class, sqlite_url
from autograder.samples import sample
from autograder.samples.submissions import solved_assignment
from conftest import folder_digest

NOTEBOOK = "01_axis_means_keepdims"  # the one notebook the student hands in: the cheapest to grade
ASSIGNMENT_TABLES = ("assignment", "notebook", "base_cell", "grade_cells", "solution_cells", "source_cell",
                     "task_cells")  # nbgrader's record of the assignment itself, apart from submissions and grades
# the sandbox plays no part in what the gradebook holds; without it a run starts faster
SETTINGS = Settings(workers=1, cell_timeout=30, notebook_timeout=60, sandbox=False)


def tables(db_url):
    """{table: sorted rows} of every table in the gradebook: nbgrader's and the project's."""
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        out = {name: sorted(map(tuple, conn.execute(sa.text(f'SELECT * FROM "{name}"'))), key=repr)
               for name in sa.inspect(conn).get_table_names()}
    engine.dispose()
    return out


def outcome(results):
    return [(r.student, r.scores, r.messages, r.total, r.max_total) for r in results]


def test_a_regrade_refused_for_changed_points_changes_nothing(tmp_path):
    changed = Course.create(tmp_path / "changed")  # a copy of solutions/, given other points below
    changed.generate_here()
    solved = solved_assignment(changed.release_dir, changed.source_dir)
    download = sample.write_class({"ada": sample.files_of({NOTEBOOK: solved[NOTEBOOK]})}, tmp_path / "download")
    out = tmp_path / "graded"
    db_url = sqlite_url(out / "course")
    first = grade_class(download, out, SETTINGS, progress=False, feedback=False)
    graded_points = gradebook.points(db_url)
    assert first[0].total > 0, first[0].messages
    assert first[0].max_total == sum(sum(nb.values()) for nb in graded_points.values())

    path = changed.source_dir / f"{NOTEBOOK}.ipynb"
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if is_graded(c) and c.metadata.nbgrader["points"] > 1)
    cell.metadata.nbgrader["points"] -= 1
    nbformat.write(nb, path)

    rows, files = tables(db_url), folder_digest(out)
    with pytest.raises(gradebook.OtherAssignment) as refused:
        grade_class(download, out, SETTINGS, progress=False, feedback=False, solutions=changed.root / "solutions")
    after = tables(db_url)
    assert [t for t in sorted(set(rows) | set(after)) if after.get(t) != rows.get(t)] == [], \
        "the refused run wrote to these tables of the gradebook"
    assert folder_digest(out) == files, "the refused run changed the output folder"  # the gradebook's bytes too
    points = cell.metadata.nbgrader["points"]
    message = str(refused.value)
    assert f"{NOTEBOOK}: {grade_id(cell)} is worth {points:g} in the source, {points + 1:g} in the gradebook" in message
    assert "grade the whole class again into a new gradebook (a new --out" in message
    assert "restore the source (solutions/) to the version this gradebook was graded with" in message

    again = grade_class(download, out, SETTINGS, progress=False, feedback=False)
    assert outcome(again) == outcome(first)
    # the assignment is only read, never generated again (as a shard beside others must): the same rows, same ids
    after = tables(db_url)
    assert [t for t in ASSIGNMENT_TABLES if after[t] != rows[t]] == []
    assert gradebook.points(db_url) == graded_points


HAND = "04_running_statistics"  # a notebook with a written answer, graded by hand


def test_grading_by_hand_survives_a_regrade_and_a_changed_result_is_listed_for_a_look(tmp_path, capsys):
    """Overrides (nbgrader's manual scores and comments, written by `python -m autograder override`) are kept when
    the class is graded again; one on a cell whose autograded result changed is kept and listed for a look."""
    from autograder.__main__ import main
    from autograder.samples import variants as V

    course = Course.create(tmp_path / "src")
    course.generate_here()
    solved = solved_assignment(course.release_dir, course.source_dir)
    mistake = solved_assignment(course.release_dir, course.source_dir, [V.by_name("running_var_biased")])
    out, db_url = tmp_path / "graded", sqlite_url(tmp_path / "graded" / "course")
    download = sample.write_class({s: sample.files_of({HAND: solved[HAND]}) for s in ("ada", "bob")},
                                  tmp_path / "download")
    first = {r.student: r for r in grade_class(download, out, SETTINGS, progress=False)}
    assert [gid for _, gid, _ in first["ada"].awaiting] == ["written_bessel"]

    bad = tmp_path / "bad.csv"  # one good row among rows that cannot be applied: none is written
    bad.write_text("student,grade_id,points,comment\n"
                   "ada,written_bessel,2,fine\n"
                   "ada,written_bessel,3,\n"
                   "zoe,written_bessel,1,\n"
                   "ada,no_such_cell,1,\n"
                   "ada,running_update_unbiased,,a comment on a test cell\n")
    rows = tables(db_url)
    assert main(["override", str(bad), "--graded", str(out)]) == 2
    error = capsys.readouterr().err
    for problem in ["line 3: ada written_bessel: 3 points is outside 0 to 2", "line 4: zoe written_bessel: zoe has no "
                    "graded", "line 5: ada no_such_cell: no cell of the assignment", "line 6: ada "
                    "running_update_unbiased: running_update_unbiased is not an answer cell", "Nothing was written"]:
        assert problem in error, error
    assert tables(db_url) == rows

    overrides = tmp_path / "overrides.csv"
    overrides.write_text("student,grade_id,points,comment\n"
                         "ada,written_bessel,1.5,Right factor; say what the running variance estimates.\n"
                         "ada,running_update_unbiased,2,\n"
                         "bob,written_bessel,2,\n")
    assert main(["override", str(overrides), "--graded", str(out)]) == 0
    marked = {m.student: m for m in gradebook.marks(db_url, ["ada", "bob"]) if m.grade_id == "written_bessel"}
    assert (marked["ada"].manual_score, marked["ada"].comment) == (1.5, "Right factor; say what the running "
                                                                         "variance estimates.")
    before = {r.student: r for r in gradebook.load(db_url)[0]}
    assert before["ada"].complete and before["ada"].total == first["ada"].total - 1 + 1.5
    with open(out / "grades.csv") as f:  # every output rebuilt from the gradebook after the change
        assert f"ada,0,0,0,{before['ada'].total:g}" in f.read().replace("\r", "")
    page = (out / "course" / "build" / "feedback" / "ada" / "batchnorm" / f"{HAND}.html").read_text()
    assert "Right factor; say what the running variance estimates." in page
    # bob's page made again by nbgrader alone (the formgrader's Generate Feedback button): no results at its top,
    # until the next refresh after grading by hand, whoever it was for
    Course(out / "course").nbgrader("generate_feedback", "batchnorm", "--student=bob", "--force")
    bobs = out / "course" / "build" / "feedback" / "bob" / "batchnorm" / f"{HAND}.html"
    assert "Batch norm: your results" not in bobs.read_text()
    (tmp_path / "ada.csv").write_text("student,grade_id,points,comment\nada,written_bessel,1.5,Right factor.\n")
    assert main(["override", str(tmp_path / "ada.csv"), "--graded", str(out)]) == 0
    assert bobs.read_text().count("Batch norm: your results") == 1

    again = {r.student: r for r in grade_class(download, out, SETTINGS, progress=False)}
    assert [(r.student, r.scores, r.total) for r in again.values()] == \
        [(r.student, r.scores, r.total) for r in before.values()]
    assert [again[s].messages for s in again] == [first[s].messages for s in again]  # (the missing notebooks)
    kept = {(m.student, m.grade_id): m for m in gradebook.marks(db_url, ["ada", "bob"])}
    assert kept[("ada", "written_bessel")].comment.startswith("Right factor")

    # ada hands in the biased running variance, and so does bob; only ada is regraded (--student): the cell
    # overridden to 2 now fails and the override stays; bob's row is as it was, and grades.csv still lists him
    sample.write_class({s: sample.files_of({HAND: mistake[HAND]}) for s in ("ada", "bob")}, tmp_path / "download2")
    csv_before = {line.split(",")[0]: line for line in (out / "grades.csv").read_text().splitlines()}
    with pytest.raises(ValueError, match="no submission of zoe in .*; its students are ada, bob"):
        grade_class(tmp_path / "download2", out, SETTINGS, progress=False, only=["zoe"])
    changed = {r.student: r for r in grade_class(tmp_path / "download2", out, SETTINGS, progress=False,
                                                 only=["ada"])}
    assert list(changed) == ["ada"]
    csv_after = {line.split(",")[0]: line for line in (out / "grades.csv").read_text().splitlines()}
    assert csv_after["bob"] == csv_before["bob"] and csv_after["ada"] != csv_before["ada"]
    assert [r.student for r in gradebook.load(db_url)[0]] == ["ada", "bob"]
    assert changed["ada"].scores[HAND]["running_update_unbiased"][0] == 2
    assert any("running_update_unbiased: the manual score 2 was kept, but the autograded "
                                             "result changed" in text for _, text in changed["ada"].messages)
    assert gradebook.marks(db_url, ["bob"])[0].manual_score == 2  # bob was not regraded: his mark stands
