"""The plain-data wire format between a student's kernel and the grader's verdict process.

Why a small protocol over a Unix socket and not an RPC library: what may cross is
tiny (numpy arrays, numbers, strings, and tuples/lists/dicts of those), and the
grader must never unpickle, execute or call a method of anything the kernel sends.
RPC libraries with object proxies (rpyc's netrefs, Pyro) route comparisons and
attribute reads through the remote object, and fall back to pickle for values;
both are exactly what a hostile kernel needs. Here a message is a JSON tree whose
arrays travel as raw buffers described by a dtype string and a shape, checked
before use (bool, integer and float dtypes only: never object arrays, so nothing is
ever unpickled), so the decoder can only ever build built-in types and plain arrays.

A frame is ``u32 header length | u32 body length | JSON header | body``; the header
is ``{"tree": ..., "sizes": [...]}`` and the body the buffers, one after another. In
the tree, a tuple is ``{"$t": [...]}``, a dict ``{"$d": [[key, value], ...]}``
(string keys), an array ``{"$a": i, "dtype": "<f8", "shape": [...], "ro": bool}``
(buffer ``i``; ``ro``: an input the sender's code must leave unchanged, see below), a numpy
scalar the same with ``"$s"``, and an object that stays on the side that owns it
``{"$r": id, "type": name}`` (kernel object) or ``{"$p": id, "type": name}``
(verdict-process object).

A read-only array the verdict process sends is an input that the student's code must not
change. The kernel cannot be trusted to keep it read-only (its code may unlock the flag,
copy it writeable only when it is read-only, or write through ``ctypes``), so it gets a
plain writeable array instead and is *watched*: every reply the kernel sends carries each
watched array it has received so far, as it is then, and the verdict process compares
them byte for byte with what it sent. Whatever route wrote into an input during a call,
the verdict process sees the change (``Peer.changed_inputs``). The arrays themselves go
back, not a digest: no hash function of the kernel's, which its code could replace, takes
part.
"""
import itertools
import json
import math
import struct

import numpy as np

MAX_FRAME = 256 * 2 ** 20      # bytes in one message
PLAIN_KINDS = "biuf"           # array dtypes that may cross: bool, ints, floats
_HEADER = struct.Struct("!II")


class ProtocolError(Exception):
    """The other side sent something that is not a well-formed message of plain data."""


class Closed(ProtocolError):
    """The other side closed the connection."""


# --- encoding -------------------------------------------------------------------

def _is_number(value):
    return type(value) in (bool, int, float)


def encode(tree, other, watched=None):
    """Encode ``tree`` to (json-able tree, buffers); ``other(obj)`` encodes what is not plain data.

    watched: a list that receives (dtype, shape, bytes) of every read-only array, in the order the receiver decodes
    them.
    """
    buffers = []

    def array(a, key):
        a = np.asarray(a)
        buffers.append(a.tobytes(order="C"))
        ro = not a.flags.writeable
        if ro and key == "$a" and watched is not None:
            watched.append((a.dtype.str, a.shape, buffers[-1]))
        return {key: len(buffers) - 1, "dtype": a.dtype.str, "shape": list(a.shape), "ro": ro}

    def walk(v, depth):
        if depth > 50:
            raise ProtocolError("data nested more than 50 levels deep")
        if v is None or type(v) is str or _is_number(v):
            return v
        if type(v) is np.ndarray and v.dtype.kind in PLAIN_KINDS and not v.dtype.fields:
            return array(v, "$a")
        if isinstance(v, np.generic) and type(v).__module__ == "numpy" and v.dtype.kind in PLAIN_KINDS:
            return array(np.asarray(v), "$s")
        if type(v) is tuple:
            return {"$t": [walk(x, depth + 1) for x in v]}
        if type(v) is list:
            return [walk(x, depth + 1) for x in v]
        if type(v) is dict and all(type(k) is str for k in v):
            return {"$d": [[k, walk(x, depth + 1)] for k, x in v.items()]}
        return other(v)

    return walk(tree, 0), buffers


def dumps(tree, other, watched=None):
    """One frame (bytes) carrying ``tree`` (``watched``: see ``encode``)."""
    encoded, buffers = encode(tree, other, watched)
    header = json.dumps({"tree": encoded, "sizes": [len(b) for b in buffers]}, allow_nan=True).encode()
    frame = b"".join([_HEADER.pack(len(header), sum(len(b) for b in buffers)), header, *buffers])
    if len(frame) > MAX_FRAME:
        raise ProtocolError(f"message of {len(frame)} bytes is larger than {MAX_FRAME}")
    return frame


# --- decoding -------------------------------------------------------------------

def _read_array(buf, dtype, shape):
    """An array from raw bytes, its dtype and shape checked against them before anything is built."""
    try:
        dtype = np.dtype(dtype) if type(dtype) is str and len(dtype) <= 8 else None
    except TypeError:
        dtype = None
    if dtype is None or dtype.kind not in PLAIN_KINDS or dtype.fields or dtype.hasobject:
        raise ProtocolError("arrays of that dtype are not accepted")
    if type(shape) is not list or len(shape) > 32 or not all(type(n) is int and n >= 0 for n in shape):
        raise ProtocolError("bad array shape")
    if math.prod(shape) * dtype.itemsize != len(buf):
        raise ProtocolError("array data does not match its shape")
    return np.frombuffer(buf, dtype=dtype).reshape(shape).copy()


def decode(tree, buffers, ref, watch=None):
    """Rebuild plain data; ``ref(kind, id, type_name)`` turns ``$r``/``$p`` markers into objects.

    watch: None keeps read-only arrays read-only; else a read-only array arrives writeable and is passed to
    ``watch`` (the kernel's end: see the module's docstring).
    """
    def array(v, key):
        i = v[key]
        if type(i) is not int or not 0 <= i < len(buffers):
            raise ProtocolError("bad array reference")
        return _read_array(buffers[i], v.get("dtype"), v.get("shape"))

    def walk(v, depth):
        if depth > 60:
            raise ProtocolError("data nested too deep")
        if v is None or type(v) in (bool, int, float, str):
            return v
        if type(v) is list:
            return [walk(x, depth + 1) for x in v]
        if type(v) is not dict or not 1 <= len(v) <= 4:
            raise ProtocolError("malformed message")
        if "$t" in v and type(v["$t"]) is list:
            return tuple(walk(x, depth + 1) for x in v["$t"])
        if "$d" in v and type(v["$d"]) is list:
            out = {}
            for pair in v["$d"]:
                if type(pair) is not list or len(pair) != 2 or type(pair[0]) is not str:
                    raise ProtocolError("malformed dict")
                out[pair[0]] = walk(pair[1], depth + 1)
            return out
        if "$a" in v:
            a = array(v, "$a")
            if v.get("ro") and watch is not None:
                watch(a)
            else:
                a.flags.writeable = not v.get("ro")
            return a
        if "$s" in v:
            a = array(v, "$s")
            if a.ndim != 0:
                raise ProtocolError("a scalar must be a 0-d array")
            return a[()]
        for kind in ("$r", "$p"):
            if kind in v and type(v[kind]) is int:
                return ref(kind, v[kind], str(v.get("type", "object"))[:80])
        raise ProtocolError("malformed message")

    return walk(tree, 0)


def _recv_exactly(sock, n):
    chunks, left = [], n
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            raise Closed("the connection was closed")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def recv(sock, ref, watch=None):
    """Read one frame from ``sock`` and decode it (see ``decode``)."""
    size, body_size = _HEADER.unpack(_recv_exactly(sock, _HEADER.size))
    if size + body_size > MAX_FRAME:
        raise ProtocolError("message too large")
    data = _recv_exactly(sock, size + body_size)
    try:
        header = json.loads(data[:size])
        sizes = header["sizes"]
        if type(sizes) is not list or not all(type(s) is int and s >= 0 for s in sizes):
            raise ProtocolError("bad buffer sizes")
    except (ValueError, KeyError, TypeError, RecursionError) as err:
        raise ProtocolError(f"malformed message header ({type(err).__name__})") from None
    if sum(sizes) != body_size:
        raise ProtocolError("buffer sizes do not add up")
    offsets = list(itertools.accumulate(sizes, initial=size))
    buffers = [data[start:end] for start, end in zip(offsets, offsets[1:])]
    try:
        return decode(header.get("tree"), buffers, ref, watch)
    except RecursionError:
        raise ProtocolError("data nested too deep") from None


def send(sock, tree, other):
    sock.sendall(dumps(tree, other))


class Peer:
    """One end of a lockstep conversation on a socket, in which requests may nest.

    While waiting for the reply to its own request, a peer serves the other side's
    requests (``call``, ``getattr``, ``setattr``): a student's function may call a
    method of an object that lives in the verdict process, and the reverse.
    Subclasses say how their objects are referred to (``other``, ``resolve``) and
    how a request is served (``serve``, returning the reply message). The end with
    ``WATCHES`` (the kernel's) receives read-only arrays as watched inputs, and every
    reply it sends carries them back as they are (see the module's docstring).
    """
    REQUESTS = ("call", "getattr", "setattr")
    WATCHES = False

    def __init__(self, sock):
        self.sock = sock
        self.sent = []      # (dtype, shape, bytes) of the read-only arrays sent, in order: what must come back
        self.watched = []   # read-only arrays received (WATCHES only), in order

    def other(self, obj):
        raise NotImplementedError

    def resolve(self, kind, ident, type_name):
        raise NotImplementedError

    def serve(self, message):
        raise NotImplementedError

    def frame(self, message):
        """``message`` as one frame; its read-only arrays join ``sent`` once it is made."""
        watched = []
        data = dumps(message, self.other, watched)
        self.sent += watched
        return data

    def send(self, message):
        self.sock.sendall(self.frame(message))

    def receive(self):
        message = recv(self.sock, self.resolve, self.watched.append if self.WATCHES else None)
        if type(message) is not dict or type(message.get("op")) is not str:
            raise ProtocolError("a message must be a dict with an 'op'")
        return message

    def changed_inputs(self, reply):
        """Whether the other end's ``reply`` reports inputs that differ from what this end sent (or none at all)."""
        back = reply.get("watched", [])
        return type(back) is not list or len(back) != len(self.sent) or any(
            type(a) is not np.ndarray or (a.dtype.str, a.shape, a.tobytes()) != sent for a, sent in zip(back, self.sent))

    def request(self, message):
        """Send ``message``; serve nested requests until a message that is not a request arrives."""
        self.send(message)
        while True:
            reply = self.receive()
            if reply["op"] not in self.REQUESTS:
                return reply
            answer = self.serve(reply)
            if self.WATCHES:  # as they are after the student's code has run
                answer["watched"] = list(self.watched)
            try:
                frame = self.frame(answer)
            except ProtocolError as err:  # e.g. a result nested too deep: say so instead of going silent
                frame = self.frame({"op": "raise", "type": "TypeError", "message": str(err),
                                    "watched": answer.get("watched", [])})
            self.sock.sendall(frame)
