"""The 'network trains' check is robust: the solution clears its threshold by a wide margin for 20 seeds."""
import nbformat

from autograder.oracle.checks.network import LOSS_THRESHOLD, trained_loss
from autograder.grading.course import ASSIGNMENT, ROOT
from autograder.grading.notebooks import is_answer, solution_code

NOTEBOOK = ROOT / "solutions" / ASSIGNMENT / "05_batchnorm_in_a_network.ipynb"


def solution_namespace():
    """The solution notebook's imports and answer cells, executed (no tests, no experiments)."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    namespace = {}
    for cell in [code_cells[0]] + [c for c in code_cells if is_answer(c)]:
        exec(compile(solution_code(cell.source), str(NOTEBOOK), "exec"), namespace)
    return namespace


def test_solution_network_trains_below_threshold_for_20_seeds(summary_line):
    ns = solution_namespace()
    losses = [trained_loss(ns["network_forward"], ns["network_backward"], seed, layer=ns["BatchNorm"])
              for seed in range(20)]
    summary_line(f"lesson 5 training check over 20 seeds: final loss {min(losses):.3f}-{max(losses):.3f}, "
                 f"threshold {LOSS_THRESHOLD}")
    assert max(losses) < LOSS_THRESHOLD * 0.6, "the solution does not clear the threshold by a wide margin"
