"""The author's quick loop (python -m autograder.samples.tryout) runs real kernels and reports mismatches."""
import dataclasses

from autograder.samples import tryout
from autograder.samples import variants as V


def test_tryout_names_the_failed_cells_and_flags_a_variant_whose_expectation_is_wrong(monkeypatch, capsys):
    mistake = V.by_name("channel_stats_unbiased")
    mislabelled = dataclasses.replace(mistake, fails=frozenset())  # claims it is correct
    monkeypatch.setattr(V, "CORRECT", [])
    monkeypatch.setattr(V, "WRONG", [mislabelled])
    assert tryout.main(["01"]) == 1
    out = capsys.readouterr().out
    assert "01_axis_means_keepdims, solved: full marks" in out
    assert "BAD channel_stats_unbiased: fails ['channel_stats_values'], should fail nothing" in out
    assert "ddof=1" in out or "unbiased" in out  # the failing cell's own message is shown
