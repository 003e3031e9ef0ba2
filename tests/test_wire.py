"""The wire format between kernel and verdict process: plain data only, whatever the kernel sends."""
import json
import pickle
import socket
import struct

import numpy as np
import pytest

from autograder import wire


def no_objects(obj):
    raise AssertionError(f"not plain data: {obj!r}")


def no_refs(kind, ident, type_name):
    raise wire.ProtocolError("no references here")


def round_trip(tree, other=no_objects, ref=no_refs):
    a, b = socket.socketpair()
    with a, b:
        wire.send(a, tree, other)
        return wire.recv(b, ref)


def raw_frame(tree, buffers=()):
    header = json.dumps({"tree": tree, "sizes": [len(x) for x in buffers]}).encode()
    return struct.pack("!II", len(header), sum(len(x) for x in buffers)) + header + b"".join(buffers)


def receive_raw(frame):
    a, b = socket.socketpair()
    with a, b:
        a.sendall(frame)
        a.shutdown(socket.SHUT_WR)
        return wire.recv(b, no_refs)


def test_plain_data_round_trips_with_types_shapes_and_read_only_flags():
    ro = np.arange(6.0).reshape(2, 3)
    ro.flags.writeable = False
    tree = {"a": (1, 2.5, True, None, "s"), "b": [np.float32(1.5), np.int64(7)],
            "arrays": (np.zeros((0, 3)), ro, np.asfortranarray(np.arange(12).reshape(3, 4)), np.array(3.0))}
    got = round_trip(tree)
    assert got["a"] == (1, 2.5, True, None, "s") and type(got["a"]) is tuple
    assert type(got["b"][0]) is np.float32 and type(got["b"][1]) is np.int64
    for sent, back in zip(tree["arrays"], got["arrays"]):
        assert type(back) is np.ndarray and back.dtype == sent.dtype and back.shape == sent.shape
        np.testing.assert_array_equal(back, sent)
    assert not got["arrays"][1].flags.writeable and got["arrays"][0].flags.writeable


def test_what_is_not_plain_data_goes_through_the_owner_callback():
    class Layer:
        pass
    layer = Layer()
    seen = []
    got = round_trip((layer, [layer]), other=lambda o: seen.append(o) or {"$r": 0, "type": "Layer"},
                     ref=lambda kind, ident, name: (kind, ident, name))
    assert got == (("$r", 0, "Layer"), [("$r", 0, "Layer")]) and seen == [layer, layer]


@pytest.mark.parametrize("value", [np.array([object()], dtype=object), np.ma.masked_array([1.0]),
                                   np.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f8")]), 1 + 2j, b"bytes",
                                   {1: "non-string key"}])
def test_objects_that_are_not_plain_data_are_never_encoded_as_data(value):
    with pytest.raises(AssertionError, match="not plain data"):
        wire.dumps(value, no_objects)


@pytest.mark.parametrize("dtype", ["|O", "O", "|V8", "[('a', 'O')]", "<M8[s]", "<c16", "|S4", 12, "f" * 40])
def test_arrays_of_objects_or_other_dtypes_are_refused_before_anything_is_built(dtype):
    class Boom:
        def __reduce__(self):
            return (exec, ("raise SystemExit('unpickled!')",))
    data = pickle.dumps(np.array([Boom()], dtype=object))
    with pytest.raises(wire.ProtocolError, match="dtype"):
        receive_raw(raw_frame({"$a": 0, "dtype": dtype, "shape": [1]}, [data]))


@pytest.mark.parametrize("shape", [[10 ** 12], [3], [-1, 8], "8", [2.0, 4], [1] * 33])
def test_an_array_whose_shape_lies_about_its_data_is_refused_without_allocating(shape):
    with pytest.raises(wire.ProtocolError, match="shape"):
        receive_raw(raw_frame({"$a": 0, "dtype": "<f8", "shape": shape}, [b"\0" * 64]))


@pytest.mark.parametrize("tree", [{"$x": 1}, {"$a": 5}, {"$d": [[1, 2]]}, {"$t": 3},
                                  {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5}, {"$r": "0"}])
def test_malformed_trees_are_refused(tree):
    with pytest.raises(wire.ProtocolError):
        receive_raw(raw_frame(tree))


def test_deep_nesting_huge_headers_and_truncated_frames_are_refused():
    deep = ('{"tree": ' + "[" * 5000 + "]" * 5000 + ', "sizes": []}').encode()
    with pytest.raises(wire.ProtocolError, match="nested|malformed"):
        receive_raw(struct.pack("!II", len(deep), 0) + deep)
    with pytest.raises(wire.ProtocolError, match="nested"):
        receive_raw(raw_frame(eval("[" * 100 + "]" * 100)))
    with pytest.raises(wire.ProtocolError, match="too large"):
        receive_raw(struct.pack("!II", wire.MAX_FRAME, 1))
    with pytest.raises(wire.Closed):
        receive_raw(raw_frame([1, 2, 3])[:-2])
    with pytest.raises(wire.ProtocolError):
        receive_raw(struct.pack("!II", 5, 0) + b"nope!")
    with pytest.raises(wire.ProtocolError, match="add up"):
        receive_raw(raw_frame([1], [b"1234"])[:4] + struct.pack("!I", 5) + raw_frame([1], [b"1234"])[8:] + b"x")


def test_the_kernel_end_sends_its_watched_inputs_back_and_a_change_or_a_missing_report_is_seen():
    """Read-only arrays reach the watching end writeable; its replies carry them back as they are, and the sender
    compares them byte for byte with what it sent."""
    class Watching(wire.Peer):
        WATCHES = True

    a, b = socket.socketpair()
    with a, b:
        grader, kernel = wire.Peer(a), Watching(b)
        x = np.arange(6.0).reshape(2, 3)
        x.flags.writeable = False
        grader.send({"op": "call", "args": [x, np.ones(2)]})
        got = kernel.receive()["args"][0]
        assert got.flags.writeable and [w is got for w in kernel.watched] == [True]
        assert not grader.changed_inputs({"op": "return", "watched": list(kernel.watched)})
        got[0, 0] = 7.0
        assert grader.changed_inputs({"op": "return", "watched": list(kernel.watched)})
        assert grader.changed_inputs({"op": "return"})
        assert grader.changed_inputs({"op": "return", "watched": [x.astype(np.float32)]})
