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
