"""Lint the source notebooks' test cells: they must fail by raising, and call their hidden check.

nbgrader gives full credit to a test cell whose last expression shows a
non-numeric value (a bare ``np.allclose(a, b)`` showing ``False`` scores full
marks) and partial credit for a number, so every test cell must signal failure
by raising, and must not end in a bare expression other than a check call.

A test cell's visible code runs the notebook's functions, classes and methods (the
student's, and the given ones that call them) only through ``bn_helpers``
(``call(fn, ...)``, or a helper such as ``numerical_gradient`` given a function): a
warning from the student's code then becomes a note on stdout, never stderr, which
nbgrader's Validate counts as a failure.

Run as ``python -m autograder.lint [notebook ...]``; exits 1 when a problem is found.
"""
import ast
import re
import sys
from pathlib import Path

import nbformat

from .oracle.checks import names as check_names
from .grading.course import ROOT, ASSIGNMENT
from .grading.notebooks import HIDDEN

RAISING_CALL = re.compile(r"^(check|check_\w+|assert_\w+|call)$")


def _call_name(node):
    if isinstance(node, ast.Call):
        f = node.func
        return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
    return None


def _is_check_call(node):
    return isinstance(node, ast.Expr) and RAISING_CALL.match(_call_name(node.value) or "") is not None


def _code_problems(source):
    try:
        tree = ast.parse(source)
    except SyntaxError as err:
        return [f"does not parse: {err}"]
    body = tree.body
    problems = []
    if not (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)):
        problems.append("does not start with a docstring saying what it checks")
        checks = body
    else:
        checks = body[1:]
    if not any(isinstance(n, (ast.Assert, ast.Raise)) or _is_check_call(n)
               for stmt in checks for n in ast.walk(stmt)):
        problems.append("contains no assert, raise or check call, so it cannot fail")
    if checks and isinstance(checks[-1], ast.Expr) and not _is_check_call(checks[-1]):
        problems.append("ends in a bare expression: nbgrader grades its displayed value, not whether it is true")
    return problems


def notebook_names(nb):
    """Functions and classes the notebook's code cells define at top level, and the methods of those classes.

    Answer cells and given cells both count: a given function may call the student's.
    """
    names, methods = set(), set()
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or (meta.get("grade") and not meta.get("solution")):
            continue
        try:
            tree = ast.parse(HIDDEN.sub("", cell.source))
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                names.add(node.name)
            if isinstance(node, ast.ClassDef):
                methods.update(n.name for n in node.body if isinstance(n, ast.FunctionDef))
    return names, methods


def direct_calls(source, names, methods):
    """Calls in ``source`` that run a student's code outside bn_helpers: ``f(...)``, ``Layer(...)``, ``obj.forward()``.

    Calls inside a lambda or a nested function are left alone: those run when a helper calls them.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    found = []

    def visit(node):
        if isinstance(node, (ast.Lambda, ast.FunctionDef)):
            return
        if isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Name) and f.id in names:
                found.append(f.id)
            elif isinstance(f, ast.Attribute) and f.attr in methods:
                found.append(f".{f.attr}")
        for child in ast.iter_child_nodes(node):
            visit(child)

    for stmt in tree.body:
        visit(stmt)
    return found


def hidden_checks(source):
    """Names passed to check("...") inside the hidden-test blocks of a cell."""
    blocks = "".join(m.group(0) for m in HIDDEN.finditer(source))
    return re.findall(r"""\bcheck\(\s*["']([\w.-]+)["']""", blocks)


def notebook_problems(path):
    """Problems of one source notebook, as 'file [grade_id]: message' strings."""
    nb = nbformat.read(path, as_version=4)
    names, methods = notebook_names(nb)
    out = []
    seen = set()
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        gid = meta.get("grade_id")
        if gid:
            if gid in seen:
                out.append(f"{path.name} [{gid}]: grade_id used twice")
            seen.add(gid)
        if not meta.get("grade") or meta.get("solution") or cell.cell_type != "code":
            continue
        where = f"{path.name} [{gid}]"
        for version, source in [("source", cell.source), ("release", HIDDEN.sub("", cell.source))]:
            out += [f"{where} ({version} version) {p}" for p in _code_problems(source)]
        for name in dict.fromkeys(direct_calls(HIDDEN.sub("", cell.source), names, methods)):
            out.append(f"{where}: calls the notebook's {name}(...) directly; use call(...) so that "
                       "warnings from the student's code become notes instead of stderr")
        called = hidden_checks(cell.source)
        if called != [gid]:
            out.append(f"{where}: its hidden tests must call check({gid!r}, ...) once; they call {called}")
        if not all("from autograder import check" in m.group(0) for m in HIDDEN.finditer(cell.source)):
            out.append(f"{where}: its hidden tests must import check themselves (from autograder import check): "
                       "an earlier cell's import does not run when that cell's visible test fails first")
    return out


def source_notebooks():
    return sorted((ROOT / "solutions" / ASSIGNMENT).glob("*.ipynb"))


def all_problems(paths=None):
    paths = [Path(p) for p in paths] if paths else source_notebooks()
    problems = []
    used = set()
    for p in paths:
        problems += notebook_problems(p)
        nb = nbformat.read(p, as_version=4)
        used.update(n for c in nb.cells for n in hidden_checks(c.source))
    if not paths or paths == source_notebooks():
        problems += [f"hidden check {n!r} is registered but no test cell calls it"
                     for n in check_names() if n not in used]
    problems += [f"a test cell calls check({n!r}), which is not registered"
                 for n in sorted(used) if n not in check_names()]
    return problems


def main(argv=None):
    problems = all_problems((argv if argv is not None else sys.argv[1:]) or None)
    for p in problems:
        print(p)
    print(f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
