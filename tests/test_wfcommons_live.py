"""``benchmarks/wfcommons_makespan.py --live``: a real WfCommons instance run live beside its
simulation, on the smallest instance (srasearch, 22 tasks) at a tiny scale."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from conftest import SHARED, require_shared

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "wfcommons_makespan.py"


def test_live_makespans_sit_above_the_bound_beside_the_simulated_ones() -> None:
    folder = require_shared(SHARED / "data" / "wfcommons")
    command = [sys.executable, str(BENCHMARK), str(folder), "--cpus", "8", "--smallest", "1"]
    done = subprocess.run(
        [*command, "--live", "0.0005"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    live = done.stdout.split("live at --scale 0.0005 on 8 cpus", 1)[1].splitlines()
    assert live[1].split()[1:] == ["bound×scale", "fcfs", "easy", "prioritybf", "easy+bl"]
    row = live[2]
    assert row.startswith("srasearch-chameleon-10a-001 ")
    bound = float(row.split()[1])
    cells = re.findall(r"(\d+\.\d+) / +(\d+\.\d+) \((\d+\.\d+)\)", row)
    assert len(cells) == 4
    # the simulated column is the simulation table's makespan × scale (FCFS: 1425.6 s, EASY in
    # bottom-level order: 1005.9 s, the critical path), and no live run beats the bound: every
    # task sleeps at least its scaled runtime, after its dependencies
    assert [float(model) for _, model, _ in cells] == [0.713, 0.713, 0.713, 0.503]
    assert bound == 0.503
    assert all(float(run) >= bound for run, _, _ in cells)
