"""Instructor-only side of the batch-norm course.

``check`` (``client``, ``wire``): the hidden tests' entry point, the only part a
graded kernel sees. ``oracle``: the reference and the hidden checks. ``grading``:
intake, sandboxed kernels, verdicts, the parallel pipeline, feedback and report.
``samples``: submissions that exercise the grader. Nothing here ships to students.
"""
from .client import check

__all__ = ["check"]
