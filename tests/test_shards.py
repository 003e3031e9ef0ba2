"""Which shard grades whom: a stable hash, and the index from --shard, a Slurm array or a Kubernetes indexed Job."""
import argparse

import pytest

from autograder.__main__ import main, shard_from
from autograder.grading.gradebook import parse_shard, shard_of


def args(shard=None, shards=None):
    return argparse.Namespace(shard=shard, shards=shards)


def test_the_hash_is_the_same_on_every_machine():
    # SHA-256 of the id, not Python's hash() (salted per process): these values never change
    assert [shard_of(s, 8) for s in ("ada-lovelace-4242", "smithjohn-12345", "solution", "blank")] == [1, 8, 6, 1]


def test_every_student_belongs_to_exactly_one_shard_and_shards_are_balanced():
    students = [f"student-{i}" for i in range(4000)]
    counts = [sum(shard_of(s, 8) == k for s in students) for k in range(1, 9)]
    assert sum(counts) == len(students) and min(counts) > 400 and max(counts) < 600


def test_shard_from_the_command_line_slurm_and_kubernetes():
    assert shard_from(args("3/8"), {}) == (3, 8)
    assert shard_from(args(), {}) == (1, 1)
    # sbatch --array=1-8 and --array=0-7 both give shards 1..8 of 8
    assert shard_from(args(), {"SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_MIN": "1",
                               "SLURM_ARRAY_TASK_COUNT": "8"}) == (1, 8)
    assert shard_from(args(), {"SLURM_ARRAY_TASK_ID": "7", "SLURM_ARRAY_TASK_MIN": "0",
                               "SLURM_ARRAY_TASK_COUNT": "8"}) == (8, 8)
    assert shard_from(args(shards=4), {"JOB_COMPLETION_INDEX": "0"}) == (1, 4)
    assert shard_from(args("2/3"), {"JOB_COMPLETION_INDEX": "0"}) == (2, 3)  # --shard wins


@pytest.mark.parametrize("given, environ, message", [
    (args("0/4"), {}, "between 1 and N"),
    (args("5/4"), {}, "between 1 and N"),
    (args("two"), {}, "K/N"),
    (args(), {"JOB_COMPLETION_INDEX": "2"}, "--shards N"),
    (args(shards=4), {}, "SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX"),
    (args(shards=4), {"JOB_COMPLETION_INDEX": "4"}, "between 1 and N"),
])
def test_a_wrong_shard_is_a_clear_error(given, environ, message):
    with pytest.raises(ValueError, match=message):
        shard_from(given, environ)


def test_a_shard_needs_the_shared_gradebook(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["grade", str(tmp_path), "--shard", "1/2"])
    assert "--db-url" in capsys.readouterr().err


def test_parse_shard():
    assert parse_shard("1/1") == (1, 1)
