"""The runtime's fault suite (issue 22, build item 8): SIGKILL of the runtime, of a worker and of
a task's parent at random moments, two concurrent runs, a deleted or corrupted ``-wal`` and a full
disk during journal writes. One seeded trial per fault (about 30 s in all); ``benchmarks/faults.py``
runs more and prints the table. Lost and run-twice are read from a ledger the task bodies append
to, outside the run folder, not from the journal under test."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from fault_harness import TRIALS


@pytest.mark.parametrize("fault", list(TRIALS))
def test_no_task_is_lost_or_run_twice_after_it_finished(tmp_path: Path, fault: str) -> None:
    outcome = TRIALS[fault](tmp_path, random.Random(22))
    assert outcome["lost"] == 0, outcome
    assert outcome["run_twice"] == 0, outcome
    if fault == "two concurrent runs":
        assert outcome["refused"] == 1, outcome
