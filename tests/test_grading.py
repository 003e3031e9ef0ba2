"""The grader, graded: a real nbgrader round trip in a temporary course."""
import nbformat
import pytest

from autograder.samples import variants as V
from autograder.grading.course import Course
from autograder.samples.submissions import solved_assignment

from autograder.grading.notebooks import is_graded, read_notebooks
from autograder.grading.verdicts import NOT_RUN_AFTER_LAST
from conftest import AFTER_LAST_GRADED, awaiting, correct_groups, lost, max_total, only, student_id, total


def written_answers(notebooks):
    """{notebook: {grade_id}} of the answer cells graded by hand (markdown cells with points) in ``notebooks``."""
    return {name: {c.metadata.nbgrader.grade_id for c in nb.cells if c.cell_type == "markdown" and is_graded(c)}
            for name, nb in notebooks.items()}


def test_solution_gets_full_marks(graded):
    for notebook, grades in graded["solution"].items():
        assert lost(grades) == set(), f"{notebook}: the solution loses points on {sorted(lost(grades))}"
    assert total(graded["solution"]) == max_total(graded["solution"]) > 0


def test_written_answers_await_grading_and_blank_ones_score_zero(graded, course):
    """An answered written question is queued for grading by hand (score None, never a silent 0); one left as the
    release had it is 0 and queued for nothing (nbgrader's checksum of the release's text)."""
    written = written_answers(read_notebooks(course.source_dir))
    assert sum(map(len, written.values())) >= 3
    for notebook, gids in written.items():
        assert awaiting(graded["solution"][notebook]) == gids
        assert {g: graded["blank"][notebook][g] for g in gids} == \
            {g: (0, graded["blank"][notebook][g][1]) for g in gids}
        assert not awaiting(graded["blank"][notebook])


def test_untouched_release_scores_zero(graded):
    assert total(graded["blank"]) == 0


@pytest.mark.parametrize("index", range(len(correct_groups())),
                         ids=["+".join(v.name for v in g) for g in correct_groups()])
def test_correct_answer_written_differently_gets_full_marks(graded, index):
    grades = graded[f"correct-{index}"]
    for notebook, g in grades.items():
        assert lost(g) == set(), f"{notebook}: a correct variant loses points on {sorted(lost(g))}"


@pytest.mark.parametrize("variant", V.WRONG, ids=lambda v: v.name)
def test_mistake_loses_exactly_its_points(graded, variant):
    grades = graded[f"wrong-{variant.name}"][variant.notebook]
    assert lost(grades) == variant.fails, (
        f"{variant.name} ({variant.description}): lost {sorted(lost(grades))}, "
        f"expected exactly {sorted(variant.fails)}")


def test_kill_rate_is_total(graded, summary_line):
    owned = [v for v in V.WRONG if v.fails]  # the others are mistakes carried over from a lesson that grades them
    caught = [v.name for v in owned if lost(graded[f"wrong-{v.name}"][v.notebook])]
    summary_line(f"kill rate: {len(caught)}/{len(owned)} wrong implementations caught; "
                 f"{len(V.WRONG) - len(owned)} carried-over mistake(s) cost nothing; "
                 f"{len(V.CORRECT)} correct variants in {len(correct_groups())} submissions get full marks")
    assert len(caught) == len(owned)


def test_edited_locked_test_cell_is_restored(graded):
    # "tampered" is the demo mistake with its failing test cell replaced by `pass`
    assert graded["tampered"] == graded["mistake"]
    assert lost(graded["mistake"][V.by_name(V.DEMO_MISTAKE).notebook])


def _test_cell_streams(notebook):
    """{stream name: text} of every test cell's outputs, joined."""
    out = {}
    for cell in notebook.cells:
        if cell.metadata.get("nbgrader", {}).get("grade") and cell.cell_type == "code":
            for o in cell.outputs:
                if o.output_type == "stream":
                    out[o.name] = out.get(o.name, "") + o.text
    return out


def test_warnings_from_student_code_never_reach_a_test_cells_stderr(graded, graded_course, tmp_path):
    # every function of every answer warns (UserWarning and NumPy RuntimeWarning): full marks
    warning = sorted({v.notebook for v in V.WARNS})  # the notebooks whose answers are functions
    assert len(warning) == 6 and set(warning) <= set(graded["warns"])
    for notebook in warning:
        grades = graded["warns"][notebook]
        assert lost(grades) == set(), f"{notebook}: warnings cost {sorted(lost(grades))}"
        nb = nbformat.read(graded_course.autograded_dir("warns") / f"{notebook}.ipynb", as_version=4)
        streams = _test_cell_streams(nb)
        assert "stderr" not in streams, f"{notebook}: a test cell wrote to stderr:\n{streams['stderr'][:500]}"
        assert "a harmless warning" in streams.get("stdout", ""), f"{notebook}: the warnings never happened"
        assert "note: your code warned during a hidden test: UserWarning" in streams["stdout"]
    # even with nbgrader's ignore pattern switched off, nothing reaches stderr: the same full marks
    control = Course.create(tmp_path, ignore_warnings=False)
    control.generate_here()
    control.submit("warns", {n: nb for n, nb in solved_assignment(control.release_dir, control.source_dir,
                                                                   V.WARNS).items() if n in warning})
    control.autograde_here()
    assert {n: control.grades()["warns"][n] for n in warning} == {n: graded["warns"][n] for n in warning}


def test_grading_twice_gives_the_same_scores(graded_course, graded):
    # the second time by plain nbgrader autograde (its API, in this process) in the same course: the same scores again
    for student in ["solution", f"wrong-{V.WRONG[-1].name}"]:
        graded_course.autograde_here(student_id(student))
        assert graded_course.grades()[student_id(student)] == graded[student], f"{student}: a second grading changed the scores"


def test_an_exception_in_student_code_names_the_call_and_its_input_shapes(graded_course):
    # seed 003's layer: (C,) statistics meet (N, C, H, W) input in eval mode
    variant = V.by_name("eval_stats_along_last_axis")
    path = graded_course.autograded_dir(student_id(f"wrong-{variant.name}")) / f"{variant.notebook}.ipynb"
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "layer_eval")
    errors = [o for o in cell.outputs if o.output_type == "error"]
    assert errors, "layer_eval did not fail"
    message = errors[0].evalue
    assert "BatchNorm.forward(array of shape (" in message and "raised ValueError" in message, message
    assert "broadcast" in message, message


def test_cells_after_the_last_graded_cell_are_not_run(graded, graded_class):
    # lesson 5's figures and training runs, then a cell that would kill the kernel: none of them runs, full marks
    student = student_id("after-last-graded")
    assert lost(graded["after-last-graded"][AFTER_LAST_GRADED]) == set()
    assert [text for _, text in graded_class.results[student].messages if AFTER_LAST_GRADED in text] == []
    nb = nbformat.read(graded_class.course.autograded_dir(student) / f"{AFTER_LAST_GRADED}.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    last = max(i for i, c in enumerate(code) if is_graded(c))
    after = code[last + 1:]
    assert len(after) >= 2 and after[-1].source.startswith("import os")
    assert [o.get("text") for o in after[0].outputs] == [NOT_RUN_AFTER_LAST]
    assert all(c.outputs == [] for c in after[1:])
    assert any(c.outputs for c in code[:last + 1] if not is_graded(c)), "the cells before it ran"


def test_a_new_gradebook_is_stamped_with_the_alembic_head_nbgrader_would_get(tmp_path, monkeypatch):
    # the head is read in this process (course.alembic_head_in_process); nbgrader's own way runs `alembic heads`
    import os
    import sys

    import nbgrader.api
    import sqlalchemy as sa

    from autograder.grading import gradebook

    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    with gradebook.nbgrader_gradebook(url):
        pass
    assert nbgrader.api.get_alembic_version.in_process
    with sa.create_engine(url).connect() as conn:
        (stamped,) = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars()
    monkeypatch.setenv("PATH", os.pathsep.join([os.path.dirname(sys.executable), os.environ["PATH"]]))
    assert stamped == nbgrader.api.get_alembic_version.by_subprocess()


def test_gradebooks_share_one_engine_per_database_and_still_close_their_connections(tmp_path):
    # course.one_engine_per_database: nbgrader opens a Gradebook about five times per notebook it grades
    from autograder.grading import gradebook

    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    with gradebook.nbgrader_gradebook(url) as first:
        first.add_student("ada")
        engine = first.engine
    assert engine.pool.checkedout() == 0
    with gradebook.nbgrader_gradebook(url) as second:
        assert second.engine is engine
        assert [s.id for s in second.students] == ["ada"]
    assert engine.pool.checkedout() == 0
    with gradebook.nbgrader_gradebook(f"sqlite:///{tmp_path / 'other.db'}") as other:
        assert other.engine is not engine and other.students == []


def test_cell_metadata_is_validated_as_jsonschema_validates_it_with_the_schema_checked_once(monkeypatch):
    # course.schemas_checked_once: nbgrader validated the metadata of every cell with jsonschema.validate
    import jsonschema
    from nbgrader.nbgraderformat import MetadataValidator, ValidationError

    from autograder.grading.course import schemas_checked_once

    schemas_checked_once()
    checks = []
    check_schema = jsonschema.Draft4Validator.check_schema
    monkeypatch.setattr(jsonschema.Draft4Validator, "check_schema",
                        classmethod(lambda cls, schema: checks.append(schema) or check_schema(schema)))
    validator = MetadataValidator()
    good = {"grade": True, "solution": False, "locked": True, "grade_id": "t1", "points": 2.0, "schema_version": 3}
    cases = [good, {**good, "points": "two"}, {**good, "grade_id": 7}, {k: v for k, v in good.items() if k != "locked"},
             {**good, "task": "maybe"}]
    by_nbgrader = 0
    for meta in cases * 3:
        try:
            jsonschema.validate(meta, validator.schema)
            expected = None
        except jsonschema.ValidationError as err:
            expected = err.message
        assert (expected is None) == (meta is good), meta
        cell = nbformat.v4.new_code_cell("pass", metadata={"nbgrader": dict(meta)})
        before = len(checks)
        try:
            validator.validate_cell(cell)
            got = None
        except ValidationError as err:
            got = err.message
        by_nbgrader += len(checks) - before
        assert got == expected, meta
    assert by_nbgrader <= 1, f"nbgrader checked its schema {by_nbgrader} times for {len(cases) * 3} cells"
