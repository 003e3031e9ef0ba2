"""Graded kernels started the way a grading process starts them, with the launcher and jupyter_client only:
importable by a small process a test starts and kills (no nbgrader, no pytest)."""
import os
import subprocess
import sys

from autograder.grading import sandbox


def start_graded_kernel(mode, tmp_path, zygote=None, **popen):
    """(connection file, process): a kernel started by the graded kernels' launcher (``sandbox.py``) in ``mode``
    ("bwrap" or "none"), with its own student, kernel and verdict-socket folders under ``tmp_path``; ``zygote``: the
    socket of the zygote to fork it from. The calling process is the kernel's grading process."""
    from jupyter_client.connect import write_connection_file

    work, kernel_dir, socket_dir = (tmp_path / name for name in ("student", "k", "v"))
    for folder in (work, kernel_dir, socket_dir):
        folder.mkdir()
    connection, _ = write_connection_file(str(kernel_dir / "kernel.json"), transport="ipc", ip=str(kernel_dir / "ipc"))
    env = {**os.environ, **sandbox.launcher_env(mode, 1 << 30, socket_dir / "verdict.sock", zygote=zygote)}
    process = subprocess.Popen([sys.executable, "-I", "-S", sandbox.__file__, "-f", connection], cwd=work, env=env,
                               **popen)
    return connection, process
