"""PriorityBF on real traces with size-percentile classes (VALIDATION.md rung 5's claim).

Against EASY: the class-0 (largest 10 %) median response time drops, utilisation stays within 1 %.
"""

from __future__ import annotations

import pytest

from hpcsched.policies.presets import PRESETS
from hpcsched.sim.simulate import fast_engine_available, simulate
from hpcsched.workloads.load import load_jobs

from conftest import TRACES, require_shared


@pytest.mark.parametrize("trace", ["SDSC-SP2-1998-4.2-cln.swf.gz", "HPC2N-2002-2.2-cln.swf.gz"])
def test_prioritybf_serves_class_zero_faster_at_equal_utilisation(trace: str) -> None:
    if not fast_engine_available():
        pytest.fail("the compiled engine is not built (pip install -e .)")
    loaded = load_jobs(require_shared(TRACES / trace), filter_name="strong")
    assert loaded.machine_procs is not None
    easy = simulate(loaded.table, PRESETS["easy"], loaded.machine_procs, classes="size").metrics
    pbf = simulate(
        loaded.table, PRESETS["prioritybf"], loaded.machine_procs, classes="size"
    ).metrics
    assert pbf["per_class"]["0"]["median_response"] < easy["per_class"]["0"]["median_response"]
    assert abs(pbf["utilization"] - easy["utilization"]) <= 0.01
