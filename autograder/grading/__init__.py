"""Grading a class: intake, sandboxed kernels, verdicts, the parallel pipeline, feedback and report.

Imports run one way: grading uses the oracle, the oracle never imports grading.
"""
