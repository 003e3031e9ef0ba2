"""The graded kernel's sandbox, probed from inside by a notebook graded with real nbgrader."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid

import nbformat
import psutil
import pytest

from autograder.grading import sandbox
from autograder.grading.course import ROOT, Course
from autograder.grading.notebooks import read_notebooks

pytestmark = pytest.mark.skipif(not sandbox.available()[0],
                                reason=f"no sandbox here: {sandbox.available()[1]} (apt-get install bubblewrap)")

PROBE = '''
import json, os, resource, socket, subprocess, sys
report = {"uid": os.getuid(), "cwd": os.getcwd()}
report["exists"] = {p: os.path.exists(p) for p in PATHS}
report["home"] = sorted(os.listdir(os.path.expanduser("~")))
import autograder
report["autograder"] = sorted(os.listdir(os.path.dirname(autograder.__file__)))
try:
    import autograder.oracle
    report["oracle"] = True
except ImportError:
    report["oracle"] = False
report["writable"] = {}
for p in WRITE:
    try:
        with open(p, "w") as f:
            f.write("x")
        report["writable"][p] = True
    except OSError:
        report["writable"][p] = False
try:
    socket.create_connection(("127.0.0.1", PORT), timeout=2).close()
    report["network"] = True
except OSError:
    report["network"] = False
report["limits"] = {n: resource.getrlimit(getattr(resource, n))[0] for n in ("RLIMIT_AS", "RLIMIT_NPROC", "RLIMIT_FSIZE")}
try:
    with open("big.bin", "wb") as f:
        f.write(b"0" * (FSIZE + 1))
    report["big_file"] = True
except OSError:
    report["big_file"] = False
os.remove("big.bin") if os.path.exists("big.bin") else None
subprocess.Popen(["sh", "-c", "sleep 600; : MARK"], start_new_session=True)
report["pids"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
import re
status = open("/proc/self/status").read()
report["caps"] = {k: int(v, 16) for k, v in re.findall(r"(Cap\w+):\s*([0-9a-f]+)", status)}
report["no_new_privs"] = int(re.search(r"NoNewPrivs:\s*(\d)", status).group(1))
report["ppid"] = os.getppid()
report["fds"], report["sockets"] = [], []
for fd in os.listdir("/proc/self/fd"):
    try:
        report["fds"].append(os.readlink(f"/proc/self/fd/{fd}"))
        s = socket.socket(fileno=os.dup(int(fd)))
    except OSError:
        continue
    with s:
        for name in ("getsockname", "getpeername"):
            try:
                report["sockets"].append(str(getattr(s, name)()))
            except OSError:
                pass
# every kernel's run folder and the zygote's folder that this process's memory names
traces = set()
with open("/proc/self/maps") as maps, open("/proc/self/mem", "rb", 0) as mem:
    for line in maps:
        span, perms = line.split()[:2]
        lo, hi = (int(x, 16) for x in span.split("-"))
        if "r" not in perms or hi - lo > 1 << 28:
            continue
        try:
            mem.seek(lo)
            chunk = mem.read(hi - lo)
        except (OSError, ValueError, OverflowError):
            continue
        traces.update(m.decode() for m in re.findall(rb"/tmp/bn-(?:run|z)[.][A-Za-z0-9_]{8}", chunk))
report["traces"] = sorted(traces)
print("PROBE " + json.dumps(report))
'''

# a student whose code, run by the grader, leaves a symlink where its notebook was: nbgrader (the grader's user, root
# in CI) writes the graded notebook there afterwards, through the link, into a file of the machine's
LINKER = '''
import os
os.remove(NOTEBOOK)
os.symlink(VICTIM, NOTEBOOK)
'''


def cell_output(notebook_path, index):
    graded = nbformat.read(notebook_path, as_version=4)
    return "".join(o.get("text", "") for o in graded.cells[index].outputs if o.output_type == "stream")


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    course = Course.create(tmp_path_factory.mktemp("sandboxed"), sandbox="bwrap")
    course.generate_here()
    release = read_notebooks(course.release_dir)
    name = "01_axis_means_keepdims"
    course.submit("neighbour", {name: release[name]})
    mark = f"bn-probe-{uuid.uuid4().hex[:8]}"
    host_tmp = f"/tmp/{mark}"
    secrets = {"solutions": str(course.source_dir), "oracle": str(ROOT / "autograder" / "oracle"),
               "repository": str(ROOT / "README.md"), "gradebook": str(course.root / "build" / "gradebook.db"),
               "neighbour": str(course.autograded_dir("neighbour")), "home": os.path.expanduser("~/.bashrc"),
               "sources": str(ROOT / "solutions")}
    purelib = next(p for p in sys.path if p.endswith("site-packages"))
    writes = {"venv": os.path.join(purelib, f"{mark}.pth"), "base": os.path.join(sys.base_prefix, f"{mark}.pth"),
              "usr": f"/usr/lib/{mark}", "tmp": host_tmp, "own": f"{mark}.txt"}
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    nb = release[name]
    code = (f"PATHS = {list(secrets.values())!r}\nWRITE = {list(writes.values())!r}\n"
            f"PORT = {listener.getsockname()[1]}\nFSIZE = {sandbox.FILE_SIZE_LIMIT}\n"
            + PROBE.replace("MARK", mark))
    nb.cells.insert(1, nbformat.v4.new_code_cell(code))
    course.submit("prober", {name: nb})
    victim = course.root / "victim.txt"  # any file of the machine's
    victim.write_text("the machine's own file")
    linker = read_notebooks(course.release_dir)[name]
    linker.cells.insert(1, nbformat.v4.new_code_cell(f"NOTEBOOK, VICTIM = {name + '.ipynb'!r}, {str(victim)!r}\n"
                                                     + LINKER))
    course.submit("linker", {name: linker})
    with listener:
        course.autograde()  # linker, neighbour, prober (nbgrader's order): one grading process, as in a class
    time.sleep(0.5)
    assert course.autograded_dir("neighbour").is_dir(), "the neighbour was not graded"
    report = json.loads(cell_output(course.autograded_dir("prober") / f"{name}.ipynb", 1).split("PROBE ", 1)[1])
    survivors = [p.pid for p in psutil.process_iter(["cmdline"]) if mark in " ".join(p.info["cmdline"] or [])]
    return dict(report=report, secrets=secrets, writes=writes, course=course, host_tmp=host_tmp,
                survivors=survivors, mark=mark, victim=victim, linked=course.autograded_dir("linker") / f"{name}.ipynb")


def test_nothing_of_the_grader_is_visible(probe):
    report = probe["report"]
    visible = [name for name, path in probe["secrets"].items() if report["exists"][path]]
    assert visible == [], f"visible inside the sandbox: {visible}"
    assert report["home"] == [] or not {".bashrc", ".pyenv", ".cache"} & set(report["home"])
    assert set(report["autograder"]) <= {"__init__.py", "client.py", "wire.py", "__pycache__"}
    assert report["oracle"] is False


def test_only_the_students_own_folder_and_a_private_tmp_are_writable(probe):
    w = probe["writes"]
    written = probe["report"]["writable"]
    assert written[w["own"]] and written[w["tmp"]]
    assert not any(written[w[k]] for k in ("venv", "base", "usr"))
    assert not os.path.exists(probe["host_tmp"]), "the sandbox's /tmp is the host's"
    for key in ("venv", "base", "usr"):
        assert not os.path.exists(w[key])


def test_what_a_kernel_leaves_in_its_folder_never_redirects_the_graders_writes(probe):
    """The kernel works in a copy of its folder: its notebook replaced by a symlink there, the graded notebook is still
    written where nbgrader writes it, and the file the link names is untouched."""
    assert probe["victim"].read_text() == "the machine's own file"
    assert not probe["linked"].is_symlink() and nbformat.read(probe["linked"], as_version=4).cells[1].source


def test_no_network_and_limits_on_memory_processes_and_file_size(probe):
    report = probe["report"]
    assert report["network"] is False
    assert 0 < report["limits"]["RLIMIT_AS"] <= 2 * 2 ** 30
    assert 0 < report["limits"]["RLIMIT_NPROC"] < 100000
    assert report["limits"]["RLIMIT_FSIZE"] == sandbox.FILE_SIZE_LIMIT and report["big_file"] is False
    if os.geteuid() == 0:
        assert report["uid"] != 0, "the kernel runs as root"


def test_no_capability_no_inherited_descriptor_and_no_other_kernels_traces(probe):
    """Whether started by bwrap or forked from the zygote (as root): a kernel holds no privilege, no descriptor of
    the grader's, and nothing in its memory names another kernel's folder or the zygote's."""
    report = probe["report"]
    assert report["caps"] and not any(report["caps"].values()), report["caps"]
    assert report["no_new_privs"] == 1
    assert not [f for f in report["fds"] + report["sockets"] if "bn-z." in f or "zygote" in f], report["fds"]
    own = [t for t in report["traces"] if report["cwd"] and "bn-z." not in t]
    assert len(own) == 1 and not [t for t in report["traces"] if "bn-z." in t], report["traces"]
    if os.geteuid() == 0:
        assert report["ppid"] == 0, "as root, the probe's kernel was not forked from the zygote"


def test_its_own_process_namespace_and_nothing_survives(probe):
    assert max(probe["report"]["pids"]) < 100, "the kernel sees the machine's processes"
    assert probe["survivors"] == [], f"processes outlived grading: {probe['survivors']}"


# a student's code writing to the grader's terminal (escape sequences, a fake "all graded" line) every way it can
LOUD = r'''
import os, subprocess, sys
os.write(1, b"LOUD-fd1\n"); os.write(2, b"LOUD-fd2\n")
print("LOUD-stdout", file=sys.__stdout__, flush=True); print("LOUD-stderr", file=sys.__stderr__, flush=True)
for path in ("/proc/self/fd/1", "/proc/self/fd/2", "/proc/1/fd/1", "/proc/1/fd/2", "/dev/tty",
             f"/proc/{os.getppid()}/fd/1", f"/proc/{os.getppid()}/fd/2"):
    try:
        with open(path, "w") as f:
            f.write("LOUD-" + path + "\n")
    except OSError:
        pass
subprocess.run(["sh", "-c", "echo LOUD-child; echo LOUD-child >&2"])
# a copy of any descriptor 1 or 2 of the processes it can see (the sandbox's init, a placeholder): pidfd_getfd
# (unsandboxed, it would be every process of the machine's)
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
for pid in (int(p) for p in os.listdir("/proc") if SANDBOXED and p.isdigit() and int(p) != os.getpid()):
    for fd in (1, 2):
        try:
            copied = libc.syscall(438, os.pidfd_open(pid), fd, 0)
            if copied >= 0:
                os.write(copied, f"LOUD-pidfd_getfd {pid} {fd}\n".encode())
        except OSError:
            pass
'''


@pytest.mark.parametrize("mode", ["bwrap", "bwrap-forked", "none"])
def test_a_graded_kernel_prints_nothing_on_the_graders_terminal(mode, tmp_path):
    """What a graded kernel or its student's code prints never reaches the grader's stdout or stderr: not ipykernel's
    banner for kernels not started by a notebook server ("NOTE: When using the `ipython kernel` entry point, Ctrl-C
    will not work ..."), once per graded notebook, nor what a student writes there on purpose (it stays in the
    notebook)."""
    from jupyter_client import BlockingKernelClient

    from kernels import start_graded_kernel

    zygote = None
    if mode == "bwrap-forked":
        if os.geteuid() != 0:
            pytest.skip("kernels are forked from a zygote only where the grader runs as root")
        from autograder.grading.verdicts import zygote_socket
        zygote = zygote_socket()
    connection, kernel = start_graded_kernel(mode.split("-")[0], tmp_path, zygote=zygote, stdout=subprocess.PIPE,
                                             stderr=subprocess.STDOUT, text=True)
    client, seen = BlockingKernelClient(), []
    client.load_connection_file(connection)
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        reply = client.execute_interactive(LOUD.replace("SANDBOXED", str(mode != "none")), timeout=60,
                                           output_hook=seen.append)
        client.shutdown()
        try:
            printed, _ = kernel.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            # ipykernel 7 sometimes hangs in a graceful shutdown (its control thread flushes stdout to the IOPub
            # thread the main thread has just stopped): about one kernel in ten here. Graded kernels are shut down
            # immediately (VerdictExecute.shutdown_kernel); what this one printed is all in the pipe
            kernel.kill()
            printed, _ = kernel.communicate(timeout=60)
    finally:
        client.stop_channels()
        kernel.kill()
    assert reply["content"]["status"] == "ok", reply["content"]
    shown = "".join(m["content"].get("text", "") for m in seen if m["msg_type"] == "stream")
    assert all(f"LOUD-{what}" in shown for what in ("fd1", "fd2", "stdout", "stderr", "child")), shown
    assert printed == "", printed


@pytest.mark.skipif(os.geteuid() != 0, reason="kernels are forked from a zygote only where the grader runs as root")
def test_a_kernel_whose_zygote_died_starts_in_a_sandbox_of_its_own(tmp_path):
    """One zygote serves a whole grading run: if it died, the run's kernels start as without one, not at all."""
    from jupyter_client import BlockingKernelClient

    from kernels import start_graded_kernel

    dead = tmp_path / "zygote.sock"  # a socket nothing listens on any more: what a dead zygote leaves
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as gone:
        gone.bind(str(dead))
    (tmp_path / "sandboxed").mkdir()
    connection, kernel = start_graded_kernel("bwrap", tmp_path / "sandboxed", zygote=str(dead),
                                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client, seen = BlockingKernelClient(), []
    client.load_connection_file(connection)
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        reply = client.execute_interactive(f"import os\nprint(os.getuid(), os.path.exists({sandbox.__file__!r}))",
                                           timeout=60, output_hook=seen.append)
    finally:
        client.stop_channels()
        kernel.kill()
        kernel.wait(30)
    assert reply["content"]["status"] == "ok"
    uid, grader_visible = "".join(m["content"].get("text", "") for m in seen if m["msg_type"] == "stream").split()
    assert int(uid) != 0 and grader_visible == "False"


# a grading process that starts a graded kernel and is killed outright (SIGKILL: by a scheduler, the OOM killer)
# while the kernel's launcher starts, or while the launcher's bwrap starts (a bwrap made slow by a wrapper)
KILLED_GRADER = '''
import os, signal, subprocess, sys, time
from pathlib import Path
import psutil
from kernels import start_graded_kernel
folder, zygote, slow_bwrap = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
_, kernel = start_graded_kernel("bwrap", folder, zygote=zygote or None, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
def bwrap_starting():
    for p in psutil.Process().children(recursive=True):
        try:
            if slow_bwrap in p.cmdline():
                return True
        except psutil.Error:
            pass
while slow_bwrap and not bwrap_starting():
    time.sleep(0.005)
os.kill(os.getpid(), signal.SIGKILL)
'''


def processes_of(folder):
    """Processes whose command line or environment names ``folder``: a kernel's launcher, bwrap (and its init
    inside the sandbox), the kernel."""
    found = []
    for p in psutil.process_iter(["cmdline", "environ"]):
        if folder in " ".join(p.info["cmdline"] or []) or folder in " ".join((p.info["environ"] or {}).values()):
            found.append(p)
    return found


@pytest.mark.parametrize("moment", ["launcher-starts", "bwrap-starts"])
@pytest.mark.parametrize("zygote", ["none", "died-with-the-grader", "outlives-the-grader"])
def test_a_kernel_never_outlives_the_grading_process_that_started_it(zygote, moment, tmp_path):
    """Nothing the kernel's launcher starts (bwrap, the sandbox, the kernel) stays when its grading process is killed
    outright, at whatever moment: bwrap ties itself to its parent only once it has started (``--die-with-parent``),
    and a process whose parent has died belongs to another parent."""
    if zygote != "none" and os.geteuid() != 0:
        pytest.skip("kernels are forked from a zygote only where the grader runs as root")
    path = ""
    if zygote == "died-with-the-grader":  # a socket nothing listens on any more: what a dead zygote leaves
        path = str(tmp_path / "zygote.sock")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as gone:
            gone.bind(path)
    elif zygote == "outlives-the-grader":  # a pipeline's worker killed alone: the zygote is its parent's
        from autograder.grading.verdicts import zygote_socket
        path = zygote_socket()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.path.dirname(__file__), str(ROOT)])}
    slow = ""
    if moment == "bwrap-starts":
        (tmp_path / "bin").mkdir()
        slow = str(tmp_path / "bin" / "bwrap")
        with open(slow, "w") as f:
            # bwrap held back until the grading process is dead: then it goes on as a real one would
            f.write(f'#!/bin/sh\nwhile [ ! -e {tmp_path / "go"} ]; do sleep 0.05; done\n'
                    f'exec {shutil.which("bwrap")} "$@"\n')
        os.chmod(slow, 0o755)
        env["PATH"] = f"{tmp_path / 'bin'}{os.pathsep}{env['PATH']}"
    (tmp_path / "graded").mkdir()
    grader = subprocess.run([sys.executable, "-c", KILLED_GRADER, str(tmp_path / "graded"), path, slow], env=env,
                            capture_output=True, text=True, timeout=120)
    assert grader.returncode == -signal.SIGKILL, grader.stderr
    (tmp_path / "go").touch()
    deadline = time.monotonic() + 10
    while (left := processes_of(str(tmp_path / "graded"))) and time.monotonic() < deadline:
        time.sleep(0.1)
    for p in left:
        p.kill()
    assert left == [], [" ".join(p.info["cmdline"] or [])[:120] for p in left]
