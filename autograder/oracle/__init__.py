"""The grading oracle: the reference implementation and the hidden checks that compare with it.

Imported only by the grading side (never by a student's kernel).
"""
