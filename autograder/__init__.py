"""Instructor-only side of the batch-norm course.

``reference``: the grading oracle. ``checks``: the hidden tests' single entry
point, ``check(name, student_object)``. ``course``: nbgrader settings and the
grading round trip. Nothing in this package ships to students.
"""
from .checks import check

__all__ = ["check"]
