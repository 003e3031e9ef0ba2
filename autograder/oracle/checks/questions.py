"""How the hidden checks of concept questions judge an answer.

A question's answer is plain data in the student's notebook (a letter, or a number): the
right answer and what each wrong one reveals live only here, never in the release. A wrong
answer's message names the misconception behind it, never the right answer.
"""
import math


def choice(question, answer, right, options, misconceptions):
    """Judge a multiple-choice ``answer`` (a letter of ``options``, either case, spaces ignored).

    right: the right letter. misconceptions: {wrong letter: what choosing it shows}, one for every wrong letter.
    """
    letter = answer.strip().lower() if isinstance(answer, str) else None
    if letter is None or len(letter) != 1 or letter not in options:
        raise AssertionError(f"{question}: the answer is {answer!r}; answer with one letter of {', '.join(options)}")
    if letter != right:
        raise AssertionError(f"{question}: {letter!r} is not right. {misconceptions[letter]}")


def number(question, answer, right, misconceptions=(), rel_tol=1e-3, abs_tol=1e-9):
    """Judge a numeric ``answer`` against ``right`` (within ``rel_tol``).

    misconceptions: (value, what that value shows) for the wrong answers a known mistake gives.
    """
    try:
        value = float(answer)
    except (TypeError, ValueError):
        raise AssertionError(f"{question}: the answer is {answer!r}; answer with a number") from None
    if math.isclose(value, right, rel_tol=rel_tol, abs_tol=abs_tol):
        return
    for wrong, meaning in misconceptions:
        if math.isclose(value, wrong, rel_tol=rel_tol, abs_tol=abs_tol):
            raise AssertionError(f"{question}: {value:g} is not right. {meaning}")
    raise AssertionError(f"{question}: {value:g} is not right")
