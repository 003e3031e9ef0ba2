"""The cheats corpus graded by the real pipeline (sandbox and verdict process on), beside honest classmates.

Each cheat is the work of a student (blank, correct, or with one real mistake) plus
code that tries to earn marks without the work (autograder/samples/cheats.py).
It must earn exactly what the same honest work earns; and across the whole run,
nothing is written outside a student's own folder, no classmate's score changes,
no process survives, and no feedback page contains the grader's source.
"""
import html
import json
import os
import sys
import time
from pathlib import Path

import psutil
import pytest

from autograder.grading import sandbox
from autograder.grading.course import ROOT
from autograder.grading.pipeline import Settings, grade_class
from autograder.grading.verdicts import FAILED, NOT_RUN
from autograder.samples import cheats as C
from autograder.samples import sample
from autograder.samples import variants as V

pytestmark = pytest.mark.skipif(not sandbox.available()[0],
                                reason=f"no sandbox here: {sandbox.available()[1]} (apt-get install bubblewrap)")

HONEST = ["aaa-honest-solution", "aaa-honest-mistake", "aaa-honest-inplace", "zzz-honest-solution", "zzz-honest-blank"]


def student_of(cheat):
    return "cheat-" + cheat.name.replace("_", "-")


def search_roots(out_dir):
    roots = {ROOT, Path(sys.prefix), Path(sys.base_prefix), Path("/tmp"), Path("/var/tmp"), Path.home(),
             Path("/usr/lib"), Path("/usr/local/lib"), Path("/etc"), Path("/opt"), out_dir}
    roots = {r.resolve() for r in roots if r.exists()}
    return sorted(r for r in roots if not any(other in r.parents for other in roots))  # a folder inside another once


def changed_since(path, since):
    """Whether ``path`` was made or changed at ``since`` or later: its ctime, which no unprivileged process can set
    back (a second of slack for the file system's coarse clock)."""
    try:
        return os.lstat(path).st_ctime >= since - 1
    except OSError:
        return False


def mark_files(out_dir, since):
    """Files named with the cheats' mark, made or changed since ``since``, outside the students' own folders (and
    nbgrader's copies of them)."""
    build = out_dir / "graded" / "course" / "build"
    own = {build / "autograded", build / "feedback"}
    found = []
    for root in search_roots(out_dir):
        for folder, dirs, files in os.walk(root, onerror=lambda err: None):
            dirs[:] = [d for d in dirs if not (Path(folder) / d in own or d in ("proc", ".git"))]
            found += [os.path.join(folder, n) for n in files + dirs if C.MARK in n]
    return sorted(p for p in set(found) if changed_since(p, since))


def survivors():
    out = []
    for p in psutil.process_iter(["cmdline", "pid"]):
        try:
            if C.MARK in " ".join(p.info["cmdline"] or []):
                out.append((p.pid, " ".join(p.info["cmdline"])[:120]))
        except psutil.Error:
            continue
    return out


def source_lines():
    """Distinctive lines of the grader's reference and checks that students never see in their release, each also
    as HTML would escape it."""
    lines = set()
    for path in list((ROOT / "autograder" / "oracle").rglob("*.py")):
        lines |= {line.strip() for line in path.read_text().splitlines() if len(line.strip()) >= 40}
    release = ROOT / "course" / "batchnorm"
    public = "\n".join(json.dumps(json.loads(p.read_text())) + p.read_text() for p in release.glob("*.ipynb"))
    public += (release / "bn_helpers.py").read_text()
    return {quoted: line for line in lines if line not in public
            for quoted in (line, html.escape(line, quote=False), html.escape(line))}


@pytest.fixture(scope="module")
def cheated(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cheats")
    since = time.time()
    base = sample.honest_bases(sample.Sample(ROOT / "course" / "batchnorm", ROOT / "solutions" / "batchnorm"))
    students = {}
    for name in HONEST:
        kind = name.split("-")[-1]
        students[name] = sample.files_of(base[kind])
    for cheat in C.CHEATS:
        notebooks = sample.cheat_submission(base, cheat)
        students[student_of(cheat)] = sample.files_of({cheat.notebook: notebooks[cheat.notebook]})
    folder = sample.write_class(students, tmp / "download")
    out = tmp / "graded"
    started = time.monotonic()
    # the slowest other cheat takes under 10 s (its searches have 3-4 s budgets); zygote_inherited_fds jams its own
    # kernel's channels and waits for the notebook's deadline, so the deadline is what it costs
    settings = Settings(workers=2, cell_timeout=20, notebook_timeout=30)
    results = {r.student: r for r in grade_class(folder, out, settings, progress=False)}
    seconds = time.monotonic() - started
    time.sleep(1)  # detached processes would have written their files by now
    return dict(results=results, out=out, new_files=mark_files(tmp, since),
                survivors=survivors(), seconds=seconds, students=len(students))


def scores(result, notebook):
    return {gid: score for gid, (score, _) in result.scores[notebook].items()}


def failed_closed(out, result, notebook):
    """Test cells scored 0 because their hidden check never ran or failed unseen (listed for the instructor).

    A notebook the grader had to stop (time limit, dead worker) has no autograded copy: all its cells scored 0,
    listed with an error.
    """
    path = out / "course" / "build" / "autograded" / result.student / "batchnorm" / f"{notebook}.ipynb"
    if not path.exists():
        assert any(level == "error" and text.startswith(notebook) for level, text in result.messages), \
            f"{result.student}: {notebook} was not autograded, and the report does not say why"
        return set(result.scores[notebook])
    cells = json.loads(path.read_text())["cells"]
    return {c["metadata"]["nbgrader"]["grade_id"] for c in cells
            if any(o.get("ename") in (NOT_RUN, FAILED) for o in c.get("outputs", []))}


def honest_scores(results, base, notebook):
    name = {"blank": "zzz-honest-blank", "solution": "aaa-honest-solution", "mistake": "aaa-honest-mistake",
            "inplace": "aaa-honest-inplace"}[base]
    return scores(results[name], notebook)


def test_honest_classmates_score_what_their_work_earns(cheated):
    results = cheated["results"]
    mistake = V.by_name(V.DEMO_MISTAKE)
    for name in HONEST:
        r = results[name]
        waiting = {gid for _, gid, _ in r.awaiting}                  # written answers: graded by hand, later
        lost = {gid for nb in r.scores.values() for gid, (s, m) in nb.items() if s < m and gid not in waiting}
        kind = name.split("-")[-1]
        if kind == "solution":
            assert lost == set(), f"{name} lost {sorted(lost)}: a cheat reached a classmate's grade"
        elif kind in ("mistake", "inplace"):
            fails = (mistake if kind == "mistake" else V.by_name(sample.IN_PLACE_MISTAKE)).fails
            assert lost == set(fails), f"{name} lost {sorted(lost)}, expected {sorted(fails)}"
        else:
            assert r.total == 0


@pytest.mark.parametrize("cheat", C.CHEATS, ids=lambda c: c.name)
def test_a_cheat_earns_exactly_what_the_same_honest_work_earns(cheated, cheat):
    """Never more; less only where the cheat stopped its own hidden checks (those cells fail closed, listed)."""
    results, student = cheated["results"], student_of(cheat)
    got = scores(results[student], cheat.notebook)
    maxima = {gid: m for gid, (_, m) in results[student].scores[cheat.notebook].items()}
    want = honest_scores(results, cheat.base, cheat.notebook)
    want.update({gid: maxima[gid] for gid in cheat.earns})
    closed = failed_closed(cheated["out"], results[student], cheat.notebook)
    wrong = {gid: (got[gid], want[gid]) for gid in want if got[gid] != want[gid]
             and not (got[gid] == 0 and gid in closed)}
    assert wrong == {}, f"{cheat.name} ({cheat.description}): (scored, honest work scores) {wrong}"


def test_nothing_is_written_outside_the_students_folders(cheated):
    assert cheated["new_files"] == [], f"cheats wrote outside their folders: {cheated['new_files'][:10]}"


def test_no_process_survives_grading(cheated):
    assert cheated["survivors"] == [], f"processes outlived grading: {cheated['survivors'][:10]}"


def test_no_feedback_page_contains_the_graders_source_or_hidden_tests(cheated):
    lines = source_lines()
    leaks = []
    for page in (cheated["out"] / "course" / "build" / "feedback").rglob("*.html"):
        text = page.read_text()
        if "BEGIN HIDDEN TESTS" in text:
            leaks.append((page.parent.parent.name, "hidden tests"))
        quoted = next((quoted for quoted in lines if quoted in text), None)
        if quoted:
            leaks.append((page.parent.parent.name, lines[quoted][:60]))
    assert leaks == [], f"feedback pages quote the grader: {leaks[:10]}"


def test_cheats_that_fooled_nbgrader_are_listed_for_the_instructor(cheated, summary_line):
    results = cheated["results"]
    listed = [c.name for c in C.CHEATS
              if any("without a passing hidden check" in text for _, text in results[student_of(c)].messages)]
    summary_line(f"cheats corpus: {len(C.CHEATS)} cheats in {len(set(c.family for c in C.CHEATS))} families and "
                 f"{len(HONEST)} honest classmates graded in {cheated['seconds']:.0f} s; "
                 f"{len(listed)} listed for the instructor as passing without a verdict")
    # a blank notebook whose test cells are all turned into `pass`: nbgrader alone would give full marks
    assert {"transformer_cleanup", "transformer_run_cell", "patch_check_and_helpers"} <= set(listed)
    assert results[student_of(C.by_name("transformer_cleanup"))].total == 0
