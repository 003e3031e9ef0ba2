"""Which verdicts count: the server records one per executing test cell, for that cell's check only."""
import numpy as np
import pytest

from autograder import client
from autograder.grading import sandbox
from autograder.grading.verdicts import VerdictServer


def standardize(x):
    return (x - x.mean(axis=0)) / x.std(axis=0)


def standardize_rows(x):
    return (x - x.mean(axis=1, keepdims=True)) / x.std(axis=1, keepdims=True)


class Cheque:
    """A student's object that is not data."""


@pytest.fixture
def server(tmp_path, monkeypatch):
    s = VerdictServer(tmp_path / "v.sock")
    monkeypatch.setenv(client.SOCKET_ENV, s.path)
    yield s
    s.close()


def test_a_pass_is_recorded_for_the_cell_being_executed(server):
    server.begin_cell(3, "standardize_values")
    client.check("standardize_values", standardize)
    server.end_cell()
    assert server.verdicts == {3: [(True, "")]}


def test_a_failure_reaches_the_cell_with_the_likely_mistake_and_is_recorded(server):
    server.begin_cell(3, "standardize_values")
    with pytest.raises(AssertionError, match="Likely mistake: standardised each row"):
        client.check("standardize_values", standardize_rows)
    assert server.verdicts[3][0][0] is False


def test_a_check_of_another_cell_or_between_cells_is_refused_and_not_recorded(server):
    with pytest.raises(AssertionError, match="belongs to another cell"):
        client.check("standardize_values", standardize)
    server.begin_cell(5, "channel_stats_shape")
    with pytest.raises(AssertionError, match="belongs to another cell"):
        client.check("standardize_values", standardize)
    assert server.verdicts == {}


def test_a_second_check_in_one_cell_fails_the_cell(server):
    server.begin_cell(3, "standardize_values")
    client.check("standardize_values", standardize)
    with pytest.raises(AssertionError, match="second hidden check"):
        client.check("standardize_values", standardize)
    assert [passed for passed, _ in server.verdicts[3]] == [True, False]


def test_an_exception_names_the_call_and_an_object_that_is_not_data_is_named(server):
    def raises(x):
        raise ValueError("operands could not be broadcast together")

    server.begin_cell(1, "standardize_values")
    with pytest.raises(AssertionError, match=r"<locals>.raises\(array of shape \(7, 3\) \(float64\)\) "
                                             r"raised ValueError: operands could not be broadcast"):
        client.check("standardize_values", raises)
    server.begin_cell(2, "standardize_values")
    with pytest.raises(AssertionError, match="returned a Cheque; expected a numpy array"):
        client.check("standardize_values", lambda x: Cheque())


# a student's standardize_columns that writes into its input, each by a route that gets past a read-only flag
def _in_place(x):
    x -= x.mean(axis=0)
    x /= x.std(axis=0)
    return x


def unlocks_the_flag(x):
    x.flags.writeable = True
    return _in_place(x)


def sets_flags(x):
    x.setflags(write=True)
    return _in_place(x)


def requires_writeable(x):
    return _in_place(np.require(x, requirements="W"))  # a writeable copy only when x is read-only


def writeable_strided_view(x):
    return _in_place(np.lib.stride_tricks.as_strided(x, writeable=True))


def through_ctypes(x):
    import ctypes
    view = np.ctypeslib.as_array((ctypes.c_double * x.size).from_address(x.ctypes.data)).reshape(x.shape)
    return _in_place(view)


def through_array_interface(x):
    class Writeable:
        __array_interface__ = dict(x.__array_interface__, data=(x.__array_interface__["data"][0], False))
    return _in_place(np.asarray(Writeable()))


@pytest.mark.parametrize("route", [_in_place, unlocks_the_flag, sets_flags, requires_writeable,
                                   writeable_strided_view, through_ctypes, through_array_interface],
                         ids=lambda f: f.__name__.strip("_"))
def test_a_write_into_a_read_only_input_fails_by_whatever_route(server, route):
    """The kernel gets its inputs writeable and reports what they hold after each call: in place, unlocked, copied
    writeable only when read-only, or written through another view of the memory, the same cell fails, with the
    message the in-place answer gets."""
    server.begin_cell(4, "standardize_no_mutation")
    with pytest.raises(AssertionError, match=r"^standardize_columns writes into one of its input arrays \(.*read-only"):
        client.check("standardize_no_mutation", rename(route, "standardize_columns"))
    assert [passed for passed, _ in server.verdicts[4]] == [False]
    server.begin_cell(5, "standardize_no_mutation")
    client.check("standardize_no_mutation", rename(standardize, "standardize_columns"))
    assert server.verdicts[5] == [(True, "")]


def test_another_error_on_read_only_inputs_is_not_called_a_write(server):
    """The call's description says "read-only" of its inputs; only the error's own words decide what it is named."""
    def broadcasts(x):
        raise ValueError("operands could not be broadcast together with shapes (5,3) (5,)")

    server.begin_cell(4, "standardize_no_mutation")
    with pytest.raises(AssertionError) as caught:
        client.check("standardize_no_mutation", rename(broadcasts, "standardize_columns"))
    assert "operands could not be broadcast" in str(caught.value) and "writes into" not in str(caught.value)


def rename(fn, name):
    def student(x):
        return fn(x)
    student.__name__ = student.__qualname__ = name
    return student


def test_the_visible_tests_read_only_inputs_cannot_be_unlocked_and_a_write_by_any_route_is_named():
    import bn_helpers as h
    x = h.readonly(np.arange(6.0).reshape(2, 3))
    with pytest.raises(ValueError):
        x.flags.writeable = True
    for route in (_in_place, unlocks_the_flag, sets_flags, writeable_strided_view, through_ctypes,
                  through_array_interface):
        with pytest.raises(AssertionError, match="writes into one of its input arrays"):
            h.call(route, h.readonly(np.arange(6.0).reshape(2, 3) ** 2))
    # a copy made writeable only when the input is read-only passes here; the hidden check gives it a writeable
    # input (test above)
    assert h.call(requires_writeable, h.readonly(np.arange(6.0).reshape(2, 3))).shape == (2, 3)


def _network_forward(net, x, record=None):
    """A correct network_forward (affine - BN - ReLU blocks, then affine), as lesson 5 asks."""
    import bn_helpers as h
    out, caches = x, []
    for i in range(len(net["W"]) - 1):
        out, affine = h.affine_forward(out, net["W"][i], net["b"][i])
        out = net["bn"][i].forward(out) if net["bn"] else out
        out, relu = h.relu_forward(out)
        caches.append((affine, relu))
    scores, affine = h.affine_forward(out, net["W"][-1], net["b"][-1])
    return scores, caches + [affine]


REACHES = {  # what a student's network does to the grader's layer lent to it, before the honest forward pass
    "__class__": lambda layer: layer.__class__.__init__.__globals__,
    "__globals__": lambda layer: layer.forward.__globals__,
    "__builtins__": lambda layer: layer.__builtins__,
    "_peer": lambda layer: layer._peer.sock.close(),
    "forged reference": lambda layer: type(layer)(object.__getattribute__(layer, "_peer"), 99, "BatchNorm")(),
}


@pytest.mark.parametrize("reach", sorted(REACHES))
def test_a_network_that_reaches_into_the_lent_layer_is_told_the_layer_refused(server, reach):
    def network_forward(net, x, record=None):
        if net["bn"]:
            REACHES[reach](net["bn"][0])
        return _network_forward(net, x)

    server.begin_cell(1, "net_forward")
    with pytest.raises(AssertionError, match="the grader's layer refused"):
        client.check("net_forward", network_forward)
    assert [passed for passed, _ in server.verdicts[1]] == [False]
    server.begin_cell(2, "net_forward")
    client.check("net_forward", _network_forward)
    assert server.verdicts[2] == [(True, "")]


def test_a_network_that_breaks_the_connection_fails_with_a_message(server):
    def network_forward(net, x, record=None):
        if net["bn"]:
            object.__getattribute__(net["bn"][0], "_peer").sock.close()
        return _network_forward(net, x)

    server.begin_cell(1, "net_forward")
    with pytest.raises(AssertionError, match="the connection to the grader broke"):
        client.check("net_forward", network_forward)


def test_without_a_verdict_process_grading_fails_closed(monkeypatch, tmp_path):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    monkeypatch.delenv(client.SOCKET_ENV, raising=False)
    monkeypatch.delenv(client.IN_PROCESS_ENV, raising=False)
    with pytest.raises(AssertionError, match="cannot reach the grader's verdict process"):
        client.check("standardize_values", standardize)
    monkeypatch.setenv(client.SOCKET_ENV, str(tmp_path / "nobody-listens.sock"))
    with pytest.raises(AssertionError, match="cannot reach the grader's verdict process"):
        client.check("standardize_values", standardize)


def test_outside_grading_the_checks_run_in_process(monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.delenv(client.SOCKET_ENV, raising=False)
    client.check("standardize_values", standardize)
    with pytest.raises(AssertionError, match="Likely mistake"):
        client.check("standardize_values", standardize_rows)


def test_the_launcher_names_the_socket_as_the_client_reads_it():
    # sandbox.py runs with the standard library only, so it cannot import the client's constant
    assert sandbox.SOCKET_ENV == client.SOCKET_ENV


def test_a_graded_kernels_client_is_ready_with_nothing_of_kernel_info_left_for_the_first_cell(tmp_path):
    """PromptKernelClient does not wait for iopub to fall silent, as jupyter_client does: it is ready once the
    kernel_info request's idle status is in, so the first message the first cell sees on iopub is its own."""
    import asyncio
    import subprocess

    from autograder.grading.verdicts import PromptKernelClient
    from kernels import start_graded_kernel

    connection, kernel = start_graded_kernel("none", tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = PromptKernelClient()
    client.load_connection_file(connection)
    client.start_channels()

    async def first_cell():
        await client.wait_for_ready(timeout=60)
        msg_id = client.execute("print('first cell')")
        seen = []
        while not (seen and seen[-1] == (msg_id, "status", "idle")):
            msg = await client.get_iopub_msg(timeout=30)
            seen.append((msg["parent_header"].get("msg_id"), msg["msg_type"], msg["content"].get("execution_state")))
        return msg_id, seen

    try:
        msg_id, seen = asyncio.run(first_cell())
    finally:
        client.stop_channels()
        kernel.kill()
        kernel.wait()
    assert [m for m, _, _ in seen] == [msg_id] * len(seen), seen
    assert ("stream" in [t for _, t, _ in seen]) and seen[0][1:] == ("status", "busy"), seen
