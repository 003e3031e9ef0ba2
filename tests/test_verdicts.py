"""Which verdicts count: the server records one per executing test cell, for that cell's check only."""
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
