"""The release is in sync with solutions/, carries no instructor material, and validates."""
import json
import shutil
import subprocess

import nbformat
import numpy as np
import pytest
from nbgrader.validator import Validator

from autograder import lint
from autograder.samples import variants as V
from autograder.grading.course import ASSIGNMENT, ROOT
from autograder.grading.notebooks import read_notebooks
from autograder.samples.submissions import solved_assignment

RELEASE = ROOT / "course" / ASSIGNMENT
SOURCE = ROOT / "solutions" / ASSIGNMENT


def files(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts and ".ipynb_checkpoints" not in p.parts)


def test_release_equals_a_fresh_generate_assignment(course):
    assert files(RELEASE) == files(course.release_dir), "run `make assignment` and commit course/"
    for name in files(RELEASE):
        mine, fresh = RELEASE / name, course.release_dir / name
        if name.endswith(".ipynb"):
            same = json.loads(mine.read_text()) == json.loads(fresh.read_text())
        else:
            same = mine.read_bytes() == fresh.read_bytes()
        assert same, f"course/{ASSIGNMENT}/{name} is out of date: run `make assignment` and commit course/"


def test_solution_notebooks_store_no_outputs():
    for path in SOURCE.glob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, \
                    f"{path.name} stores outputs: clear them before committing"


def test_release_carries_no_instructor_material():
    assert not (RELEASE / "autograder").exists()
    for name in files(RELEASE):
        text = (RELEASE / name).read_text()
        # written answers' model answers and rubrics live in the source's answer cells only
        for marker in ["BEGIN HIDDEN TESTS", "BEGIN SOLUTION", "from autograder", "import autograder",
                       "**Model answer.**", "**Rubric"]:
            assert marker not in text, f"course/{ASSIGNMENT}/{name} contains {marker!r}"
    written = [c for path in SOURCE.glob("*.ipynb") for c in nbformat.read(path, as_version=4).cells
               if c.cell_type == "markdown" and c.metadata.get("nbgrader", {}).get("grade")]
    assert written and all("**Rubric" in c.source for c in written), "a written answer without its rubric"


def test_git_tracks_no_generated_files():
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    bad = [f for f in tracked.splitlines()
           if f.endswith("gradebook.db") or f.startswith(("build/", ".venv/"))
           or "/.ipynb_checkpoints/" in f or "__pycache__" in f]
    assert bad == []


def test_every_test_cell_raises_on_failure_and_calls_its_hidden_check():
    assert lint.all_problems() == []


def test_lint_catches_cells_that_cannot_fail(tmp_path):
    nb = nbformat.v4.new_notebook()

    def test_cell(gid, source):
        cell = nbformat.v4.new_code_cell(source)
        cell.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "points": 1,
                                     "grade_id": gid, "schema_version": 3}
        return cell

    hidden = '\n### BEGIN HIDDEN TESTS\nfrom autograder import check\ncheck("{0}", f)\n### END HIDDEN TESTS\n'
    nb.cells = [
        test_cell("bare", '"""doc"""\nnp.allclose(f(1), 2)' + hidden.format("bare")),
        test_cell("nodoc", 'assert f(1) == 2' + hidden.format("nodoc")),
        test_cell("hidden_bare", '"""doc"""\nassert f(1) == 2\n### BEGIN HIDDEN TESTS\nf(2) == 3\n### END HIDDEN TESTS'),
        test_cell("ok", '"""doc"""\nassert f(1) == 2' + hidden.format("ok")),
        test_cell("no_import", '"""doc"""\nassert f(1) == 2\n### BEGIN HIDDEN TESTS\ncheck("no_import", f)\n'
                               '### END HIDDEN TESTS\n'),
    ]
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    problems = lint.notebook_problems(path)
    assert any("[bare] (release version) ends in a bare expression" in p for p in problems)
    assert any("[nodoc]" in p and "docstring" in p for p in problems)
    assert any("[hidden_bare] (source version) ends in a bare expression" in p for p in problems)
    assert any("[hidden_bare]: its hidden tests must call" in p for p in problems)
    assert any("[no_import]: its hidden tests must import check themselves" in p for p in problems)
    assert not any("[ok]" in p for p in problems)


def _validate(folder, name):
    validator = Validator()
    validator.stream = open("/dev/null", "w")
    return validator.validate(str(folder / f"{name}.ipynb"))


def test_validator_fails_the_stubs_and_passes_the_solution_even_when_it_warns(course, tmp_path):
    # nbgrader.validator.Validator directly: `nbgrader validate` exits 0 even when tests fail. The solution as it
    # is passes the same Validator in the student's own environment (test_student_release.py).
    warns = tmp_path / "warns"
    shutil.copytree(course.release_dir, warns)
    for name, nb in solved_assignment(course.release_dir, course.source_dir, V.WARNS).items():
        nbformat.write(nb, warns / f"{name}.ipynb")
    warning = {v.notebook for v in V.WARNS}  # lesson 7 has none: its answers are values
    for name in read_notebooks(course.release_dir):
        assert "failed" in _validate(course.release_dir, name), f"{name}: the stubs pass validation"
        # every function of this correct answer warns: Validate still says success
        assert name not in warning or _validate(warns, name) == {}, f"{name}: a warning fails validation"


def test_helpers_turn_warnings_from_student_code_into_notes(capsys):
    import warnings

    import bn_helpers as H  # solutions/batchnorm on sys.path: conftest

    def noisy(x):
        warnings.warn("noisy: careful", UserWarning)
        np.log(np.zeros(1))  # NumPy RuntimeWarning: divide by zero
        return x

    assert np.array_equal(H.call(noisy, np.ones(2)), np.ones(2))
    H.numerical_gradient(lambda v: noisy(v) * 2, np.ones(3), np.ones(3))
    out, err = capsys.readouterr()
    assert err == ""
    assert out.splitlines() == [
        "note: noisy warned: UserWarning: noisy: careful",
        "note: noisy warned: RuntimeWarning: divide by zero encountered in log",
        "note: code run by numerical_gradient warned: UserWarning: noisy: careful",
        "note: code run by numerical_gradient warned: RuntimeWarning: divide by zero encountered in log"]
    class Lying:  # looks like a sequence of itself: numpy would recurse into it for a long time
        __len__ = lambda self: 2  # noqa: E731
        __getitem__ = lambda self, i: Lying()  # noqa: E731
    with pytest.raises(AssertionError, match="out is a Lying; expected a numpy array"):
        H.check_array("out", Lying(), np.zeros(2))
    with warnings.catch_warnings():  # a student who turns warnings into errors still gets errors
        warnings.simplefilter("error")
        with pytest.raises(UserWarning):
            H.call(noisy, np.ones(2))


def test_lint_catches_test_cells_that_call_the_notebooks_code_directly(tmp_path):
    nb = nbformat.v4.new_notebook()
    answer = nbformat.v4.new_code_cell("class Layer:\n    def forward(self, x):\n        return x\n\n"
                                       "def f(x):\n    return x")
    answer.metadata["nbgrader"] = {"grade": False, "solution": True, "locked": False, "grade_id": "ex",
                                   "schema_version": 3}
    test = nbformat.v4.new_code_cell('"""f and Layer."""\nlayer = Layer()\nassert f(1) == call(layer.forward, 1)\n'
                                     'numerical_gradient(lambda v: f(v), x, d)\n'
                                     'assert call(f, 1) == 1\n### BEGIN HIDDEN TESTS\ncheck("t", f)\n'
                                     '### END HIDDEN TESTS')
    test.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "points": 1,
                                 "grade_id": "t", "schema_version": 3}
    direct = nbformat.v4.new_code_cell('"""direct method."""\nassert Layer.forward(None, 1) == 1\n'
                                       '### BEGIN HIDDEN TESTS\ncheck("u", f)\n### END HIDDEN TESTS')
    direct.metadata["nbgrader"] = dict(test.metadata["nbgrader"], grade_id="u")
    nb.cells = [answer, test, direct]
    nbformat.write(nb, tmp_path / "nb.ipynb")
    problems = [p for p in lint.notebook_problems(tmp_path / "nb.ipynb") if "directly" in p]
    assert problems == [
        "nb.ipynb [t]: calls the notebook's Layer(...) directly; use call(...) so that warnings from the "
        "student's code become notes instead of stderr",
        "nb.ipynb [t]: calls the notebook's f(...) directly; use call(...) so that warnings from the "
        "student's code become notes instead of stderr",
        "nb.ipynb [u]: calls the notebook's .forward(...) directly; use call(...) so that warnings from the "
        "student's code become notes instead of stderr"]
