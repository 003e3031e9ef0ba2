"""Instructor command line: ``python -m autograder grade SUBMISSIONS [options]``."""
import argparse
import sys
from pathlib import Path

from .grading.pipeline import SandboxMissing, Settings, grade_class


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("grade", help="grade a class: folder or zip of submissions -> grades.csv, feedback, report")
    g.add_argument("submissions", type=Path, help="an LMS download (folder or zip, one archive or folder per "
                                                   "student) or nbgrader's submitted/<student>/batchnorm/ tree")
    g.add_argument("--out", type=Path, default=Path("build/grading"), help="output folder (default build/grading)")
    defaults = Settings()
    g.add_argument("--workers", type=int, default=defaults.workers, help="parallel graders (default: cores)")
    g.add_argument("--db-url", default=None, help="gradebook URL, e.g. postgresql://user@host/db "
                                                  "(default: SQLite in the output folder)")
    g.add_argument("--cell-timeout", type=int, default=defaults.cell_timeout, help="seconds per cell")
    g.add_argument("--notebook-timeout", type=int, default=defaults.notebook_timeout, help="seconds per notebook")
    g.add_argument("--memory-limit-mb", type=int, default=defaults.memory_limit >> 20, help="memory per kernel")
    g.add_argument("--no-sandbox", action="store_true", help="grade without bubblewrap: student code then runs "
                   "with your rights (the report says so on its first line)")
    args = parser.parse_args(argv)
    if not args.submissions.exists():
        parser.error(f"{args.submissions} does not exist")
    settings = Settings(workers=args.workers, cell_timeout=args.cell_timeout, notebook_timeout=args.notebook_timeout,
                        memory_limit=args.memory_limit_mb << 20, db_url=args.db_url, sandbox=not args.no_sandbox)
    try:
        grade_class(args.submissions, args.out, settings)
    except SandboxMissing as err:
        print(f"python -m autograder grade: {err}", file=sys.stderr)
        return 2
    print((args.out / "report.txt").read_text())
    print(f"grades:   {args.out / 'grades.csv'}\nreport:   {args.out / 'report.html'}\n"
          f"feedback: {args.out / 'course' / 'build' / 'feedback'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
