"""The grading folders in /tmp: removed by the next grading process when the one that made them was killed outright,
never while it lives, and nothing else is touched."""
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import pytest

from autograder.grading import scratch
from autograder.grading.course import ROOT

# a grading process that makes its folders, says where, and waits to be killed (or to end by itself)
MAKER = '''
import sys
from autograder.grading import scratch
folders = [scratch.make(kind, under=sys.argv[1]) for kind in ("pool", "z", "mpl")]
folders.append(scratch.make("run", under=folders[0]))
for folder in folders:
    open(folder + "/work.txt", "w").write("a student's notebook")
print(" ".join(folders), flush=True)
sys.stdin.read()
'''


def start_maker(under):
    maker = subprocess.Popen([sys.executable, "-c", MAKER, str(under)], cwd=ROOT, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    return maker, maker.stdout.readline().split()


def test_folders_of_a_killed_grading_process_go_with_the_next_sweep_and_never_a_living_ones(tmp_path):
    living, kept = start_maker(tmp_path)
    killed, gone = start_maker(tmp_path)
    assert len(set(kept + gone)) == 8 and all(scratch.NAMED.fullmatch(os.path.basename(f)) for f in kept + gone)
    try:
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        assert scratch.sweep(tmp_path) == 3  # the pool's folder with the notebook's in it, the zygote's, matplotlib's
        assert [f for f in gone if os.path.exists(f)] == []
        assert all(os.path.isfile(f + "/work.txt") for f in kept)
        # nor of one that ended without removing them
        living.stdin.close()
        living.wait(30)
    finally:
        living.kill()
    assert scratch.sweep(tmp_path) == 3 and os.listdir(tmp_path) == []


def test_a_sweep_leaves_what_it_did_not_make(tmp_path):
    for name in ("bn-pool-k2x0f9qa", "bn-probe-1234", "bn-pool.k2x0f9qa.txt", "bn-pool.short", "bn-.k2x0f9qa"):
        (tmp_path / name).mkdir()
    (tmp_path / "bn-mpl.k2x0f9qb").write_text("a file")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "bn-z.k2x0f9qc").symlink_to(tmp_path / "elsewhere")
    before = sorted(os.listdir(tmp_path))
    made = scratch.make("run", under=tmp_path)  # sweeps first
    assert scratch.sweep(tmp_path) == 0
    assert sorted(os.listdir(tmp_path)) == sorted(before + [os.path.basename(made)])
    scratch.remove(made)
    assert sorted(os.listdir(tmp_path)) == before


def test_a_folder_of_another_user_is_left(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("only root can make a folder of another user")
    other = tmp_path / "bn-pool.k2x0f9qa"
    other.mkdir()
    os.chown(other, 65534, 65534)
    assert scratch.sweep(tmp_path) == 0 and other.is_dir()


@pytest.mark.parametrize("sweep", ["before-the-lock", "holding-the-lock"])
def test_a_folder_a_sweep_takes_while_it_is_made_is_made_again(sweep, tmp_path, monkeypatch):
    """Another process's sweep can find the new folder before its maker locks it: it removes it, before or while
    holding its lock, and the maker makes another."""
    made, sweeps, real = [], [], tempfile.mkdtemp

    def mkdtemp(**kwargs):
        path = real(**kwargs)
        made.append(path)
        if len(made) == 1:
            if sweep == "before-the-lock":
                os.rmdir(path)
            else:
                lock = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
                fcntl.flock(lock, fcntl.LOCK_EX)

                def remove_then_release():
                    time.sleep(0.3)
                    shutil.rmtree(path)
                    sweeps.append(path)
                    os.close(lock)
                threading.Thread(target=remove_then_release).start()
        return path

    monkeypatch.setattr(scratch.tempfile, "mkdtemp", mkdtemp)
    folder = scratch.make("pool", under=tmp_path)
    assert len(made) == 2 and folder == made[1] and os.path.isdir(folder)
    assert sweeps == ([made[0]] if sweep == "holding-the-lock" else [])
    scratch.remove(folder)
