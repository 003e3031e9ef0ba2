"""The folders a grading process makes in /tmp (the pool's, the zygote's, the matplotlib template, a notebook's own),
removed when it ends, and by the next grading process on the machine if it was killed outright.

A process killed with SIGKILL (a shard stopped by its scheduler, the OOM killer) has no chance to clean up. So each
folder is locked (``flock``) by the process that made it, for as long as that process lives: the kernel releases the
lock when the process dies, however it dies. The first folder a grading process makes sweeps away every folder
named as this module names them (``bn-pool.k2x0f9qa``) whose lock it can take; any other name is left alone. A sweep
removes a folder while it holds its lock, so a process that finds its new folder gone once it has locked it makes
another.
"""
import fcntl
import os
import re
import shutil
import tempfile

NAMED = re.compile(r"bn-[a-z]+\.[a-z0-9_]{8}")  # bn-{kind}.{mkdtemp's 8 characters}
_locks = {}       # folder: the descriptor holding its lock, open until the folder is removed or the process ends
_swept = set()    # the parent folders swept by this process


def parent():
    """Where grading folders go: /tmp (short paths: a unix socket's path is limited to 107 bytes)."""
    return "/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir()


def make(kind, under=None):
    """A new folder ``bn-{kind}.*`` in ``under`` (default ``parent()``), 0700, locked by
    this process; the first call for a parent sweeps the folders left there by grading processes that died."""
    under = under or parent()
    if under not in _swept:
        _swept.add(under)
        sweep(under)
    while True:
        path = tempfile.mkdtemp(prefix=f"bn-{kind}.", dir=under)
        try:
            lock = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except FileNotFoundError:  # a sweep took it before this process could lock it
            continue
        fcntl.flock(lock, fcntl.LOCK_EX)  # waits for a sweep that took it first
        try:
            if os.stat(path, follow_symlinks=False).st_ino == os.fstat(lock).st_ino:
                _locks[path] = lock
                return path
        except FileNotFoundError:  # that sweep removed it
            pass
        os.close(lock)


def remove(path):
    """Remove a folder made by ``make`` and release its lock."""
    shutil.rmtree(path, ignore_errors=True)
    lock = _locks.pop(str(path), None)
    if lock is not None:
        os.close(lock)


def sweep(under=None):
    """Remove the folders ``make`` made in ``under`` whose process has died; the number removed."""
    under = under or parent()
    removed = 0
    for entry in os.scandir(under):
        if not NAMED.fullmatch(entry.name) or not entry.is_dir(follow_symlinks=False):
            continue
        try:
            lock = os.open(entry.path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if entry.stat(follow_symlinks=False).st_uid == os.geteuid():
                shutil.rmtree(entry.path, ignore_errors=True)
                removed += 1
        except OSError:  # locked: its process lives
            pass
        finally:
            os.close(lock)
    return removed
