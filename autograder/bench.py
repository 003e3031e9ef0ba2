"""Grading cost and grading throughput: ``python -m autograder.bench`` (``make bench``).

1. Seconds to execute each source notebook (hidden tests included) in a fresh
   kernel: autograding pays this for every student.
2. A class of 30 full-assignment submissions graded side by side in one run: plain
   sequential ``nbgrader autograde`` (stock Execute, hidden checks inside the kernel,
   no sandbox) against the parallel pipeline's autograde phase, with its sandbox and
   verdict process on (same notebooks; intake and feedback are timed apart).
"""
import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from .samples import sample
from .samples import variants as V
from .client import IN_PROCESS_ENV
from .grading import sandbox
from .grading.course import ASSIGNMENT, ROOT, Course
from .grading.notebooks import execute
from .grading.pipeline import Settings, grade_class


def time_notebooks(folder):
    """{notebook name: seconds to execute it, kernel start included}."""
    times = {}
    for path in sorted(Path(folder).glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        start = time.perf_counter()
        execute(nb, folder)
        times[path.stem] = time.perf_counter() - start
    return times


def notebook_costs():
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / ASSIGNMENT
        shutil.copytree(ROOT / "solutions" / ASSIGNMENT, folder)
        times = time_notebooks(folder)
    width = max(len(n) for n in times)
    print(f"{'notebook':<{width}}  seconds")
    for name, seconds in times.items():
        print(f"{name:<{width}}  {seconds:7.1f}")
    print(f"{'whole assignment':<{width}}  {sum(times.values()):7.1f}")


def throughput(size, workers):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        seq = Course.create(tmp / "sequential", verdicts=False)  # plain nbgrader
        seq.generate()
        mistakes = [v.name for v in V.WRONG]
        students = sample.class_files(seq.release_dir, seq.source_dir, broken=[], mistakes=mistakes[:size - 3])
        students = dict(list(students.items())[:size])
        for student, files in students.items():
            seq.submit(student, sample.notebooks_of(files))
        print(f"\nclass of {len(students)} full-assignment submissions, {workers} workers, one run:")
        os.environ[IN_PROCESS_ENV] = "1"  # plain nbgrader: the hidden checks run inside the kernel
        start = time.perf_counter()
        seq.autograde()
        del os.environ[IN_PROCESS_ENV]
        sequential = time.perf_counter() - start
        print(f"  sequential `nbgrader autograde`: {sequential:6.1f} s  ({sequential / len(students):.2f} s per submission)")
        folder = sample.write_class(students, tmp / "download")
        timings = {}
        sandboxed, why = sandbox.available()
        start = time.perf_counter()
        grade_class(folder, tmp / "parallel", Settings(workers=workers, sandbox=sandboxed), progress=False,
                    timings=timings)
        total = time.perf_counter() - start
        parallel = timings["autograde"]
        print(f"  parallel pipeline ({'sandbox and' if sandboxed else f'NO SANDBOX: {why}; with'} verdict process)")
        print(f"  parallel pipeline, autograde:    {parallel:6.1f} s  ({parallel / len(students):.2f} s per submission)")
        print(f"  parallel pipeline, everything:   {total:6.1f} s  (intake, autograde, feedback, report)")
        print(f"  throughput ratio parallel / sequential nbgrader: {sequential / parallel:.2f}x")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m autograder.bench")
    parser.add_argument("--class-size", type=int, default=30)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--notebooks-only", action="store_true", help="only the per-notebook execution times")
    args = parser.parse_args(argv)
    notebook_costs()
    if not args.notebooks_only:
        throughput(args.class_size, args.workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
