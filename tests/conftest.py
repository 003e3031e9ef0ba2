"""Shared fixtures: one temporary course, and every grading scenario graded once by the real pipeline."""
import copy

import pytest

from autograder.samples import variants as V
from autograder.grading.course import Course
from autograder.grading.pipeline import Settings, grade_class, sqlite_url
from autograder.samples import sample
from autograder.grading.notebooks import grade_id, read_notebooks
from autograder.samples.submissions import solved_assignment


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


@pytest.fixture(scope="session")
def graded_course(course, tmp_path_factory):
    """Every scenario as its own student, graded in one run of the parallel pipeline (nbgrader in workers)."""
    rel, src = course.release_dir, course.source_dir
    scenarios = {"solution": solved_assignment(rel, src), "blank": read_notebooks(rel)}
    for i, group in enumerate(correct_groups()):
        scenarios[f"correct-{i}"] = solved_assignment(rel, src, group)
    for v in V.WRONG:
        scenarios[f"wrong-{v.name}"] = only(solved_assignment(rel, src, [v]), v.notebook)
    scenarios["warns"] = solved_assignment(rel, src, V.WARNS)
    mistake = V.by_name(V.DEMO_MISTAKE)
    scenarios["tampered"] = tamper(only(solved_assignment(rel, src, [mistake]), mistake.notebook),
                                   mistake.notebook, sorted(mistake.fails)[0])
    scenarios["mistake"] = only(solved_assignment(rel, src, [mistake]), mistake.notebook)
    tmp = tmp_path_factory.mktemp("scenarios")
    folder = sample.write_class({student_id(s): sample.files_of(nbs) for s, nbs in scenarios.items()},
                                tmp / "download")
    grade_class(folder, tmp / "graded", Settings(cell_timeout=60), progress=False, feedback=False)
    root = tmp / "graded" / "course"
    graded = Course(root, db_url=sqlite_url(root))
    graded.scenarios = list(scenarios)
    return graded


@pytest.fixture(scope="session")
def graded(graded_course):
    """{scenario: {notebook: {grade_id: (score, max_score)}}}."""
    grades = graded_course.grades()
    return {name: grades[student_id(name)] for name in graded_course.scenarios}


def lost(grades_of_notebook):
    """grade ids that did not get full points"""
    return {gid for gid, (score, max_score) in grades_of_notebook.items() if score < max_score}


def total(grades_of_student):
    return sum(score for nb in grades_of_student.values() for score, _ in nb.values())


def max_total(grades_of_student):
    return sum(m for nb in grades_of_student.values() for _, m in nb.values())


# the student helper module, importable by the project's tests as it is by the notebooks
import sys  # noqa: E402
from autograder.grading.course import ROOT  # noqa: E402

sys.path.insert(0, str(ROOT / "solutions" / "batchnorm"))
