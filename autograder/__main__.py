"""Instructor command line.

    python -m autograder grade SUBMISSIONS [--shard K/N] [--db-url URL] [options]
    python -m autograder report --db-url URL --out DIR
    python -m autograder export --lms {canvas,moodle} --gradebook FILE
    python -m autograder feedback-zip --out DIR
    python -m autograder formgrade [--graded DIR]
    python -m autograder override OVERRIDES.csv [--graded DIR]
"""
import argparse
import os
import sys
from pathlib import Path

from .grading import gradebook, lms
from .grading.pipeline import SandboxMissing, Settings, class_report, grade_class


def shard_from(args, environ=os.environ):
    """(K, N): --shard K/N; else a Slurm array task or a Kubernetes indexed Job's index, with N from --shards
    (Slurm: the array's size by default); else (1, 1). ValueError with a clear message when N is unknown."""
    if args.shard:
        return gradebook.parse_shard(args.shard)
    if "SLURM_ARRAY_TASK_ID" in environ:
        k = int(environ["SLURM_ARRAY_TASK_ID"]) - int(environ.get("SLURM_ARRAY_TASK_MIN", "0")) + 1
        n = args.shards or int(environ.get("SLURM_ARRAY_TASK_COUNT", "0"))
        where = "SLURM_ARRAY_TASK_ID"
    elif "JOB_COMPLETION_INDEX" in environ:
        k, n, where = int(environ["JOB_COMPLETION_INDEX"]) + 1, args.shards, "JOB_COMPLETION_INDEX"
    else:
        if args.shards:
            raise ValueError("--shards N needs SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX; or give --shard K/N")
        return 1, 1
    if not n:
        raise ValueError(f"{where} gives this shard's index; give the number of shards with --shards N")
    return gradebook.parse_shard(f"{k}/{n}")


def _term(args):
    """The ``term.Term`` of --due, --late-policy, --extensions and --moodle-worksheet; None without --due (the
    gradebook's stored one, if any, applies)."""
    from .grading import term

    if args.due is None:
        if args.late_policy or args.extensions or args.moodle_worksheet:
            raise term.TermError("--late-policy, --extensions and --moodle-worksheet need --due (the due date)")
        return None
    due = term.parse_time(args.due)
    term.parse_policy(args.late_policy)
    return term.Term(due, args.late_policy or "none",
                     term.read_extensions(args.extensions, due) if args.extensions else {},
                     term.read_moodle_times(args.moodle_worksheet, due.tzinfo) if args.moodle_worksheet else {})


def _grade(parser, args):
    if not args.submissions.exists():
        parser.error(f"{args.submissions} does not exist")
    try:
        shard = shard_from(args)
    except ValueError as err:
        parser.error(str(err))
    if shard[1] > 1 and not args.db_url:
        parser.error("a shard writes into the class's shared gradebook: give --db-url postgresql://...")
    out = args.out or Path("build/grading") / (f"shard-{shard[0]}-of-{shard[1]}" if shard[1] > 1 else "")
    settings = Settings(workers=args.workers, cell_timeout=args.cell_timeout, notebook_timeout=args.notebook_timeout,
                        memory_limit=args.memory_limit_mb << 20, db_url=args.db_url, sandbox=not args.no_sandbox)
    try:
        term = _term(args)
        grade_class(args.submissions, out, settings, shard=shard, only=args.student, term=term)
    except (SandboxMissing, gradebook.OtherAssignment, ValueError) as err:
        print(f"python -m autograder grade: {err}", file=sys.stderr)
        return 2
    print((out / "report.txt").read_text())
    print(f"grades:   {out / 'grades.csv'}\nreport:   {out / 'report.html'}\n"
          f"feedback: {out / 'course' / 'build' / 'feedback'}")
    if shard[1] > 1:
        print(f"shard {shard[0]}/{shard[1]} done; once every shard is: python -m autograder report --db-url URL --out DIR")
    return 0


def _report(parser, args):
    results = class_report(args.db_url, args.out)
    print((args.out / "report.txt").read_text())
    print(f"grades: {args.out / 'grades.csv'}\nreport: {args.out / 'report.html'}")
    return 0 if results else 1


def _refreshed(graded, students, db_url=None):
    from .grading import handgrading

    results, failed = handgrading.refresh(graded, students, db_url)
    print(f"grades.csv, report.txt and report.html rebuilt from the gradebook in {graded} ({len(results)} students); "
          f"feedback pages made again for {len(students) - len(failed)} student(s)")
    for student, error in failed:
        print(f"  feedback for {student} failed: {' '.join(error)}", file=sys.stderr)
    return 0 if not failed else 1


def _formgrade(parser, args):
    import signal
    import time

    from .grading import handgrading

    try:
        root, db_url = handgrading.graded_course(args.graded, args.db_url)
    except FileNotFoundError as err:
        parser.error(str(err))
    # Ctrl-C (and a polite SIGTERM) stop the formgrader, even where the shell started this with SIGINT ignored
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    proc = None
    try:  # a Ctrl-C at any moment from here on, even while the address is being printed, stops the server
        proc, url = handgrading.start_formgrader(root, args.port)
        print(f"nbgrader's formgrader over {root} (gradebook {db_url}), on this machine only:\n\n    {url}\n\n"
              "Open Manual Grading to grade written answers and adjust scores. Press Ctrl-C here when done: "
              "grades.csv, the report and the feedback pages of the students you graded are then rebuilt from the "
              "gradebook.", flush=True)
        while proc.poll() is None:
            time.sleep(0.5)
        print(f"the formgrader stopped ({proc.returncode}); its log ends:\n"
              f"{proc.log_path.read_text()[-2000:]}", file=sys.stderr)
    except KeyboardInterrupt:
        if proc is not None:
            handgrading.stop_formgrader(proc)
    return _refreshed(args.graded, handgrading.marked_students(db_url), args.db_url)


def _override(parser, args):
    from .grading import handgrading

    try:
        root, db_url = handgrading.graded_course(args.graded, args.db_url)
        changed = handgrading.apply_overrides(db_url, handgrading.read_overrides(args.overrides))
    except (FileNotFoundError, handgrading.OverrideError) as err:
        print(f"python -m autograder override: {err}", file=sys.stderr)
        return 2
    print(f"{len(changed)} student(s) changed: {', '.join(changed)}")
    return _refreshed(args.graded, changed, args.db_url)


def _graded_class_options(parser):
    """--graded and --db-url: the class a command works on, after `grade`."""
    parser.add_argument("--graded", type=Path, default=Path("build/grading"), help="the output folder of `grade` "
                                                                                   "(default build/grading)")
    parser.add_argument("--db-url", default=None, help="the class's gradebook, when it was graded with --db-url "
                                                       "(the outputs are rebuilt in --graded)")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("grade", help="grade a class (or one shard of it): submissions -> gradebook, grades.csv, "
                                     "feedback, report")
    g.add_argument("submissions", type=Path, help="an LMS download (folder or zip: Canvas, Moodle, or one archive or "
                                                   "folder per student) or nbgrader's submitted/<student>/batchnorm/ tree")
    g.add_argument("--out", type=Path, default=None, help="output folder (default build/grading, or "
                                                          "build/grading/shard-K-of-N for a shard)")
    defaults = Settings()
    g.add_argument("--workers", type=int, default=defaults.workers, help="parallel graders (default: cores)")
    g.add_argument("--db-url", default=None, help="gradebook URL, e.g. postgresql://user@host/db "
                                                  "(default: SQLite in the output folder)")
    g.add_argument("--shard", default=None, help="K/N: grade only shard K of N of the class (a stable hash of the "
                                                 "student id); default: from SLURM_ARRAY_TASK_ID or "
                                                 "JOB_COMPLETION_INDEX, else the whole class")
    g.add_argument("--shards", type=int, default=None, help="N, the number of shards, when the index comes from "
                                                            "SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX")
    g.add_argument("--student", action="append", default=None, metavar="ID",
                   help="grade only this student (repeat for several) into the class's existing output folder and "
                        "gradebook: the others' grades stay; grades.csv and the reports are rebuilt for everyone")
    g.add_argument("--due", default=None, help="the due date, ISO 8601 with its offset, e.g. 2026-12-01T23:59+01:00; "
                                               "kept in the gradebook for later runs")
    g.add_argument("--late-policy", default=None, help="none (default), zero, or e.g. 10%%/day,max50%% (each started "
                                                       "day late costs 10%% of the score, at most 50%%)")
    g.add_argument("--extensions", type=Path, default=None, help="CSV: student and either due (ISO 8601) or hours")
    g.add_argument("--moodle-worksheet", type=Path, default=None, help="Moodle's grading worksheet: the submission "
                   "times (Last modified (submission)), read in the due date's time zone")
    g.add_argument("--cell-timeout", type=int, default=defaults.cell_timeout, help="seconds per cell")
    g.add_argument("--notebook-timeout", type=int, default=defaults.notebook_timeout, help="seconds per notebook")
    g.add_argument("--memory-limit-mb", type=int, default=defaults.memory_limit >> 20, help="memory per kernel")
    g.add_argument("--no-sandbox", action="store_true", help="grade without bubblewrap: student code then runs "
                   "with your rights (the report says so on its first line)")
    g.set_defaults(func=lambda a: _grade(g, a))
    r = sub.add_parser("report", help="the whole class's grades.csv, report.txt and report.html from the gradebook "
                                      "alone (after every shard finished)")
    r.add_argument("--db-url", required=True, help="the gradebook the shards wrote to")
    r.add_argument("--out", type=Path, default=Path("build/grading/class"), help="output folder "
                                                                                 "(default build/grading/class)")
    r.set_defaults(func=lambda a: _report(r, a))
    f = sub.add_parser("formgrade", help="nbgrader's formgrader on the graded class, on this machine only: grade "
                                         "written answers by hand, adjust scores, comment")
    _graded_class_options(f)
    f.add_argument("--port", type=int, default=None, help="the port on 127.0.0.1 (default: a free one)")
    f.set_defaults(func=lambda a: _formgrade(f, a))
    o = sub.add_parser("override", help="manual scores and comments from a CSV file (student, grade_id, points, "
                                        "comment), written with nbgrader's API; all rows or none")
    o.add_argument("overrides", type=Path, help="CSV with the columns student, grade_id, points, comment")
    _graded_class_options(o)
    o.set_defaults(func=lambda a: _override(o, a))
    lms.add_commands(sub)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
