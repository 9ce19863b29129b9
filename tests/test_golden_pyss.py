"""VALIDATION.md rung 1: pyss micro-instances, where each job's expected finish time is its id."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hpcsched.policies.presets import PRESETS
from hpcsched.sim.replay import JobArrays, replay

from conftest import GOLDEN, require_shared

# file prefix -> presets it must satisfy (VALIDATION.md rung 1)
PREFIXES = {
    "fcfs_input": ("fcfs",),
    "easy_bf_input": ("easy",),
    "cons_bf_input": ("conservative",),
    "sjbf": ("easy-sjbf",),
    "bf_input": ("easy", "conservative"),
    "basic_input": ("fcfs", "easy", "conservative"),
}
MACHINE = 100


def instances() -> list[tuple[str, str]]:
    folder = GOLDEN / "pyss"
    if not folder.exists():
        return [("missing", "easy")]
    cases = []
    for path in sorted(folder.iterdir()):
        prefix = path.name.rsplit(".", 1)[0]
        for preset in PREFIXES[prefix]:
            cases.append((path.name, preset))
    return cases


def read_instance(path: Path) -> tuple[JobArrays, np.ndarray]:
    rows = []
    for line in path.read_text().splitlines():
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        submit, job_id, estimate, procs, runtime = (float(x) for x in fields[:5])
        rows.append((submit, job_id, estimate, procs, runtime))
    data = np.array(rows)
    jobs = JobArrays(
        submit=data[:, 0],
        runtime=data[:, 4],
        estimate=data[:, 2],
        timelimit=data[:, 2],
        request=data[:, 3].astype(np.int64).reshape(-1, 1),
        priority_class=np.zeros(len(data), dtype=np.int64),
    )
    # ids carry a fraction to stay unique; the finish time is the integer part
    return jobs, np.floor(data[:, 1])


def check(name: str, preset: str, run) -> int:  # type: ignore[no-untyped-def]
    path = require_shared(GOLDEN / "pyss" / name)
    jobs, expected_end = read_instance(path)
    schedule = run(jobs, PRESETS[preset])
    wrong = np.flatnonzero(schedule.end != expected_end)
    assert wrong.size == 0, (
        f"{name} under {preset}: jobs {expected_end[wrong].tolist()} ended at "
        f"{schedule.end[wrong].tolist()}"
    )
    return len(expected_end)


@pytest.mark.parametrize(("name", "preset"), instances())
def test_reference_engine_matches_pyss(name: str, preset: str) -> None:
    check(name, preset, lambda jobs, policy: replay(jobs, policy, (MACHINE,)))
