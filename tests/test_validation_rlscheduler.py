"""VALIDATION.md rung 2: RLScheduler's heuristic table (Zhang et al., SC'20), to 2 decimals.

Protocol: rlscheduler input filter (first 10,000 jobs), 10 windows of 1,024 jobs each replayed
alone on an empty machine, mean bounded slowdown per window, averaged over the windows. Their
environment keeps a blocked head in place (sticky) and frees processors only at end events.
"""

from __future__ import annotations

import numpy as np
import pytest

from hpcsched.policies.backfilling import BackfillPolicy
from hpcsched.sim.simulate import simulate
from hpcsched.workloads.filters import apply_filter
from hpcsched.workloads.swf import read_swf

from conftest import TRACES, require_shared

STARTS = [1981, 2756, 4299, 8850, 3316, 2714, 5228, 7762, 4022, 7085]
TABLE = {  # trace -> {(order, backfill): avg bsld}
    "lublin_256.swf.gz": {
        ("fcfs", "none"): 7273.77,
        ("sjf", "none"): 277.35,
        ("f1", "none"): 258.37,
        ("fcfs", "rlscheduler"): 235.82,
        ("sjf", "rlscheduler"): 73.31,
        ("f1", "rlscheduler"): 75.07,
    },
    "SDSC-SP2-1998-4.2-cln.swf.gz": {
        ("fcfs", "none"): 1727.54,
        ("sjf", "none"): 2680.55,
        ("f1", "none"): 1232.06,
        ("fcfs", "rlscheduler"): 1595.12,
        ("sjf", "rlscheduler"): 2167.84,
        ("f1", "rlscheduler"): 1098.22,
    },
    "HPC2N-2002-2.2-cln.swf.gz": {
        ("fcfs", "none"): 297.18,
        ("sjf", "none"): 157.71,
        ("f1", "none"): 118.01,
        ("fcfs", "rlscheduler"): 127.38,
        ("sjf", "rlscheduler"): 122.04,
        ("f1", "rlscheduler"): 71.95,
    },
}
CELLS = [(trace, order, bf) for trace, cells in TABLE.items() for (order, bf) in cells]


def rl_policy(order: str, backfill: str) -> BackfillPolicy:
    return BackfillPolicy(
        f"rl-{order}-{backfill}", order, backfill, sticky_head=True, release="event"
    )


@pytest.fixture(scope="module")
def traces() -> dict[str, object]:
    return {}


@pytest.mark.parametrize(("trace", "order", "backfill"), CELLS)
def test_rlscheduler_table_cell(trace: str, order: str, backfill: str, traces: dict) -> None:  # type: ignore[type-arg]
    if trace not in traces:
        traces[trace] = apply_filter(read_swf(require_shared(TRACES / trace)), "rlscheduler")
    loaded = traces[trace]
    policy = rl_policy(order, backfill)
    per_window = []
    for start in STARTS:
        result = simulate(loaded.table, policy, loaded.machine_procs, window=(start, 1024))
        per_window.append(result.metrics["avg_bsld"])
    assert round(float(np.mean(per_window)), 2) == TABLE[trace][(order, backfill)]
