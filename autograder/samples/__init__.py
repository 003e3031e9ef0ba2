"""Submissions that exercise the grader: correct rewrites, realistic mistakes, broken submissions, cheats."""
