"""`trace synth` dumps a machine that could exist (issue 21, item 4): read back with `trace
convert`, its jobs never need more than the 9,408 nodes at once, no two running jobs share a
node, big jobs wait longer than 1-node jobs, and nothing happens after the dump was taken."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from hpcsched.cli import app
from hpcsched.workloads import sacct_synth_nodes, sacct_synth_times
from hpcsched.workloads.sacct_synth import MACHINE_NODES, plan
from hpcsched.workloads.sacct_synth_times import easy_starts

JOBS = 20_000


@pytest.fixture(scope="module")
def dump(tmp_path_factory: pytest.TempPathFactory) -> pl.DataFrame:
    """The converted table of `trace synth --jobs 20000 --seed 1`, started jobs only, with the
    end of the running ones (start + elapsed at the dump)."""
    folder = tmp_path_factory.mktemp("machine")
    runner = CliRunner()
    text, table = folder / "synth.txt", folder / "synth.parquet"
    for args in (
        ["trace", "synth", "--jobs", str(JOBS), "--seed", "1", "--out", str(text)],
        ["trace", "convert", str(text), "--out", str(table)],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.stderr
    read = pl.read_parquet(table)
    assert read.height > 0.99 * JOBS  # a pending array is one row
    return read.filter(pl.col("start").is_not_null()).with_columns(
        pl.col("end").fill_null(pl.col("start") + pl.col("runtime"))
    )


def _busy(jobs: pl.DataFrame) -> np.ndarray:
    """Nodes in use after each start and end, ends first at the same second."""
    nodes = jobs["nodes"].to_numpy()
    times = np.concatenate([jobs["start"].to_numpy(), jobs["end"].to_numpy()])
    change = np.concatenate([nodes, -nodes])
    return np.cumsum(change[np.lexsort((change, times))])


def test_the_machine_never_runs_more_nodes_than_it_has(dump: pl.DataFrame) -> None:
    # every job counts its whole nodes, a shared 1-node job too (each has a node of its own)
    busy = _busy(dump)
    assert busy.max() <= MACHINE_NODES == 9408
    assert busy.max() >= 0.95 * MACHINE_NODES  # and the machine is used, not idle
    work = (dump["nodes"] * (dump["end"] - dump["start"])).sum()
    span = dump["end"].max() - dump["start"].min()
    assert 0.6 <= work / (span * MACHINE_NODES) <= 0.95  # a busy, not overloaded, machine


def test_big_jobs_wait_longer_than_one_node_jobs(dump: pl.DataFrame) -> None:
    wait = pl.col("start") - pl.col("eligible")
    assert dump.select((wait >= 0).all()).item()
    one = dump.filter(pl.col("nodes") == 1).select(wait.mean()).item()
    big = dump.filter(pl.col("nodes") >= 1024).select(wait.mean()).item()
    assert big >= 3600 and big >= 10 * one, (one, big)


def _nodes(hostlist: str) -> np.ndarray:
    """``frontier00017`` or ``frontier[00017-00019,00023]`` as node numbers."""
    inner = hostlist.removeprefix("frontier").strip("[]")
    spans = [tuple(map(int, part.split("-"))) for part in inner.split(",")]
    return np.concatenate([np.arange(s[0], s[-1] + 1) for s in spans])


def test_no_two_running_jobs_share_a_node(dump: pl.DataFrame) -> None:
    assert dump.filter(pl.col("sacct_nodelist").str.contains(",")).height > 100  # fragmented
    free_at = np.zeros(MACHINE_NODES + 1)  # when each node was last given back
    ordered = dump.sort("start", "end")
    for start, end, hostlist, nodes in ordered.select(
        "start", "end", "sacct_nodelist", "nodes"
    ).iter_rows():
        used = _nodes(hostlist)
        assert used.size == nodes and used.min() >= 1 and used.max() <= MACHINE_NODES
        assert (free_at[used] <= start).all(), hostlist
        free_at[used] = end


def test_nothing_happens_after_the_dump_is_taken() -> None:
    jobs = plan(JOBS, seed=1)
    now = jobs["now"][0]
    for column in ("submit", "eligible", "start", "end"):
        assert jobs[column].max() <= now, column
    running = jobs.filter(pl.col("state") == "running")
    pending = jobs.filter(pl.col("state") == "pending")
    assert running.height > 0 and pending.height > 0
    assert (running["start"] < now).all() and (running["end"] == -1).all()
    assert (pending["start"] == -1).all()
    # the jobs drawn pending never became eligible; the others wait in the schedule's queue
    held = pending.filter(pl.col("eligible") == -1)
    assert set(held["reason"]) == {"JobHeldUser", "DependencyNeverSatisfied"}
    assert set(pending.filter(pl.col("eligible") >= 0)["reason"]) <= {"Priority", "Resources"}


def test_the_compiled_node_sweep_is_the_python_one() -> None:
    """On a small machine, 3,000 requests EASY started (some of zero length): the same nodes."""
    rng = np.random.default_rng(3)
    n = 3000
    released = np.cumsum(rng.integers(0, 30, n))
    runtime = np.where(rng.random(n) < 0.05, 0, rng.integers(1, 400, n))
    count = np.minimum(64, 1 + np.floor(rng.pareto(1.2, n))).astype(np.int64)
    start, _ = easy_starts(released, runtime, runtime + 60, count, 64)
    assert sacct_synth_nodes.KERNEL is not None  # built by setup.py build_ext
    compiled = sacct_synth_nodes.assign_nodes(start, start + runtime, count, 64)
    python = sacct_synth_nodes.assign_nodes_reference(start, start + runtime, count, 64)
    np.testing.assert_array_equal(compiled[0], python[0])
    np.testing.assert_array_equal(compiled[1], python[1])
    assert (np.diff(compiled[0]) > 2).sum() > 100  # many requests got several ranges
    with pytest.raises(ValueError, match="needs 64 nodes"):
        sacct_synth_nodes.assign_nodes(start[:2] * 0, start[:2] * 0 + 5, np.array([1, 64]), 64)


def test_without_the_compiled_kernels_the_plan_is_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    """A source checkout without the build step schedules with the reference engine and sweeps
    nodes in Python: the same jobs, byte for byte."""
    compiled = plan(1500, seed=4)
    monkeypatch.setattr(sacct_synth_times, "fast_engine_available", lambda: False)
    monkeypatch.setattr(sacct_synth_nodes, "KERNEL", None)
    assert_frame_equal(plan(1500, seed=4), compiled)
