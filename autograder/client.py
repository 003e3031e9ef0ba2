"""The hidden tests' entry point inside a student's kernel: ``check(grade_id, *objects)``.

With ``wire``, this is all of the grader that a graded kernel contains: no
reference, no checks. While nbgrader autogrades, ``check`` connects to the verdict
process of the grading worker (the socket named by ``BATCHNORM_VERDICT_SOCKET``),
hands over the student's objects as references, and then only runs what the
verdict process asks for (call this with these arrays, read this attribute, set
that one), sending back plain data. The verdict process compares with the
reference and sends the verdict; a failure is raised here so that its message
reaches the test cell and the feedback. Whatever this kernel does to this module,
the grade rests on the verdict the grading process recorded for the cell.

Outside autograding (nbval, an instructor's own Jupyter) the checks run in this
process, which then needs the whole ``autograder`` package. During autograding,
a missing verdict process fails closed.
"""
import builtins
import os
import socket
import types
import warnings

from . import wire

SOCKET_ENV = "BATCHNORM_VERDICT_SOCKET"
IN_PROCESS_ENV = "BATCHNORM_CHECKS_IN_PROCESS"  # plain nbgrader without verdicts (the benchmark's baseline)
_CALLABLES = (types.FunctionType, types.MethodType, types.BuiltinFunctionType, type)


def check(name, *objects):
    """Run the hidden check ``name`` on the student's ``objects``; raise AssertionError when it fails.

    Warnings from the student's code while it runs are printed once each on stdout as notes, never on
    stderr: a test cell's stderr counts as a failure in nbgrader.
    """
    with warnings.catch_warnings(record=True) as caught:
        try:
            _check(name, objects)
        finally:
            for text in dict.fromkeys(map(_warning_note, caught)):
                print(text)


def _warning_note(w):
    try:
        return f"note: your code warned during a hidden test: {w.category.__name__}: {_text(w.message)[:300]}"
    except Exception:
        return "note: your code warned during a hidden test"


def _check(name, objects):
    path = os.environ.get(SOCKET_ENV)
    if path:
        return _KernelPeer.check(path, name, objects)
    if os.environ.get("NBGRADER_EXECUTION") == "autograde" and not os.environ.get(IN_PROCESS_ENV):
        raise AssertionError("the hidden check cannot reach the grader's verdict process; this test scores 0")
    from .oracle.checks import check as check_here
    check_here(name, *objects)


def label(obj):
    """What an object is called in messages: a function's or class's name, otherwise its type's."""
    try:
        if isinstance(obj, _CALLABLES):
            return str(obj.__qualname__)[-80:]
        return type(obj).__name__[:80]
    except Exception:
        return "object"


def _text(err):
    try:
        return str(err)[:2000]
    except Exception:
        return "(the exception's message could not be read)"


def _raise(reply):
    """Raise the exception a ``raise`` reply describes (a built-in type of that name, or RuntimeError)."""
    cls = getattr(builtins, str(reply.get("type")), None)
    if not (isinstance(cls, type) and issubclass(cls, Exception)):
        cls = RuntimeError
    raise cls(str(reply.get("message", "")))


def _refused(name):
    return AttributeError(f"the grader's layer refused access to {name!r}: your code may use only its public "
                          "attributes and methods")


class _Remote:
    """An object of the verdict process (a reference layer placed in the student's network).

    Attribute reads, writes and calls go back to the verdict process, which owns it. Its own internals (the
    connection, its id) are not attributes the student's code can read.
    """
    __slots__ = ("_peer", "_id", "_type")

    def __init__(self, peer, ident, type_name):
        object.__setattr__(self, "_peer", peer)
        object.__setattr__(self, "_id", ident)
        object.__setattr__(self, "_type", type_name)

    def __getattribute__(self, name):
        if name.startswith("_"):
            raise _refused(name)
        peer, ident = _internal(self, "_peer"), _internal(self, "_id")
        key = (ident, name)
        if key in peer.methods:
            return peer.methods[key]
        value = peer.ask({"op": "getattr", "target": self, "name": name})
        if type(value) is _Remote and _internal(value, "_type") == "method":
            peer.methods[key] = value  # a bound method stays the same: one round trip fewer per call
        return value

    def __setattr__(self, name, value):
        if name.startswith("_"):
            raise _refused(name)
        _internal(self, "_peer").ask({"op": "setattr", "target": self, "name": name, "value": value})

    def __delattr__(self, name):
        raise _refused(name)

    def __call__(self, *args, **kwargs):
        return _internal(self, "_peer").ask({"op": "call", "target": self, "args": list(args), "kwargs": kwargs})

    def __repr__(self):
        return f"<{_internal(self, '_type')} (grader's)>"


_internal = object.__getattribute__


class _KernelPeer(wire.Peer):
    """The kernel's end: keeps the student's objects, runs what the verdict process asks.

    The inputs the verdict process sends read-only arrive writeable and watched: each reply carries them back.
    """
    WATCHES = True

    def __init__(self, sock):
        super().__init__(sock)
        self.objects = []   # kept alive, so that ids stay unique
        self.ids = {}       # id(obj) -> index: the same object is always the same reference
        self.remotes = {}
        self.methods = {}

    @classmethod
    def check(cls, path, name, objects):
        try:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(path)
        except OSError as err:
            raise AssertionError(f"the hidden check cannot reach the grader's verdict process ({err}); "
                                 "this test scores 0") from None
        with sock:
            peer = cls(sock)
            try:
                reply = peer.request({"op": "check", "name": str(name), "objects": list(objects)})
            except (wire.ProtocolError, OSError) as err:
                raise AssertionError(f"the connection to the grader broke ({type(err).__name__}: {err}); this test "
                                     "scores 0") from None
        if reply.get("op") != "verdict":
            raise AssertionError("the grader sent an unexpected reply")
        if reply.get("passed") is not True:
            raise AssertionError(str(reply.get("message", "the hidden check failed")))

    def other(self, obj):
        if type(obj) is _Remote:
            return {"$p": _internal(obj, "_id")}
        key = id(obj)
        if key not in self.ids:
            self.ids[key] = len(self.objects)
            self.objects.append(obj)
        return {"$r": self.ids[key], "type": label(obj)}

    def resolve(self, kind, ident, type_name):
        if kind == "$r":
            if not 0 <= ident < len(self.objects):
                raise wire.ProtocolError("unknown object")
            return self.objects[ident]
        if ident not in self.remotes:
            self.remotes[ident] = _Remote(self, ident, type_name)
        return self.remotes[ident]

    def ask(self, message):
        reply = self.request(message)
        if reply["op"] == "return":
            return reply.get("value")
        if reply["op"] == "raise":
            _raise(reply)
        raise wire.ProtocolError(f"unexpected {reply['op']!r}")

    def serve(self, message):
        try:
            target, op = message.get("target"), message["op"]
            if op == "call":
                value = target(*message.get("args", ()), **message.get("kwargs", {}))
            elif op == "getattr":
                value = getattr(target, message["name"])
            else:
                setattr(target, message["name"], message.get("value"))
                value = None
            return {"op": "return", "value": value}
        except KeyboardInterrupt:
            raise
        except BaseException as err:  # the student's code raised (SystemExit included): report it
            return {"op": "raise", "type": label(err), "message": _text(err)}
