"""Graded kernels forked from one process that has already imported what every kernel imports.

A kernel's own start costs about 0.7 s of CPU, most of it importing ipykernel, numpy and
matplotlib. A grading process that runs as root starts this zygote once (the pipeline's, for all its workers;
an ``nbgrader autograde`` its own):
``python zygote.py FD``, FD a listening unix socket. For each notebook, ``sandbox.py`` makes the bubblewrap
sandbox as always, with a placeholder process inside it, then hands the zygote, over
that socket, the placeholder's pid, the kernel's argv, environment, folder, user and limits,
and its own stdin, stdout and stderr.

The zygote forks as soon as a request arrives and never reads one itself, so no kernel
inherits another's. The child joins the placeholder's namespaces (setns), and forks the
kernel into them. The kernel enters the sandbox's root, drops to the sandbox's user with
no capabilities and no new privileges, closes every other descriptor, checks that the
grader's files are out of sight, and only then starts ipykernel: no student code runs
before. When the kernel ends, the child ends the placeholder, and with it the sandbox.

Only the standard library and the preloaded packages are imported here.
"""
import ctypes
import importlib
import json
import os
import re
import resource
import signal
import socket
import sys

# what a graded kernel imports before the student's first line; matplotlib.pyplot leaves its backend unloaded
# until the first figure, so the inline backend hooks into the kernel's own shell then
PRELOAD = ("ipykernel.kernelapp", "ipykernel.ipkernel", "numpy", "numpy.random", "matplotlib", "matplotlib.pyplot")
NAMESPACES = ("ipc", "uts", "net", "cgroup", "pid", "mnt")  # mnt last: /proc/<pid>/ is the grader's until then
REQUEST_BYTES = 1 << 20
# a file of the grader that must not exist inside a sandbox (checked by the kernel before it starts)
GRADER_FILE = os.path.abspath(__file__)

_PR_SET_PDEATHSIG, _PR_SET_DUMPABLE, _PR_CAPBSET_DROP, _PR_SET_NO_NEW_PRIVS, _PR_CAP_AMBIENT = 1, 4, 24, 38, 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_CAPABILITY_VERSION_3 = 0x20080522
_libc = ctypes.CDLL(None, use_errno=True)


def _call(name, *args):
    if getattr(_libc, name)(*args) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{name}: {os.strerror(err)}")


def drop_privileges(uid):
    """Become ``uid`` (group too, no supplementary groups) with every capability set empty and no_new_privs."""
    with open("/proc/sys/kernel/cap_last_cap") as f:
        last = int(f.read())
    for cap in range(last + 1):
        _call("prctl", _PR_CAPBSET_DROP, cap, 0, 0, 0)
    _call("prctl", _PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    header = (ctypes.c_uint32 * 2)(_CAPABILITY_VERSION_3, 0)
    _call("capset", header, (ctypes.c_uint32 * 6)())  # inheritable too (setresuid empties the others)
    _call("prctl", _PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    with open("/proc/self/status") as f:
        status = f.read()
    caps = {k: int(v, 16) for k, v in re.findall(r"(Cap\w+):\s*([0-9a-f]+)", status)}
    if (set(caps) != {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"} or any(caps.values())
            or not re.search(r"NoNewPrivs:\s*1", status) or os.getresuid() != (uid,) * 3
            or os.getresgid() != (uid,) * 3 or os.getgroups()):
        raise OSError(f"privileges not dropped: {caps}")


def _kernel(request, stdio, root):
    """In the sandbox's namespaces (the child of a child of the zygote): become the kernel. Never returns."""
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        if len(stdio) != 3:
            raise OSError("no stdin, stdout and stderr came with the request")
        os.fchdir(root)
        os.chroot(".")
        os.close(root)
        os.chdir(request["cwd"])
        os.setsid()
        for target, fd in enumerate(stdio):
            os.dup2(fd, target)
        os.closerange(3, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
        drop_privileges(request["uid"])
        _call("prctl", _PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # after the drop, which clears it
        _call("prctl", _PR_SET_DUMPABLE, 1, 0, 0, 0)  # as after an exec: its /proc/self is its own
        for name, value in request["limits"].items():
            resource.setrlimit(getattr(resource, name), (value, value))
        if os.path.exists(GRADER_FILE):
            raise OSError("the grader's files are in sight: this is not the sandbox")
        os.environ.clear()
        os.environ.update(request["env"], PWD=request["cwd"])
        _fresh_process_state()
        sys.argv = ["-c", *request["args"]]
        quiet = os.open(os.devnull, os.O_RDWR)  # the grader's stdio only said why a kernel did not start (sandbox.py)
        for fd in (0, 1, 2):
            os.dup2(quiet, fd)
        os.close(quiet)
    except BaseException as err:  # never a kernel that is not fully inside its sandbox
        try:
            os.write(2, f"graded kernel not started: {err}\n".encode())
        finally:
            os._exit(70)
    try:
        from ipykernel import kernelapp
        kernelapp.launch_new_instance()
    finally:
        os._exit(0)


def _fresh_process_state():
    """What a new process would have that a fork does not: its own random state, import caches and matplotlib
    folder."""
    import matplotlib
    import numpy.random
    sys.path_importer_cache.clear()  # the zygote's view of the folders on sys.path, not the sandbox's
    importlib.invalidate_caches()
    numpy.random.seed()  # the global RandomState was seeded once, in the zygote
    for memoized in (matplotlib.get_configdir, matplotlib.get_cachedir):  # ask MPLCONFIGDIR again (_logged_cached)
        for name, cell in zip(memoized.__code__.co_freevars, memoized.__closure__ or ()):
            if name == "called":
                cell.cell_contents = False


def _serve(conn):
    """One request, in a child of the zygote: join the sandbox, fork the kernel into it, wait, end the sandbox."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    data, stdio, _, _ = socket.recv_fds(conn, REQUEST_BYTES, 3)
    request = json.loads(data)
    holder = request["holder"]
    pidfd = os.pidfd_open(holder)
    ns = [(name, os.open(f"/proc/{holder}/ns/{name}", os.O_RDONLY)) for name in NAMESPACES]
    root = os.open(f"/proc/{holder}/root", os.O_RDONLY | os.O_DIRECTORY)
    for name, fd in ns:
        if os.stat(fd).st_ino != os.stat(f"/proc/self/ns/{name}").st_ino:
            _call("setns", fd, 0)
        os.close(fd)
    pid = os.fork()
    if pid == 0:
        conn.close()
        os.close(pidfd)
        _kernel(request, stdio, root)
    os.close(root)
    for fd in stdio:
        os.close(fd)
    conn.sendall(b"started\n")
    conn.close()
    os.waitpid(pid, 0)
    try:
        signal.pidfd_send_signal(pidfd, signal.SIGKILL)  # the placeholder: bwrap ends, and everything inside
    except ProcessLookupError:
        pass


def main(listening_fd):
    """Serve the listening socket ``listening_fd`` (made by the grading process: the zygote never knows its path)."""
    _call("prctl", _PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # dies with its grading process
    sys.path[:] = [p for p in sys.path if p not in ("", os.path.dirname(GRADER_FILE))]
    sys.modules["debugpy"] = None  # as sandbox.KERNEL_MAIN: nobody debugs a graded kernel
    for name in PRELOAD:
        importlib.import_module(name)
    if len(os.listdir("/proc/self/task")) != 1:
        sys.exit("the zygote must be single-threaded to fork kernels")
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # its children are reaped by the kernel, never waited for
    server = socket.socket(fileno=listening_fd)
    print("ready", flush=True)
    while True:
        conn, _ = server.accept()
        if os.fork() == 0:
            server.close()
            try:
                _serve(conn)
            finally:
                os._exit(0)
        conn.close()


if __name__ == "__main__":
    main(int(sys.argv[1]))
