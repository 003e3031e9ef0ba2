"""Start a graded kernel in a bubblewrap sandbox: ``python -I -S sandbox.py -f CONNECTION_FILE``.

This file is the kernel's launcher (the ``argv`` of the grading kernelspec that
``verdicts.VerdictExecute`` writes); it runs in the grader, before the student's
code, and uses the standard library only so that it starts fast. With
``BATCHNORM_SANDBOX=bwrap`` the kernel sees:

- the system (``/usr``), the Python installation and the virtual environment, read-only;
- a copy of the student's working folder (the folder nbgrader autogrades in, which
  the kernel never touches: nbgrader writes the graded notebook there afterwards) at
  that folder's path, and the kernel's own connection folder, writable; a private
  ``/tmp`` (also ``HOME``);
- the verdict socket, and the three files of the grader a kernel needs
  (``autograder/__init__.py``, ``client.py``, ``wire.py``), read-only;
- no network, its own PID namespace (everything it starts dies with it), a clean
  environment, and limits on address space, processes and file size. When the
  grader runs as root, the kernel runs as an unprivileged user of its own.

Nothing else of the machine is there: not ``solutions/``, not the rest of
``autograder/``, not the gradebook, not other students' folders, not the home directory.
With ``BATCHNORM_SANDBOX=none`` the kernel runs unconfined, with the same limits.
"""
import os
import resource
import shutil
import signal
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE = os.path.dirname(HERE)                          # autograder/
CLIENT_FILES = ("__init__.py", "client.py", "wire.py")    # all of the grader that a kernel sees
CLIENT_ROOT = "/opt/batchnorm"                           # where they appear inside the sandbox
SOCKET_ENV = "BATCHNORM_VERDICT_SOCKET"                  # as in autograder.client
ZYGOTE_ENV = "BATCHNORM_ZYGOTE"                          # the socket of the grading process's zygote (zygote.py)
GRADER_ENV = "BATCHNORM_GRADER"                          # the pid of the grading process that starts the launcher
FILE_SIZE_LIMIT = 64 * 2 ** 20
PROCESS_LIMIT = 256                                      # tasks (threads count) of the sandbox's user
SANDBOX_UID_BASE = 60000
NO_ZYGOTE = "the zygote cannot be reached"               # then a kernel starts in a sandbox of its own, unforked
_PR_SET_PDEATHSIG = 1                                    # prctl: a signal when the parent dies
# ipykernel_launcher's start (the kernel's own folder leaves sys.path while ipykernel loads, init_path puts it
# back), without the debugger: importing debugpy is a tenth of a kernel's start, and nobody debugs a graded kernel.
# First the kernel's stdin, stdout and stderr become /dev/null: they are the grader's (its terminal, its log), and
# a student's code must not write there (escape sequences, a fake summary); what it prints reaches its notebook
KERNEL_MAIN = ("import os; quiet = os.open(os.devnull, os.O_RDWR); [os.dup2(quiet, fd) for fd in (0, 1, 2)]; "
               "os.close(quiet); "
               "import sys; sys.path[:1] = [] if sys.path[:1] == [''] else sys.path[:1]; "
               "sys.modules['debugpy'] = None; from ipykernel import kernelapp; kernelapp.launch_new_instance()")
SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/fonts", "/etc/localtime", "/etc/nsswitch.conf", "/etc/passwd",
                "/etc/group", "/etc/mime.types")


def _environment_prefix():
    """The virtual environment of the interpreter running this (``sys.prefix`` is the base without ``site``)."""
    venv = os.path.dirname(os.path.dirname(os.path.abspath(sys.executable)))
    return venv if os.path.exists(os.path.join(venv, "pyvenv.cfg")) else sys.prefix


def launcher_env(mode, memory_limit, socket_path, matplotlib_template=None, zygote=None):
    """The environment of the launcher (kernelspec ``env``)."""
    env = {"BATCHNORM_SANDBOX": mode, "BATCHNORM_KERNEL_MEMORY": str(memory_limit), SOCKET_ENV: str(socket_path),
           GRADER_ENV: str(os.getpid())}
    if matplotlib_template:
        env["BATCHNORM_MPL_TEMPLATE"] = str(matplotlib_template)
    if zygote:
        env[ZYGOTE_ENV] = str(zygote)
    return env


_available = None


def available():
    """(True, "") when bubblewrap can run a sandbox here, else (False, the reason)."""
    global _available
    if _available is None:
        _available = _probe()
    return _available


def _probe():
    if not shutil.which("bwrap"):
        return False, "bubblewrap (bwrap) is not installed"
    if os.geteuid() == 0 and not shutil.which("setpriv"):
        return False, "setpriv (util-linux) is missing: as root, the sandbox needs it to drop privileges"
    try:
        proc = subprocess.run(["bwrap", "--unshare-pid", "--unshare-net", "--die-with-parent",
                               "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "true"],
                              capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as err:
        return False, f"bubblewrap cannot start: {err}"
    if proc.returncode != 0:
        return False, f"bubblewrap cannot create a sandbox here: {proc.stderr.strip()[:300]}"
    return True, ""


def _ancestors(path):
    """Parent folders of ``path`` below /, outermost first."""
    parts = os.path.abspath(path).strip("/").split("/")[:-1]
    return ["/" + "/".join(parts[:i]) for i in range(1, len(parts) + 1)]


def _user_tasks(uid):
    """Threads of every process of ``uid`` (what RLIMIT_NPROC counts)."""
    count = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/status") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
            if int(fields["Uid"].split()[0]) == uid:
                count += int(fields["Threads"])
        except (OSError, KeyError, ValueError):
            continue
    return count


def _check_workdir(cwd):
    """The writable folder must be a student's copy, never the grader's tree or a home folder."""
    home = os.path.expanduser("~")
    repo = os.path.dirname(PACKAGE)
    bad = (cwd in ("/", home, "/tmp") or repo.startswith(cwd.rstrip("/") + "/") or cwd == repo
           or os.path.isdir(os.path.join(cwd, "solutions")) or os.path.isdir(os.path.join(cwd, "autograder")))
    if bad:
        sys.exit(f"refusing to sandbox a kernel whose working folder is {cwd}: it must be a student's folder")


def kernel_env(mode, venv_bin, socket_path, home):
    env = {
        "PATH": os.pathsep.join([venv_bin, "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": home, "TMPDIR": "/tmp" if mode == "bwrap" else home, "LANG": "C.UTF-8",
        "PYTHONPATH": CLIENT_ROOT if mode == "bwrap" else os.path.dirname(PACKAGE),
        "PYTHONDONTWRITEBYTECODE": "1", "MALLOC_ARENA_MAX": "2", "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1", "PYDEVD_DISABLE_FILE_VALIDATION": "1", SOCKET_ENV: socket_path,
    }
    if "NBGRADER_EXECUTION" in os.environ:
        env["NBGRADER_EXECUTION"] = os.environ["NBGRADER_EXECUTION"]
    return env


def _matplotlib_config(kernel_dir, uid):
    """The kernel's own copy of the prepared matplotlib folder (font cache built), or None."""
    template = os.environ.get("BATCHNORM_MPL_TEMPLATE")
    if not template or not os.path.isdir(template):
        return None
    folder = os.path.join(kernel_dir, "matplotlib")
    shutil.copytree(template, folder, dirs_exist_ok=True)
    if uid is not None:
        for parent, dirs, files in os.walk(folder):
            for name in [parent] + [os.path.join(parent, n) for n in dirs + files]:
                os.chown(name, uid, uid)
    return folder


def working_copy(cwd, kernel_dir, uid):
    """The kernel's working folder: a copy of the student's (``cwd``), in ``kernel_dir``, bound at ``cwd`` in the
    sandbox. Whatever the kernel leaves there (its notebook replaced by a symlink to a file of the machine's) stays
    in the copy: nbgrader, running as the grader, writes the graded notebook into ``cwd`` afterwards. Symlinks are
    copied as links, never followed."""
    work = os.path.join(kernel_dir, "work")
    shutil.copytree(cwd, work, symlinks=True)
    if uid is not None:
        os.chown(work, uid, uid)
    return work


def bwrap_command(kernel, env, cwd, kernel_dir, socket_dir, uid, work=None):
    """The bwrap command line that runs ``kernel`` (argv) with ``env`` in the sandbox, in ``cwd``; ``work``: the
    folder bound there (``working_copy``), else ``cwd`` itself."""
    ro = ["/usr", sys.base_prefix, _environment_prefix()] + [p for p in SYSTEM_FILES if os.path.exists(p)]
    rw = [(work or cwd, cwd), (kernel_dir, kernel_dir)]
    clients = [(os.path.join(PACKAGE, f), f"{CLIENT_ROOT}/autograder/{f}") for f in CLIENT_FILES]
    args = ["bwrap", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--new-session", "--hostname", "sandbox",
            "--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/tmp"]
    for link in ("/bin", "/lib", "/lib64", "/sbin"):
        if os.path.islink(link):
            args += ["--symlink", os.readlink(link), link]
        elif os.path.isdir(link):
            ro.append(link)
    targets = ro + [dest for _, dest in rw] + [socket_dir] + [dest for _, dest in clients]
    made = set()
    for target in sorted(targets):
        for folder in _ancestors(target):  # readable parents: bwrap makes them 0700 otherwise
            if folder not in made and folder not in targets:
                made.add(folder)
                args += ["--perms", "0755", "--dir", folder]
    for path in ro:
        args += ["--ro-bind", path, path]
    args += ["--ro-bind", socket_dir, socket_dir]
    for src, dest in rw:
        args += ["--bind", src, dest]
    for src, dest in clients:
        args += ["--ro-bind", src, dest]
    args += ["--chdir", cwd, "--clearenv"]
    for key, value in env.items():
        args += ["--setenv", key, value]
    if uid is not None:
        args += ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all",
                 "--bounding-set=-all", "--no-new-privs"]
    return args + kernel


def tied_to(parent):
    """Be killed (SIGKILL) when ``parent``, this process's parent, dies; False if it has already died. Kept across
    ``exec`` (of bwrap, of a kernel). A process whose parent has died belongs to another (init), so the parent is
    named, never read from ``getppid()`` afterwards."""
    import ctypes
    return ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0 \
        and os.getppid() == parent


def main(argv):
    # the kernel, bwrap and the launcher die with the grading process, whenever it dies (a shard killed by its
    # scheduler): bwrap's own --die-with-parent holds only from a point in its start, and a kernel never asks
    if not tied_to(int(os.environ.get(GRADER_ENV) or os.getppid())):
        sys.exit("the grading process that started this kernel is gone")
    connection_file = os.path.abspath(argv[argv.index("-f") + 1])
    rest = [a for i, a in enumerate(argv) if a != "-f" and (i == 0 or argv[i - 1] != "-f")]
    mode = os.environ.get("BATCHNORM_SANDBOX", "bwrap")
    memory = int(os.environ.get("BATCHNORM_KERNEL_MEMORY", "0"))
    socket_path = os.environ[SOCKET_ENV]
    kernel_dir = os.path.dirname(connection_file)
    cwd = os.getcwd()
    venv_bin = os.path.join(_environment_prefix(), "bin")
    # parent_handle=1: the kernel's parent is its sandbox's init (or the grader), so ipykernel neither polls for it
    # nor prints its banner for terminal-started kernels once per graded notebook
    kernel = [os.path.join(venv_bin, "python"), "-c", KERNEL_MAIN, "-f", connection_file,
              "--HistoryManager.hist_file=:memory:", "--IPKernelApp.parent_handle=1", *rest]

    if memory > 0:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if mode != "bwrap":
        env = kernel_env(mode, venv_bin, socket_path, kernel_dir)
        mpl = _matplotlib_config(kernel_dir, None)
        if mpl:
            env["MPLCONFIGDIR"] = mpl
        os.execve(kernel[0], kernel, env)

    _check_workdir(cwd)
    uid = None
    if os.geteuid() == 0:
        # a user of its own per grading process: the process limit counts only this kernel's tasks
        uid = SANDBOX_UID_BASE + os.getppid() % 30000
        for path in (kernel_dir, connection_file):
            os.chown(path, uid, uid)
        tasks = PROCESS_LIMIT
    else:
        tasks = _user_tasks(os.getuid()) + PROCESS_LIMIT
    resource.setrlimit(resource.RLIMIT_NPROC, (tasks, tasks))
    env = kernel_env(mode, venv_bin, socket_path, "/tmp")
    mpl = _matplotlib_config(kernel_dir, uid)
    if mpl:
        env["MPLCONFIGDIR"] = mpl
    work = working_copy(cwd, kernel_dir, uid)
    zygote = os.environ.get(ZYGOTE_ENV)
    if zygote and uid is not None:
        limits = {"RLIMIT_AS": memory, "RLIMIT_FSIZE": FILE_SIZE_LIMIT, "RLIMIT_CORE": 0, "RLIMIT_NPROC": tasks}
        request = {"args": kernel[3:], "env": env, "cwd": cwd, "uid": uid,
                   "limits": {k: v for k, v in limits.items() if k != "RLIMIT_AS" or v > 0}}
        status = _forked_kernel(zygote, request, cwd, work, kernel_dir, os.path.dirname(socket_path), uid)
        if status is not NO_ZYGOTE:
            sys.exit(status)
    args = bwrap_command(kernel, env, cwd, kernel_dir, os.path.dirname(socket_path), uid, work)
    # bwrap and its init keep the grader's stderr, for what bwrap says of a sandbox that did not start, only where
    # they are root's processes (a grader running as root): a kernel of the same user could copy it (pidfd_getfd)
    quiet = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1) if uid is not None else (0, 1, 2):
        os.dup2(quiet, fd)
    os.execvp(args[0], args)


def _forked_kernel(zygote, request, cwd, work, kernel_dir, socket_dir, uid):
    """The sandbox with a placeholder inside, the kernel forked into it by the zygote; bwrap's exit status, or
    ``NO_ZYGOTE`` when the zygote cannot be reached (it died; one serves a whole grading run): then the kernel is
    started in the sandbox as without a zygote, and only this notebook pays for it.

    This process stays the kernel's process for jupyter_client: killing it kills bwrap (``--die-with-parent``,
    and before bwrap gets there, ``tied_to``), and with bwrap everything in the sandbox.
    """
    import json
    import socket
    launcher = os.getpid()
    status_r, status_w = os.pipe()
    ready_r, ready_w = os.pipe()
    # the placeholder says "ready" once bwrap has built the sandbox (mounts, root, user), then waits to be killed,
    # holding none of the grader's descriptors: it runs as the kernel's user, who could copy them (pidfd_getfd)
    placeholder = ["/bin/sh", "-c",
                   f"echo ready >&{ready_w}; exec sleep infinity {ready_w}>&- </dev/null >/dev/null 2>&1"]
    args = bwrap_command(placeholder, {"PATH": "/usr/bin:/bin"}, cwd, kernel_dir, socket_dir, uid, work)
    args[1:1] = ["--json-status-fd", str(status_w)]
    bwrap = subprocess.Popen(args, pass_fds=(status_w, ready_w), stdin=subprocess.DEVNULL,
                             preexec_fn=lambda: tied_to(launcher) or os._exit(1))
    os.close(status_w)
    os.close(ready_w)
    with os.fdopen(status_r) as status, os.fdopen(ready_r) as ready:
        started = json.loads(status.readline() or "{}")
        if "child-pid" not in started or ready.readline().strip() != "ready":
            bwrap.kill()
            return f"the sandbox did not start (bwrap exit status {bwrap.wait()})"
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            try:
                conn.connect(zygote)
            except OSError:
                bwrap.kill()
                bwrap.wait()
                return NO_ZYGOTE
            request["holder"] = started["child-pid"]
            socket.send_fds(conn, [json.dumps(request).encode()], [0, 1, 2])
            conn.shutdown(socket.SHUT_WR)
            if conn.makefile().readline().strip() != "started":
                bwrap.kill()
                return "the zygote did not start the kernel"
        return bwrap.wait()


if __name__ == "__main__":
    main(sys.argv[1:])
