"""Core types, class rules and metric formulas, checked against hand-computed values."""

from __future__ import annotations

import polars as pl
import pytest

from hpcsched.core.profile import Profile
from hpcsched.core.resources import ClusterSpec, Resources
from hpcsched.core.schema import CANONICAL_COLUMNS, conform
from hpcsched.policies.classes import assign_classes
from hpcsched.policies.presets import PRESETS
from hpcsched.sim.metrics import summarize
from hpcsched.sim.simulate import simulate


def test_profile_earliest_start_and_reserve() -> None:
    profile = Profile.from_running(0.0, (10,), [((6,), 50.0), ((2,), 20.0)])
    assert profile.free_at(0) == (2,)
    assert profile.free_at(20) == (4,)
    assert profile.free_at(50) == (10,)
    assert profile.earliest_start((4,), 100.0, 0.0) == 20.0
    # a hole too short for the duration is skipped
    profile.reserve(60.0, 10.0, (8,))
    assert profile.earliest_start((4,), 30.0, 50.0) == 70.0
    assert profile.earliest_start((2,), 30.0, 50.0) == 50.0
    profile.release(60.0, 10.0, (8,))
    assert profile.earliest_start((4,), 30.0, 50.0) == 50.0


def test_resources_and_cluster_refusal() -> None:
    a = Resources(nodes=1, cpus=4, gpus=1, mem=8e9)
    b = Resources(nodes=2, cpus=8, gpus=1, mem=16e9)
    assert a <= b and not b <= a
    assert (b - a) + a == b
    cluster = ClusterSpec(b)
    assert cluster.refuses(a) is None
    reason = cluster.refuses(Resources(cpus=64, gpus=4))
    assert reason is not None and "cpus=64 > 8" in reason and "gpus=4 > 1" in reason
    with pytest.raises(ValueError, match="unknown resource"):
        Resources.of({"tpus": 1})


def test_conform_adds_every_canonical_column_in_order() -> None:
    table = conform(pl.DataFrame({"swf_extra": [1], "cpus": [4], "submit": [0]}))
    assert table.columns[: len(CANONICAL_COLUMNS)] == list(CANONICAL_COLUMNS)
    assert table.columns[-1] == "swf_extra"
    assert table["cpus"].dtype == pl.Int64 and table["submit"].dtype == pl.Float64


def test_class_rules() -> None:
    table = pl.DataFrame(
        {
            "cpus": list(range(1, 11)),
            "nodes": [None] * 10,
            "user": ["a", "b", "c", "a", "b", "c", "a", "b", "c", "d"],
            "qos": ["high", "low"] * 5,
            "tier": [2, 1, 0, 2, 1, 0, 2, 1, 0, 2],
        }
    )
    size = assign_classes(table, "size").to_list()  # P90 = 9.1, P80 = 8.2 (linear)
    assert size == [2, 2, 2, 2, 2, 2, 2, 2, 1, 0]
    assert assign_classes(table, "user:a,d").to_list() == [0, 1, 1, 0, 1, 1, 0, 1, 1, 0]
    assert assign_classes(table, "qos:high=0,low=2").to_list() == [0, 2] * 5
    assert assign_classes(table, "column:tier").to_list() == table["tier"].to_list()
    with pytest.raises(ValueError, match="no column"):
        assign_classes(table, "column:nope")


def test_metric_formulas_by_hand() -> None:
    table = conform(
        pl.DataFrame(
            {
                "job_id": ["1", "2", "3"],
                "user": ["u", "u", "v"],
                "submit": [0.0, 0.0, 10.0],
                "start": [0.0, 100.0, 20.0],
                "end": [100.0, 105.0, 50.0],
                "cpus": [2, 2, 1],
                "priority_class": [0, 1, 1],
                "backfilled": [False, False, True],
            }
        )
    )
    m = summarize(table, capacity=4)
    # waits 0, 100, 10; runs 100, 5, 30; bsld = max(1, (w + r) / max(r, 10))
    assert m["avg_wait"] == pytest.approx(110 / 3)
    assert m["max_wait"] == 100
    assert m["avg_bsld"] == pytest.approx((1 + 105 / 10 + 40 / 30) / 3)
    assert m["avg_flow"] == pytest.approx((100 + 105 + 40) / 3)
    assert m["makespan"] == 105
    assert m["utilization"] == pytest.approx((200 + 10 + 30) / (4 * 105))
    # per-user mean waits: u = 50, v = 10 -> Jain = (60)^2 / (2 * (2500 + 100))
    assert m["fairness_jain"] == pytest.approx(3600 / 5200)
    assert m["per_class"]["1"]["median_response"] == pytest.approx((105 + 40) / 2)


def test_a_prediction_column_drives_the_estimates() -> None:
    # job 0 runs long on the whole machine; job 1 blocks; job 2 can backfill only if its
    # estimate says it ends before job 1's reservation
    table = conform(
        pl.DataFrame(
            {
                "job_id": ["0", "1", "2"],
                "user": ["a", "b", "c"],
                "submit": [0.0, 1.0, 2.0],
                "runtime": [100.0, 10.0, 50.0],
                "timelimit": [100.0, 10.0, 500.0],
                "cpus": [3, 4, 1],
                "predicted": [100.0, 10.0, 60.0],
            }
        )
    )
    requested = simulate(table, PRESETS["easy"], 4, estimate="requested").table.sort("job_id")
    predicted = simulate(table, PRESETS["easy"], 4, estimate="predicted").table.sort("job_id")
    assert requested["start"].to_list() == [0.0, 100.0, 110.0]
    assert predicted["start"].to_list() == [0.0, 100.0, 2.0]
    assert predicted["backfilled"].to_list() == [False, False, True]
