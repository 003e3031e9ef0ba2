"""The student release: ``build/release/batchnorm.zip`` and the student's pinned requirements.

The zip holds ``batchnorm/`` exactly as students open it: the six notebooks, ``bn_helpers.py``, the student
README and ``requirements.txt``, all taken from the generated ``course/batchnorm/``. Files are chosen by an
allowlist, so a checkpoint, cache or stray file in ``course/`` never ships.

``python -m autograder.release``               writes the zip (``make release``)
``python -m autograder.release requirements``  rewrites the student requirements from this environment
"""
import argparse
import sys
import zipfile
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from .grading.course import ASSIGNMENT, RELEASE_FILES, ROOT

# what the notebooks import, and what JupyterLab's Validate and Assignment List need
STUDENT_PACKAGES = ("numpy", "matplotlib", "ipykernel", "jupyterlab", "nbgrader")
DEFAULT_ZIP = ROOT / "build" / "release" / f"{ASSIGNMENT}.zip"
REQUIREMENTS = ROOT / "solutions" / ASSIGNMENT / "requirements.txt"
HEADER = ("# What the notebooks, JupyterLab and nbgrader's Validate button need, pinned.\n"
          "# Install with: python -m pip install -r requirements.txt\n")


class ReleaseError(RuntimeError):
    """The release folder is missing something a student needs, or holds instructor material."""


def pinned_closure(packages=STUDENT_PACKAGES):
    """``{name: version}`` of ``packages`` and everything they require here (extras included), as installed."""
    found, done, todo = {}, set(), [(p, "") for p in packages]
    while todo:
        name, extra = todo.pop()
        name = canonicalize_name(name)
        if (name, extra) in done:
            continue
        done.add((name, extra))
        dist = metadata.distribution(name)
        found[name] = dist.version
        for spec in dist.requires or []:
            req = Requirement(spec)
            if req.marker is None or req.marker.evaluate({"extra": extra}):
                todo += [(req.name, "")] + [(req.name, e) for e in req.extras]
    return found


def requirements_text(packages=STUDENT_PACKAGES):
    """The student requirements file: one ``name==version`` per line, sorted."""
    return HEADER + "".join(f"{n}=={v}\n" for n, v in sorted(pinned_closure(packages).items()))


def release_files(folder):
    """``{name in the zip: path}`` for the release at ``folder``; raises ReleaseError when one is missing."""
    folder = Path(folder)
    notebooks = sorted(folder.glob("*.ipynb"))
    lessons = sorted(p.name for p in (ROOT / "solutions" / ASSIGNMENT).glob("*.ipynb"))
    if [p.name for p in notebooks] != lessons:
        raise ReleaseError(f"{folder} holds the notebooks {[p.name for p in notebooks]}, expected the lessons "
                           f"{lessons}: run `make assignment`")
    missing = [n for n in RELEASE_FILES if not (folder / n).is_file()]
    if missing:
        raise ReleaseError(f"{folder} lacks {', '.join(missing)}: run `make assignment`")
    return {f"{ASSIGNMENT}/{p.name}": p for p in notebooks + [folder / n for n in RELEASE_FILES]}


INSTRUCTOR_MARKERS = ("BEGIN HIDDEN TESTS", "BEGIN SOLUTION", "from autograder", "import autograder")


def instructor_material(name, data):
    """Why ``data`` (a file of the release named ``name``) must not reach students, or None."""
    text = data.decode("utf-8", errors="replace")
    for marker in INSTRUCTOR_MARKERS:
        if marker in text:
            return f"{name} contains {marker!r}"
    if name.endswith(".db") or data.startswith(b"SQLite format 3"):
        return f"{name} is a database"
    return None


def build_zip(out=DEFAULT_ZIP, folder=None):
    """Write the student zip from ``folder`` (default ``course/batchnorm``); return its path."""
    folder = Path(folder or ROOT / "course" / ASSIGNMENT)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".zip.part")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, path in release_files(folder).items():
            data = path.read_bytes()
            problem = instructor_material(name, data)
            if problem:
                raise ReleaseError(problem)
            zf.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), data, zipfile.ZIP_DEFLATED)
    tmp.replace(out)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m autograder.release", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", nargs="?", choices=["zip", "requirements"], default="zip")
    parser.add_argument("--out", type=Path, default=DEFAULT_ZIP, help=f"zip to write (default {DEFAULT_ZIP})")
    args = parser.parse_args(argv)
    if args.what == "requirements":
        REQUIREMENTS.write_text(requirements_text())
        print(f"wrote {REQUIREMENTS}: run `make assignment` to copy it into course/")
        return 0
    try:
        path = build_zip(args.out)
    except ReleaseError as err:
        print(f"release: {err}", file=sys.stderr)
        return 1
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
    print(f"{path}: {len(names)} files\n  " + "\n  ".join(names))
    return 0


if __name__ == "__main__":
    sys.exit(main())
