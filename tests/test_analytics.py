"""Charts and summary tables: real sacct, SWF and simulated tables, data-driven axes, scale."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
import polars as pl
import pytest

from hpcsched.analytics import FIGURE_TITLES, build_figures
from hpcsched.analytics.derive import prepare
from hpcsched.analytics.summaries import summaries
from hpcsched.policies.registry import get_policy
from hpcsched.sim.simulate import simulate
from hpcsched.workloads.load import load_jobs
from hpcsched.workloads.sacct import read_sacct

from conftest import SHARED, require_shared

SAMPLE = SHARED / "data" / "sacct" / "local-slurm-sample.txt"
DAY = 86400.0


def _points(trace: Any) -> int:
    """How many values a trace draws (boxes: one per precomputed box)."""
    for attr in ("z", "y", "x", "median"):
        values = getattr(trace, attr, None)
        if values is not None and len(values):
            return int(np.size(values))
    return 0


def _has_data(fig: go.Figure) -> bool:
    return any(_points(t) > 0 for t in fig.data) and not fig.layout.meta.get("skipped")


def _trace(fig: go.Figure, prefix: str) -> Any:
    matches = [t for t in fig.data if (t.name or "").startswith(prefix)]
    assert len(matches) == 1, [t.name for t in fig.data]
    return matches[0]


def test_every_chart_has_data_for_the_sacct_sample_and_cancelled_by_counts() -> None:
    table = read_sacct(require_shared(SAMPLE)).table
    figs = build_figures(table)
    assert list(figs) == list(FIGURE_TITLES)
    empty = [key for key, fig in figs.items() if not _has_data(fig)]
    assert empty == []
    # the study dropped "CANCELLED by <uid>" jobs; they are cancelled here, in every count
    by_uid = table.filter(pl.col("sacct_cancelled_by").is_not_null())
    assert by_uid.height >= 1 and set(by_uid["state"]) == {"cancelled"}
    cancelled = table.filter(pl.col("state") == "cancelled").height
    per_user = _trace(figs["states_per_user"], "cancelled")
    assert sum(per_user.y) == cancelled
    box = [t for t in figs["wait_by_state"].data if t.name.startswith("cancelled")]
    assert sum(int(t.name.rsplit("(", 1)[1].rstrip(")").replace(",", "")) for t in box) == cancelled


def test_swf_trace_charts_have_data_and_partition_qos_say_why_not(traces_dir: Path) -> None:
    loaded = load_jobs(traces_dir / "KTH-SP2-1996-2.1-cln.swf.gz")
    figs = build_figures(loaded.table, capacity=loaded.machine_procs)
    for key in ("partition_summary", "qos_summary"):  # SWF -1 partitions, no QoS
        assert figs[key].layout.meta["skipped"]
        note = figs[key].layout.annotations[0].text
        assert "no partition" in note or "no qos" in note
    data = {k for k, f in figs.items() if _has_data(f)}
    assert data == set(FIGURE_TITLES) - {"partition_summary", "qos_summary"}
    # utilisation as a fraction of the machine: the time-average never exceeds 100 %
    y = np.asarray(figs["utilisation"].data[0].y)
    assert 10 < y.mean() <= 100 and y.max() <= 100 + 1e-6


def test_simulated_table_marks_backfilled_jobs(traces_dir: Path) -> None:
    loaded = load_jobs(traces_dir / "KTH-SP2-1996-2.1-cln.swf.gz")
    out = simulate(loaded.table, get_policy("easy"), 100, window=(0, 1500)).table
    backfilled = int(out["backfilled"].sum())
    assert 0 < backfilled < out.height
    figs = build_figures(out, capacity=100)
    assert all(
        _has_data(figs[k]) for k in FIGURE_TITLES if k not in ("partition_summary", "qos_summary")
    )
    marked = _trace(figs["walltime_req_vs_actual"], "backfilled")
    assert len(marked.x) == backfilled and marked.marker.symbol == "x"
    assert _trace(figs["walltime_req_vs_actual"], "not backfilled").marker.symbol != "x"


def _crafted(n: int = 200, longest: float = 30 * DAY, seed: int = 3) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    runtime = np.geomspace(1.0, longest, n)
    submit = np.sort(rng.uniform(0, 10 * DAY, n))
    wait = np.geomspace(2.0, longest, n)[::-1].copy()
    return pl.DataFrame(
        {
            "job_id": [str(i) for i in range(n)],
            "user": rng.choice(["ann", "bob", "cy"], n),
            "partition": rng.choice(["batch", "gpu"], n),
            "submit": submit,
            "start": submit + wait,
            "end": submit + wait + runtime,
            "runtime": runtime,
            "timelimit": runtime * 2,
            "nodes": rng.integers(1, 300, n),
            "cpus": rng.integers(1, 300, n) * 4,
            "state": rng.choice(["completed", "failed", "timeout"], n),
            "backfilled": rng.random(n) < 0.5,
        }
    )


def _covers(axis: Any, lo: float, hi: float) -> bool:
    a, b = axis.range
    return 10**a <= lo and 10**b >= hi


def test_axes_follow_the_data_up_to_thirty_day_runtimes() -> None:
    figs = build_figures(_crafted())
    assert _covers(figs["nodes_vs_elapsed"].layout.xaxis, 1.0, 30 * DAY)
    assert _covers(figs["walltime_req_vs_actual"].layout.yaxis, 1.0, 30 * DAY)
    assert _covers(figs["walltime_req_vs_actual"].layout.xaxis, 2.0, 60 * DAY)
    assert _covers(figs["wait_by_state"].layout.yaxis, 2.0, 30 * DAY)
    assert _covers(figs["wait_by_size"].layout.yaxis, 2.0, 30 * DAY)
    # a shorter table gets a shorter axis: nothing is hard-coded
    short = build_figures(_crafted(longest=600.0))
    assert 10 ** short["nodes_vs_elapsed"].layout.xaxis.range[1] < 3600


def test_time_series_integrate_to_the_jobs_area() -> None:
    """Utilisation and queue length are exact time-averages: integrals Σ size·run and Σ wait."""
    table = _crafted()
    figs = build_figures(table)
    prep = prepare(table)
    lo, hi = float(table["submit"].min()), float(table["end"].max())
    width = (hi - lo) / len(figs["utilisation"].data[0].y)
    busy = float(np.sum(figs["utilisation"].data[0].y)) * width
    assert busy == pytest.approx(float((table["nodes"] * table["runtime"]).sum()), rel=1e-9)
    pending = float(np.sum(figs["queue_length"].data[0].y)) * width
    assert pending == pytest.approx(float(prep.jobs["wait"].sum()), rel=1e-9)


def test_missing_columns_give_notes_not_crashes() -> None:
    bare = pl.DataFrame({"submit": [0.0, 10.0, 20.0], "start": [5.0, 30.0, None]})
    figs = build_figures(bare)
    assert list(figs) == list(FIGURE_TITLES)
    for key, fig in figs.items():
        assert _has_data(fig) or fig.layout.annotations[0].text, key
    assert figs["walltime_req_vs_actual"].layout.meta["skipped"]
    assert _has_data(figs["queue_length"]) and _has_data(figs["wait_by_state"])
    assert build_figures(pl.DataFrame())["states_per_user"].layout.meta["skipped"]


def _million(n: int = 1_000_000) -> pl.DataFrame:
    rng = np.random.default_rng(7)
    submit = np.sort(rng.uniform(1.7e9, 1.7e9 + 365 * DAY, n))
    wait = rng.lognormal(6, 2, n)
    runtime = rng.lognormal(7, 1.8, n)
    return pl.DataFrame(
        {
            "user": rng.integers(0, 2000, n).astype(str),
            "partition": rng.choice(["batch", "debug", "gpu"], n),
            "qos": rng.choice(["normal", "high"], n),
            "submit": submit,
            "start": submit + wait,
            "end": submit + wait + runtime,
            "runtime": runtime,
            "timelimit": runtime * rng.uniform(1, 10, n),
            "nodes": rng.integers(1, 9408, n),
            "state": rng.choice(["completed", "failed", "timeout", "cancelled"], n),
            "backfilled": rng.random(n) < 0.3,
        }
    )


def test_a_million_jobs_aggregate_small_and_nonempty() -> None:
    table = _million()
    started = time.perf_counter()
    figs = build_figures(table)
    elapsed = time.perf_counter() - started
    assert all(_has_data(f) for f in figs.values())
    for key in ("nodes_vs_elapsed", "walltime_req_vs_actual"):
        assert figs[key].layout.meta["aggregated"]
        heat = figs[key].data[0]
        assert heat.type == "heatmap" and np.nansum(heat.customdata) == table.height
    marked = _trace(figs["walltime_req_vs_actual"], "backfilled")
    assert np.sum(marked.customdata) == int(table["backfilled"].sum())
    sizes = {k: len(f.to_json()) for k, f in figs.items()}
    assert max(sizes.values()) < 1_000_000 and sum(sizes.values()) < 3_000_000, sizes
    assert elapsed < 8.0  # ~1 s on the 2-core dev box; generous for shared CI runners


def test_summaries_per_partition_recomputed() -> None:
    table = _crafted()
    tables = summaries(table)
    assert tables["overall"]["jobs"].item() == table.height
    batch = table.filter(pl.col("partition") == "batch")
    row = tables["partition"].filter(pl.col("group") == "batch").row(0, named=True)
    waits = np.sort((batch["start"] - batch["submit"]).to_numpy())
    assert row["jobs"] == batch.height
    assert row["median_wait"] == pytest.approx(float(np.median(waits)))
    assert row["node_hours"] == pytest.approx(
        float((batch["nodes"] * batch["runtime"]).sum()) / 3600
    )
    assert row["backfilled_share"] == pytest.approx(float(batch["backfilled"].mean()))
    assert row["walltime_accuracy"] == pytest.approx(0.5)
    assert tables["qos"].is_empty()  # no QoS column: an empty table, not an error
    sizes = tables["size_class"]["group"].to_list()
    assert sizes[0] in ("1", "2") and sizes[-1] == "257–512"
