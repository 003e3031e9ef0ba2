"""Verdicts made outside the student's process, and grades that need one.

The grading process (an nbgrader autograde, in the pipeline a worker) runs a
``VerdictServer`` while it executes a notebook: a thread serving a Unix socket
that only the kernel being graded can reach. A hidden test cell's
``check(grade_id, ...)`` (``autograder.client``) connects and hands over references
to the student's objects; the server runs the check of ``autograder.oracle`` here,
in the grading process, with ``Handle`` stand-ins that ask the kernel to call,
read or set things and get plain data back (``autograder.wire``).

The server records a verdict only for the cell that nbgrader is executing at that
moment (``VerdictExecute`` tells it; the kernel's word is never used), only for the
check named by that cell's ``grade_id``, and at most once per cell. ``ApplyVerdicts``
then gives 0 to every test cell that nbgrader would have scored without a recorded
pass, with an error output that says why (listed for the instructor by the pipeline).
"""
import atexit
import builtins
import inspect
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from queue import Empty

import nbformat
import numpy as np
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.kernelspec import KernelSpecManager
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from nbgrader.utils import determine_grade
from traitlets import Bool, Enum, Integer, Unicode

from .. import wire
from . import sandbox, scratch, zygote
from .notebooks import is_graded

KERNEL = "batchnorm-graded"
NOT_RUN = "HiddenCheckNotRun"
FAILED = "HiddenCheckFailed"
KERNEL_DIED = "KernelDied"
NOT_RUN_AFTER_STOP = "CellNotRun"  # a cell after the one in which the kernel died or stayed stuck
RESOURCE = "batchnorm_verdicts"
NOT_RUN_AFTER_LAST = ("(not run while grading: no graded cell comes after this one, so neither it nor the cells "
                      "below can change your score)\n")


# --- the student's objects, seen from here ----------------------------------------

class StudentRaised(Exception):
    """The student's code raised while a hidden check called it (type and message as the kernel said)."""

    def __init__(self, call, type_name, message):
        super().__init__(f"{call} raised {type_name}: {message}")
        self.type_name, self.message = type_name, message  # message: the student's exception's own words


class ChangedInput(StudentRaised, ValueError):
    """A call of the student's code returned with an input it was given read-only changed (``wire``: watched).

    A ValueError that says "read-only", as numpy's error for an in-place write is: ``bn_helpers.call`` names the
    mistake the same way for both."""

    def __init__(self, call):
        self.message = "a read-only input had changed when the call returned"
        Exception.__init__(self, f"{call}: {self.message}")
        self.type_name = "ValueError"


_RAISED = {}


def _raised_class(type_name):
    """A StudentRaised that is also the built-in exception of that name, so checks can catch ValueError."""
    base = getattr(builtins, type_name, None)
    if not (isinstance(base, type) and issubclass(base, Exception)) or base.__name__.endswith("Warning") \
            or issubclass(base, (OSError, UnicodeError, AssertionError)):
        return StudentRaised
    if type_name not in _RAISED:
        _RAISED[type_name] = type(f"Student{type_name}", (StudentRaised, base), {})
    return _RAISED[type_name]


def describe(value, depth=0):
    """A short description of an argument for messages: arrays by shape and dtype."""
    if isinstance(value, Handle):
        return value.__name__
    if isinstance(value, np.ndarray):
        ro = ", read-only" if not value.flags.writeable else ""
        return f"array of shape {value.shape} ({value.dtype}{ro})"
    if isinstance(value, (tuple, list)) and depth < 2:
        inner = ", ".join(describe(v, depth + 1) for v in value[:4]) + (", ..." if len(value) > 4 else "")
        return f"({inner})" if isinstance(value, tuple) else f"[{inner}]"
    if isinstance(value, dict) and depth < 2:
        return "{" + ", ".join(f"{k!r}: {describe(v, depth + 1)}" for k, v in list(value.items())[:4]) + "}"
    text = repr(value) if value is None or isinstance(value, (bool, int, float, str, np.generic)) \
        else type(value).__name__
    return text if len(text) <= 40 else text[:37] + "..."


def describe_call(name, args, kwargs):
    parts = [describe(a) for a in args] + [f"{k}={describe(v)}" for k, v in kwargs.items()]
    return f"{name}({', '.join(parts)})"


class Handle:
    """A student's object that stays in the kernel (a function, a class, a layer, a cache).

    Calls, attribute reads and writes become requests to the kernel, answered with
    plain data. Nothing else about it is ever asked of the kernel: comparisons,
    hashing and copying use this stand-in, and asking for it as an array or a
    number fails with a message that says what the student's code returned.
    """

    def __init__(self, peer, ident, name, origin):
        for key, value in [("_peer", peer), ("_id", ident), ("__name__", name), ("_origin", origin)]:
            object.__setattr__(self, key, value)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return self._peer.ask({"op": "getattr", "target": self, "name": name}, f"{self.__name__}.{name}")

    def __setattr__(self, name, value):
        self._peer.ask({"op": "setattr", "target": self, "name": name, "value": value},
                       f"setting {self.__name__}.{name}")

    def __call__(self, *args, **kwargs):
        return self._peer.ask({"op": "call", "target": self, "args": list(args), "kwargs": kwargs},
                              describe_call(self.__name__, args, kwargs))

    def _not(self, expected):
        return AssertionError(f"{self._origin} returned a {self.__name__}; expected {expected}")

    def __array__(self, *args, **kwargs):
        raise self._not("a numpy array")

    def __iter__(self):
        raise self._not("a tuple or list")

    def __float__(self):
        raise self._not("a number")

    __int__ = __index__ = __float__

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    def __repr__(self):
        return f"a {self.__name__} (returned by {self._origin})"


class _Own:
    """An object of this process lent to the student's code (a reference layer in a network)."""

    def __init__(self, obj, bound=False):
        self.obj, self.bound = obj, bound


_NOT_LENT = object()  # what a reference to an object the grader never lent resolves to


def _public(name):
    if type(name) is not str or not name.isidentifier() or name.startswith("_"):
        raise AttributeError(f"{name!r} is not available: only public attributes of the grader's objects are")
    return name


class VerdictPeer(wire.Peer):
    """The verdict process's end of one hidden check."""

    def __init__(self, sock):
        super().__init__(sock)
        self.handles = {}
        self.own = []          # lent objects, by index
        self.own_ids = {}
        self.context = "the notebook"

    def other(self, obj):
        if isinstance(obj, Handle):
            if obj._peer is not self:
                raise wire.ProtocolError("an object of another check")
            return {"$r": obj._id}
        owner = obj.__self__ if inspect.ismethod(obj) else None
        key = ("m", id(owner), obj.__name__) if owner is not None else ("o", id(obj))
        if key not in self.own_ids:
            self.own_ids[key] = len(self.own)
            self.own.append(_Own(obj, bound=owner is not None))
        return {"$p": self.own_ids[key], "type": type(obj).__name__}

    def _lent_only(self, obj):
        """While answering the kernel: only objects already lent, and their methods, may go back."""
        owner = obj.__self__ if inspect.ismethod(obj) else obj
        if ("o", id(owner)) not in self.own_ids:
            raise TypeError(f"a {type(obj).__name__} cannot be sent to the notebook")
        return self.other(obj)

    def resolve(self, kind, ident, type_name):
        if kind == "$p":
            return self.own[ident] if 0 <= ident < len(self.own) else _NOT_LENT  # refused by serve
        if ident not in self.handles:
            self.handles[ident] = Handle(self, ident, type_name, self.context)
        return self.handles[ident]

    def ask(self, message, call):
        """Send a request about a student's object; return its value or raise what the student's code raised."""
        self.context = call
        reply = self.request(message)
        if self.changed_inputs(reply):
            raise ChangedInput(call)
        if reply["op"] == "return":
            return reply.get("value")
        if reply["op"] == "raise":
            type_name = str(reply.get("type"))[:80]
            raise _raised_class(type_name)(call, type_name, str(reply.get("message"))[:2000])
        raise wire.ProtocolError(f"unexpected message {reply['op']!r} during {call}")

    def serve(self, message):
        """The student's code uses an object lent to it: public attributes and methods only."""
        try:
            target = message.get("target")
            if not isinstance(target, _Own):
                raise TypeError("the grader's layer refused the access: only the objects the grader passed to your "
                                "code can be used, through their public attributes and methods")
            op = message["op"]
            if op == "call":
                args, kwargs = message.get("args", []), message.get("kwargs", {})
                if not target.bound or type(args) is not list or type(kwargs) is not dict:
                    raise TypeError("that object is not callable")
                value = target.obj(*args, **kwargs)
            elif op == "getattr":
                value = getattr(target.obj, _public(message.get("name")))
            else:
                setattr(target.obj, _public(message.get("name")), message.get("value"))
                value = None
            wire.encode(value, self._lent_only)
            return {"op": "return", "value": value}
        except Exception as err:
            return {"op": "raise", "type": type(err).__name__, "message": str(err)[:2000]}


def run_check(name, objects):
    """(passed, message) of the hidden check ``name`` on the student's objects."""
    from ..oracle.checks import check
    try:
        check(name, *objects)
        return True, ""
    except (AssertionError, StudentRaised) as err:
        return False, str(err) or "the hidden check failed"
    except wire.Closed:
        return False, "the notebook stopped answering the hidden check"
    except wire.ProtocolError as err:
        return False, f"the notebook sent something the grader does not accept ({err})"
    except KeyError as err:
        return False, f"the hidden check could not use what the code returned (KeyError: {err})"
    except Exception as err:
        return False, f"the hidden check could not use what the code returned ({type(err).__name__}: {err})"


# --- the server -------------------------------------------------------------------

class VerdictServer:
    """Runs hidden checks for the one kernel being graded; records a verdict per executing cell."""

    MAX_CONNECTIONS = 4

    def __init__(self, path):
        self.path = str(path)
        self.lock = threading.Lock()
        self.cell = None           # (index, grade_id) of the cell nbgrader is executing
        self.started = set()       # cell indexes whose check has started
        self.verdicts = {}         # cell index -> [(passed, message)]
        self.connections = set()
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        os.chmod(self.path, 0o666)  # the sandboxed kernel runs as another user
        self.listener.listen(8)
        self.thread = threading.Thread(target=self._accept, name="verdicts", daemon=True)
        self.thread.start()

    def begin_cell(self, index, grade_id):
        with self.lock:
            self.cell = (index, grade_id)

    def end_cell(self):
        """No verdict counts after this; checks still running are cut off."""
        with self.lock:
            self.cell = None
            connections = list(self.connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.end_cell()
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        self.thread.join(5)

    def _accept(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                full = len(self.connections) >= self.MAX_CONNECTIONS
                if not full:
                    self.connections.add(conn)
            if full:
                conn.close()
                continue
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _record(self, cell, passed, message):
        with self.lock:
            if self.cell == cell:
                self.verdicts.setdefault(cell[0], []).append((passed, message))

    def _session(self, conn):
        peer = VerdictPeer(conn)
        try:
            conn.settimeout(900)
            hello = peer.receive()
            name, objects = hello.get("name"), hello.get("objects")
            with self.lock:
                cell = self.cell
                mine = hello["op"] == "check" and type(objects) is list and cell is not None and cell[1] == name
                again = mine and cell[0] in self.started
                if mine:
                    self.started.add(cell[0])
            if not mine:
                passed, message = False, (f"the hidden check {name!r} belongs to another cell and was not run here"
                                          if cell is None or cell[1] != name else "not a hidden check request")
            elif again:
                passed, message = False, "a second hidden check ran in this cell; the cell scores 0"
                self._record(cell, passed, message)
            else:
                passed, message = run_check(name, objects)
                self._record(cell, passed, message)
            peer.send({"op": "verdict", "passed": passed, "message": message})
        except (OSError, wire.ProtocolError):
            pass
        finally:
            with self.lock:
                self.connections.discard(conn)
            conn.close()


# --- nbgrader preprocessors ---------------------------------------------------------

_MPL_TEMPLATE = None


def matplotlib_template(shared=None):
    """A matplotlib config folder with its font cache built, once per grading process.

    Each kernel gets its own copy (sandbox.py), so that kernels share nothing and none
    spends half a second rebuilding the cache in its empty home folder. ``shared``: the
    folder the process that started this one built (the pipeline's workers use their
    parent's, which outlives them), used from now on instead of building another.
    """
    global _MPL_TEMPLATE
    if shared is not None and os.path.isdir(shared):
        _MPL_TEMPLATE = shared
    if _MPL_TEMPLATE is None:
        folder = scratch.make("mpl")
        env = dict(os.environ, MPLCONFIGDIR=folder)
        subprocess.run([sys.executable, "-c", "import matplotlib.font_manager"], env=env, capture_output=True,
                       timeout=120)
        atexit.register(scratch.remove, folder)
        _MPL_TEMPLATE = folder
    return _MPL_TEMPLATE


_ZYGOTE = None


def forks_kernels(sandbox_mode):
    """Whether kernels in ``sandbox_mode`` are forked from a zygote: in the bubblewrap sandbox, by a root grader."""
    return sandbox_mode == "bwrap" and os.geteuid() == 0


def zygote_socket(shared=None):
    """The socket of this grading process's zygote (zygote.py), started on first use and again if it died.

    ``shared``: the socket of the zygote of the process that started this one (the pipeline's workers use their
    parent's, which outlives them), used from now on instead of starting another.
    """
    global _ZYGOTE
    if shared is not None and os.path.exists(shared):
        _ZYGOTE = {"process": None, "path": shared}
    if _ZYGOTE is None or _ZYGOTE["process"] is not None and _ZYGOTE["process"].poll() is not None:
        folder = scratch.make("z")
        path = os.path.join(folder, "zygote.sock")
        venv_bin = os.path.join(sandbox._environment_prefix(), "bin")
        env = sandbox.kernel_env("bwrap", venv_bin, "", "/tmp")
        # what a kernel's environment has when it imports matplotlib: the font cache, ipykernel's default backend
        env.update(MPLCONFIGDIR=matplotlib_template(), MPLBACKEND="module://matplotlib_inline.backend_inline")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:  # handed over: the zygote never sees path
            server.bind(path)
            server.listen(64)
            process = subprocess.Popen([os.path.join(venv_bin, "python"), zygote.__file__, str(server.fileno())],
                                       cwd="/", env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                       pass_fds=(server.fileno(),))
        if process.stdout.readline().strip() != b"ready":
            process.kill()
            raise RuntimeError("the kernels' zygote did not start")

        def stop(process=process, folder=folder):
            process.kill()
            process.wait()
            scratch.remove(folder)
        atexit.register(stop)
        _ZYGOTE = {"process": process, "path": path}
    return _ZYGOTE["path"]


class PromptKernelClient(AsyncKernelClient):
    """jupyter_client's client for a graded kernel, ready as soon as the kernel has answered ``kernel_info`` and the
    request's idle status has come in on iopub (so iopub is connected, and the request's messages are all in).

    jupyter_client's own ``wait_for_ready`` then waits for 0.2 s of silence on iopub: a fifth of a second of every
    notebook's time, during which the grader does nothing. A message left over from before the first cell would do no
    harm either way: nbclient keeps only the messages whose parent is the cell it runs.
    """

    async def wait_for_ready(self, timeout=None):
        deadline = time.monotonic() + (float("inf") if timeout is None else timeout)
        while True:
            msg_id = self.kernel_info()
            try:
                reply = await self._async_recv_reply(msg_id, timeout=1)
            except TimeoutError:
                reply = None
            if reply is not None and await self._iopub_idle(msg_id, timeout=0.5):
                self._handle_kernel_info_reply(reply)
                return
            if not await self._async_is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kernel didn't respond in {timeout} seconds")

    async def _iopub_idle(self, msg_id, timeout):
        """Whether the idle status of request ``msg_id`` arrives on iopub within ``timeout`` seconds."""
        end = time.monotonic() + timeout
        while (left := end - time.monotonic()) > 0:
            try:
                msg = await self._async_get_iopub_msg(timeout=left)
            except Empty:
                return False
            if (msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "status"
                    and msg["content"].get("execution_state") == "idle"):
                return True
        return False


class VerdictExecute(Execute):
    """nbgrader's Execute, with a verdict server for the notebook and the kernel in the sandbox."""

    sandbox = Enum(["bwrap", "none"], "bwrap", help="bwrap: the kernel in a bubblewrap sandbox").tag(config=True)
    memory_limit = Integer(2 * 2 ** 30, help="bytes of address space of the kernel").tag(config=True)
    # the kernel's outputs are all in once its last cell is done: killed, not asked to stop and waited for
    shutdown_kernel = Enum(["graceful", "immediate"], "immediate").tag(config=True)
    stop_after_last_graded = Bool(True, help="leave the code cells after the last graded cell unrun: "
                                             "no score depends on them").tag(config=True)
    zygote = Bool(True, help="fork sandboxed kernels from a process that has imported ipykernel, numpy and "
                             "matplotlib (zygote.py; only where the grader runs as root)").tag(config=True)
    run_parent = Unicode("", help="the folder in which each notebook's own folder (kernel connection, verdict "
                                  "socket) is made; empty: /tmp").tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        graded = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and is_graded(c)]
        self._last_graded = graded[-1] if graded and self.stop_after_last_graded else len(nb.cells)
        self._stopped = None  # why the cells from here on cannot run: the kernel died, or is stuck in a cell
        self._run = Path(scratch.make("run", under=self.run_parent or None))
        for sub in ("k", "v", "spec"):
            (self._run / sub).mkdir()
        os.chmod(self._run / "v", 0o755)
        self._server = VerdictServer(self._run / "v" / "verdict.sock")
        resources = resources if resources is not None else {}
        resources[RESOURCE] = self._server.verdicts
        try:
            return super().preprocess(nb, resources, km)
        finally:
            self._server.close()
            scratch.remove(self._run)

    def forks_kernels(self):
        return self.zygote and forks_kernels(self.sandbox)

    def create_kernel_manager(self):
        spec = self._run / "spec" / KERNEL
        spec.mkdir()
        (spec / "kernel.json").write_text(json.dumps({
            "argv": [sys.executable, "-I", "-S", sandbox.__file__, "-f", "{connection_file}"],
            "display_name": "Python 3 (graded)", "language": "python", "interrupt_mode": "message",
            "env": sandbox.launcher_env(self.sandbox, self.memory_limit, self._server.path, matplotlib_template(),
                                        zygote_socket() if self.forks_kernels() else None),
        }))
        self.kernel_name = KERNEL
        km = super().create_kernel_manager()
        km.kernel_spec_manager = KernelSpecManager(kernel_dirs=[str(self._run / "spec")])
        km.client_factory = PromptKernelClient
        # Unix sockets in a folder the sandbox shares: the kernel has no network, and kernels
        # started at the same moment never collide on a port
        km.transport = "ipc"
        km.ip = str(self._run / "k" / "ipc")
        km.connection_file = str(self._run / "k" / "kernel.json")
        return km

    def preprocess_cell(self, cell, resources, index):
        if index > self._last_graded and cell.cell_type == "code":
            if not any(c.cell_type == "code" for c in self.nb.cells[self._last_graded + 1:index]):
                cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=NOT_RUN_AFTER_LAST)]
            return cell, resources
        if self._stopped is not None:
            if cell.cell_type == "code":
                text = f"not run: {self._stopped}; this cell scores 0"
                cell.outputs = [_error(NOT_RUN_AFTER_STOP, text)] if is_graded(cell) else []
            return cell, resources
        meta = cell.metadata.get("nbgrader", {})
        self._server.begin_cell(index, meta.get("grade_id") if meta.get("grade") else None)
        # like a cell past its time limit, a kernel that dies or stays stuck in a cell costs that cell and the graded
        # cells it leaves unrun, nothing above it
        try:
            return super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            name = cell_name(self.nb, index)
            self._stopped = f"the kernel died in {name}, above"
            cell.outputs.append(_error(KERNEL_DIED, (
                f"the kernel died while {name} ran (os._exit, a crash in compiled code, or out of memory): this cell "
                "and the graded cells after it score 0; the cells above keep their points")))
            return cell, resources
        except CellTimeoutError:  # interrupted at its time limit, the kernel never went idle: it is still in the cell
            name = cell_name(self.nb, index)
            self._stopped = f"the kernel was still running {name}, above, past its time limit"
            cell.outputs.append(_error("CellTimeoutError", (
                f"{name} ran past the time limit of {self.timeout} s and did not stop when interrupted: this cell and "
                "the graded cells after it score 0; the cells above keep their points")))
            return cell, resources
        finally:
            self._server.end_cell()


def cell_name(nb, index):
    """A code cell as messages name it: its grade id, or its place among the notebook's code cells."""
    cell = nb.cells[index]
    gid = cell.metadata.get("nbgrader", {}).get("grade_id")
    if gid:
        return f"cell {gid!r}"
    return f"code cell {sum(c.cell_type == 'code' for c in nb.cells[:index + 1])}"


def _error(ename, text):
    return nbformat.v4.new_output("error", ename=ename, evalue=text, traceback=[f"{ename}: {text}"])


class ApplyVerdicts(NbGraderPreprocessor):
    """A test cell keeps nbgrader's points only with a recorded pass.

    A cell that nbgrader would score without one gets an error output in first
    place (nbgrader scores by the first error, stderr or execute_result output).
    """

    def preprocess(self, nb, resources):
        self._verdicts = resources.get(RESOURCE)
        if self._verdicts is None:
            return nb, resources
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, index):
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("grade") or meta.get("solution"):
            return cell, resources
        verdicts = self._verdicts.get(index, [])
        if verdicts and all(passed for passed, _ in verdicts):
            return cell, resources
        # nbgrader's own rule, which reads outputs in order (a first execute_result scores before a later error)
        if not determine_grade(cell)[0]:
            return cell, resources
        if verdicts:
            ename, evalue = FAILED, next(m for passed, m in verdicts if not passed)
        else:
            ename, evalue = NOT_RUN, ("the hidden check of this cell never ran, so the cell scores 0 "
                                      "(did code change what the cell executes?)")
        cell.outputs.insert(0, nbformat.v4.new_output("error", ename=ename, evalue=evalue,
                                                      traceback=[f"{ename}: {evalue}"]))
        return cell, resources
