"""A sample class as an LMS download: good work, realistic mistakes, and broken submissions.

Each broken case is one function of the solved notebooks returning the files a
student handed in ({relative path: bytes}); ``write_class`` stores every student
as ``<student>_batchnorm.zip`` (or a folder), as a learning-management system would.
"""
import copy
import io
import zipfile
from pathlib import Path

import nbformat

from . import cheats as C
from . import variants as V
from ..grading.notebooks import grade_id, is_answer, read_notebooks
from .submissions import solved_assignment


def files_of(notebooks):
    """{file name: bytes} of notebooks {name: NotebookNode}."""
    return {f"{name}.ipynb": nbformat.writes(nb).encode() for name, nb in notebooks.items()}


def notebooks_of(files):
    """The inverse of files_of."""
    return {name[:-len(".ipynb")]: nbformat.reads(data.decode(), as_version=4) for name, data in files.items()}


def _first(nb, test):
    return next(c for c in nb.cells if test(c))


def _is_test(cell):
    meta = cell.metadata.get("nbgrader", {})
    return bool(meta.get("grade")) and not meta.get("solution")


def _append_to_answer(notebooks, name, code):
    """Copy of the notebooks with `code` run at the end of the first answer cell of notebook `name`."""
    nbs = copy.deepcopy(notebooks)
    cell = _first(nbs[name], is_answer)
    cell.source += "\n" + code
    return nbs


L1, L2, L3, L4, L5, L6 = "01_axis_means_keepdims", "02_forward", "03_backward", "04_running_statistics", \
    "05_batchnorm_in_a_network", "06_normalization_family"


def invalid_json(s):
    out = files_of(s.solved)
    out[f"{L2}.ipynb"] = out[f"{L2}.ipynb"][:-200]
    return out


def old_nbformat(s):
    out = files_of(s.solved)
    v3 = nbformat.convert(copy.deepcopy(s.solved[L1]), 3)  # convert works in place
    out[f"{L1}.ipynb"] = nbformat.writes(v3, version=3).encode()
    return out


def missing_notebook(s):
    return files_of({n: nb for n, nb in s.solved.items() if n != L5})


def renamed_notebook(s):
    out = files_of(s.solved)
    out[f"{L3} (1).ipynb"] = out.pop(f"{L3}.ipynb")
    return out


def extra_notebook(s):
    out = files_of(s.solved)
    out["scratch.ipynb"] = nbformat.writes(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")])).encode()
    return out


def deleted_test_cell(s):
    nbs = copy.deepcopy(s.solved)
    nbs[L1].cells.remove(_first(nbs[L1], _is_test))
    return files_of(nbs)


def duplicated_cells(s):
    """An answer cell and a test cell copied and pasted, as JupyterLab does it: the copies keep their nbgrader metadata
    (grade ids included) and get new cell ids."""
    nbs = copy.deepcopy(s.solved)
    for test in (is_answer, _is_test):
        cell = _first(nbs[L2], test)
        pasted = copy.deepcopy(cell)
        pasted.id = f"{cell.id[:4]}dup{len(nbs[L2].cells):x}"[:8]
        nbs[L2].cells.insert(nbs[L2].cells.index(cell) + 1, pasted)
    return files_of(nbs)


def changed_grade_ids(s):
    nbs = copy.deepcopy(s.solved)
    _first(nbs[L1], _is_test).metadata["nbgrader"]["grade_id"] = "my_test"
    _first(nbs[L2], is_answer).metadata["nbgrader"]["grade_id"] = "my_answer"
    return files_of(nbs)


def no_metadata(s):
    nbs = copy.deepcopy(s.solved)
    for cell in nbs[L3].cells:
        cell.metadata.pop("nbgrader", None)
    return files_of(nbs)


def edited_test_cell(s):
    """The demo mistake, with the test cell that catches it replaced by `pass`."""
    variant = V.by_name(V.DEMO_MISTAKE)
    nbs = s.with_variant(variant)
    cell = next(c for c in nbs[variant.notebook].cells if grade_id(c) == sorted(variant.fails)[0])
    cell.source = "pass"
    return files_of(nbs)


def infinite_loop(s):
    return files_of(_append_to_answer(s.solved, L4, "while True:\n    pass"))


def too_much_memory(s):
    return files_of(_append_to_answer(s.solved, L4, "hog = np.ones(1 << 34)  # 128 GiB"))


def kernel_exit(s):
    return files_of(_append_to_answer(s.solved, L3, "import os\nos._exit(1)"))


def _append_to_channel_stats(notebooks, code):
    """Copy of the notebooks with `code` run at the end of lesson 1's last exercise, `channel_stats`."""
    nbs = copy.deepcopy(notebooks)
    _first(nbs[L1], lambda c: grade_id(c) == "ex_channel_stats").source += "\n" + code
    return nbs


def kernel_exit_late(s):
    """Lesson 1's `channel_stats` kills the kernel when called: in the visible part of its first test cell."""
    return files_of(_append_to_channel_stats(s.solved, "def channel_stats(x):\n    import os\n    os._exit(1)"))


def _in_hidden_check(action):
    """Source that wraps lesson 1's `channel_stats` so that it runs ``action`` (indented lines) when a hidden check
    calls it, and works honestly otherwise (its visible tests pass)."""
    return '''
_channel_stats = channel_stats


def channel_stats(x):
    import sys
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_filename.endswith("client.py"):  # the hidden check's end in the kernel
''' + action + '''
        frame = frame.f_back
    return _channel_stats(x)
'''


def kernel_exit_in_hidden_check(s):
    """Lesson 1's `channel_stats` kills the kernel only when a hidden check calls it."""
    return files_of(_append_to_channel_stats(s.solved, _in_hidden_check("            import os\n            os._exit(1)")))


def kernel_stuck_in_hidden_check(s):
    """Lesson 1's `channel_stats`, called by a hidden check, sleeps for ever with SIGINT and SIGTERM ignored: the kernel
    never comes back from that cell."""
    return files_of(_append_to_channel_stats(s.solved, _in_hidden_check('''\
            import signal
            import time
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            while True:
                try:
                    time.sleep(100)
                except BaseException:
                    pass''')))


def calls_sys_exit(s):
    return files_of(_append_to_answer(s.solved, L4, "import sys\nsys.exit(0)"))


def floods_output(s):
    return files_of(_append_to_answer(s.solved, L1, "for i in range(2_000_000):\n    print(i)"))


def slow_notebook(s):
    """Cells that each stay under the per-cell limit but add up past the whole-notebook limit (18 s of sleep: for
    a per-cell limit above 6 s and a whole-notebook limit below 18 s, as in the tests)."""
    nbs = copy.deepcopy(s.solved)
    for cell in [c for c in nbs[L4].cells if is_answer(c)][:3]:
        cell.source += "\nimport time\ntime.sleep(6)"
    return files_of(nbs)


def feedback_notebook(s):
    """Lesson 6 handed in as the feedback notebook Canvas gave back for it (named like the upload it answers), instead
    of the notebook worked in: the graded cells without their nbgrader metadata, the results first."""
    from ..grading.feedback import feedback_notebook as made_from

    nbs = copy.deepcopy(s.solved)
    nbs[L6] = made_from(nbs[L6], {"unique_key": L6})
    return files_of(nbs)


def empty_archive(s):
    return {}


def not_a_notebook(s):
    return {"homework.pdf": b"%PDF-1.4\n% not a notebook\n", f"{L1}.ipynb": b"\x89PNG\r\n\x1a\n binary"}


BROKEN = [invalid_json, old_nbformat, missing_notebook, renamed_notebook, extra_notebook, deleted_test_cell,
          duplicated_cells, changed_grade_ids, no_metadata, edited_test_cell, infinite_loop, too_much_memory,
          kernel_exit, kernel_exit_late, kernel_exit_in_hidden_check, calls_sys_exit, floods_output, empty_archive,
          not_a_notebook, feedback_notebook]

def touched(case_files, solved_files):
    """The solved files a broken case changed or removed."""
    return {p for p, data in solved_files.items() if case_files.get(p) != data}


def pack(cases, sample):
    """Broken cases packed into as few students as possible: {student: (cases, files)}.

    A packed student hands in the solved assignment with several cases applied, no two of them touching the same
    file; a case that touches every notebook (an empty archive) stays alone. Each case keeps its own effect (its
    message, its notebooks' scores), and every notebook no case touched must still earn full marks.
    """
    solved = files_of(sample.solved)
    packs = []
    for case in cases:
        files = case(sample)
        mine = touched(files, solved)
        for p in packs:
            if mine and len(mine) < len(solved) and not mine & p["touched"] and len(p["touched"]) < len(solved):
                p["cases"].append(case)
                p["touched"] |= mine
                p["files"] = {path: data for path, data in p["files"].items() if path not in mine}
                p["files"].update({path: data for path, data in files.items() if solved.get(path) != data})
                break
        else:
            packs.append({"cases": [case], "touched": set(mine), "files": files})
    return {f"broken-{i + 1}-{'-'.join(c.__name__.replace('_', '') for c in p['cases'])}"[:120]: (p["cases"], p["files"])
            for i, p in enumerate(packs)}


class Sample:
    """The solved assignment, and the same with a variant applied."""

    def __init__(self, release_dir, source_dir):
        self.release_dir, self.source_dir = release_dir, source_dir
        self.solved = solved_assignment(release_dir, source_dir)

    def with_variant(self, *variants):
        return solved_assignment(self.release_dir, self.source_dir, variants)


DEMO_MISTAKES = ["fwd_layer_norm_axis", "fwd_eps_outside_sqrt", "spatial_reshape_no_transpose",
                 "staged_var_branch_overwritten", "bwd_stray_unbiased_factor", "spatial_bwd_bug_not_fixed",
                 "momentum_flipped", "running_var_biased", "eval_uses_batch_stats", "layer_not_written_back",
                 "layernorm_batch_axis", "net_backward_drops_gamma_grads", "channel_stats_reshape_no_transpose"]


DEMO_CHEATS = ["transformer_cleanup", "patch_check_and_helpers", "gradebook_manual_score", "reference_import",
               "persist_pth"]


IN_PLACE_MISTAKE = "fwd_in_place"  # the honest answer under the cheats that get past a read-only flag


def honest_bases(sample):
    """The honest work a cheat sits on ({base: whole assignment}): blank, correct, the demo mistake, and an answer
    that writes into its input."""
    return {"blank": read_notebooks(sample.release_dir), "solution": sample.solved,
            "mistake": sample.with_variant(V.by_name(V.DEMO_MISTAKE)),
            "inplace": sample.with_variant(V.by_name(IN_PLACE_MISTAKE))}


def cheat_submission(bases, cheat):
    """The whole assignment: the cheat's honest base work (from ``honest_bases``), with the cheat in its notebook."""
    return C.apply(cheat, bases[cheat.base])


def class_files(release_dir, source_dir, broken=BROKEN, mistakes=DEMO_MISTAKES, correct=True, cheats=()):
    """{student: {relative path: bytes}} for a sample class.

    cheats: names from ``cheats.CHEATS``; only ever graded in a sandbox (they attack the machine they run on).
    """
    sample = Sample(release_dir, source_dir)
    students = {}
    if correct:
        students["full-solution"] = files_of(sample.solved)
        students["untouched-release"] = files_of(read_notebooks(release_dir))
        students["correct-rewrite"] = files_of(sample.with_variant(*V.CORRECT[5:9]))
    for name in mistakes:
        students[f"mistake-{name.replace('_', '-')}"] = files_of(sample.with_variant(V.by_name(name)))
    for case in broken:
        students[f"broken-{case.__name__.replace('_', '-')}"] = case(sample)
    bases = honest_bases(sample) if cheats else None
    for name in cheats:
        students[f"cheat-{name.replace('_', '-')}"] = files_of(cheat_submission(bases, C.by_name(name)))
    return students


def write_class(students, folder):
    """Store each student as <student>_batchnorm.zip, every third one as a plain folder instead."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for i, (student, files) in enumerate(sorted(students.items())):
        if i % 3 == 2 and files:
            for path, data in files.items():
                (folder / student / path).parent.mkdir(parents=True, exist_ok=True)
                (folder / student / path).write_bytes(data)
            continue
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            for path, data in files.items():
                zf.writestr(f"batchnorm/{path}", data)
        (folder / f"{student}_batchnorm.zip").write_bytes(buf.getvalue())
    return folder

