"""Trace filters: published job counts on real traces and each rule on a crafted trace."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from hpcsched.workloads.filters import FILTERS, apply_filter, machine_size
from hpcsched.workloads.swf import Trace, read_swf


def _line(job: int, submit: float, run: float, alloc: int, req: int, req_time: float) -> str:
    return f"{job} {submit} 0 {run} {alloc} -1 -1 {req} {req_time} -1 1 1 1 -1 1 1 -1 -1"


# One job per rule; the comment says what strong / rlscheduler do with it.
CRAFTED = [
    _line(1, 0, 100, 4, 4, 200),  # strong: keep; rl: keep
    _line(2, 10, 300, 4, 2, 200),  # strong: runtime clipped to 200, cpus 4; rl: procs 4
    _line(3, 20, 50, -1, 8, 100),  # strong: alloc <- req (8); rl: procs 8
    _line(4, 30, 50, 6, -1, 100),  # strong: req <- alloc (6); rl: procs 6
    _line(5, 40, 50, -1, -1, 100),  # strong: drop (no procs); rl: keep with procs -1
    _line(6, 50, 50, 17, 4, 100),  # strong: drop (alloc > 16); rl: keep (no size check)
    _line(7, 60, 50, 4, 17, 100),  # strong: drop (req > 16); rl: keep, procs 17
    _line(8, 70, 0, 4, 4, 100),  # strong: drop (runtime 0); rl: drop (runtime 0)
    _line(9, 80, -1, 4, 4, 100),  # strong: drop (runtime < 0); rl: runtime 10
    _line(10, 90, 50, 4, 4, 0),  # strong: drop (requested time 0); rl: keep, timelimit 0
    _line(11, 100, 50, 4, 4, -1),  # strong: drop; rl: requested time <- runtime 50
    _line(12, 110, -1, 4, 4, -1),  # strong: drop; rl: runtime 10, requested time -1 (raw run)
    _line(13, -5, 50, 4, 4, 100),  # strong: drop (submit < 0); rl: keep
    _line(14, 0, 50, 4, 4, 100),  # strong: keep (submit 0 is kept)
]


@pytest.fixture
def crafted(tmp_path: Path) -> Trace:
    path = tmp_path / "crafted.swf"
    path.write_text("; MaxProcs: 16\n; MaxNodes: 8\n" + "\n".join(CRAFTED) + "\n")
    return read_swf(path)


def test_none_keeps_everything(crafted: Trace) -> None:
    out = apply_filter(crafted, "none")
    assert out.table.height == len(CRAFTED)
    assert out.table["swf_index"].to_list() == list(range(len(CRAFTED)))
    assert out.table.drop("swf_index").equals(crafted.table)
    assert out.header == crafted.header


def test_strong_rules(crafted: Trace) -> None:
    t = apply_filter(crafted, "strong").table
    assert t["swf_job_number"].to_list() == [1, 2, 3, 4, 14]
    assert t["swf_index"].to_list() == [0, 1, 2, 3, 4]
    assert t["cpus"].to_list() == [4, 4, 8, 6, 4]  # allocated (pyss uses field 5)
    assert t["swf_alloc_procs"].to_list() == [4, 4, 8, 6, 4]
    assert t["swf_req_procs"].to_list() == [4, 2, 8, 6, 4]
    assert t["runtime"].to_list() == [100.0, 200.0, 50.0, 50.0, 50.0]  # job 2 clipped
    assert t["timelimit"].to_list() == [200.0, 200.0, 100.0, 100.0, 100.0]
    assert t["end"][1] == t["start"][1] + 200.0


def test_strong_needs_machine_size(crafted: Trace) -> None:
    headless = Trace(table=crafted.table, path="x.swf")
    with pytest.raises(ValueError, match="no MaxProcs or MaxNodes"):
        apply_filter(headless, "strong")
    only_nodes = Trace(table=crafted.table, path="x.swf", max_nodes=16)
    assert machine_size(only_nodes) == 16
    assert machine_size(crafted) == 16
    assert apply_filter(only_nodes, "strong").table.height == 5


def test_rlscheduler_rules(crafted: Trace) -> None:
    t = apply_filter(crafted, "rlscheduler").table
    jobs = t["swf_job_number"].to_list()
    assert jobs == [1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14]  # only job 8 (runtime 0) dropped
    by_job = dict(zip(jobs, t.select("cpus", "runtime", "timelimit").rows(), strict=True))
    assert by_job[2] == (4, 300.0, 200.0)  # no clip
    assert by_job[3][0] == 8
    assert by_job[4][0] == 6
    assert by_job[7][0] == 17
    assert by_job[5][0] is None  # max(-1, -1): the reference keeps it with -1 processors
    assert by_job[9] == (4, 10.0, 100.0)  # runtime < 0 -> 10
    assert by_job[10] == (4, 50.0, 0.0)  # requested time 0 stays 0
    assert by_job[11] == (4, 50.0, 50.0)  # requested time -1 -> runtime
    assert by_job[12] == (4, 10.0, -1.0)  # -1 -> raw runtime (-1), then runtime -> 10
    assert (t["swf_alloc_procs"] == t["swf_req_procs"]).all()


def test_rlscheduler_sorts_by_job_number_and_caps(tmp_path: Path) -> None:
    lines = [_line(j, j, 5, 1, 1, 10) for j in range(10_005, 0, -1)]
    path = tmp_path / "rev.swf"
    path.write_text("\n".join(lines) + "\n")
    t = apply_filter(read_swf(path), "rlscheduler").table
    assert t.height == 10_000
    assert t["swf_job_number"].to_list() == list(range(1, 10_001))


def test_unknown_filter(crafted: Trace) -> None:
    with pytest.raises(ValueError, match="none, strong, rlscheduler"):
        apply_filter(crafted, "weak")
    assert FILTERS == ("none", "strong", "rlscheduler")


def test_filters_need_swf_columns(crafted: Trace) -> None:
    canonical_only = crafted.with_table(crafted.table.select("job_id", "submit", "cpus"))
    assert apply_filter(canonical_only, "none").table.height == len(CRAFTED)
    with pytest.raises(ValueError, match="needs the raw SWF fields"):
        apply_filter(canonical_only, "rlscheduler")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("CTC-SP2-1996-3.1-cln", 77_199),
        ("SDSC-SP2-1998-4.2-cln", 53_999),
        ("KTH-SP2-1996-2", 28_481),  # the older, uncleaned file predictsim used
    ],
)
def test_strong_counts(traces_dir: Path, name: str, expected: int) -> None:
    t = apply_filter(read_swf(traces_dir / f"{name}.swf.gz"), "strong").table
    assert t.height == expected
    assert (t["runtime"] > 0).all()
    assert (t["runtime"] <= t["timelimit"]).all()
    assert t["cpus"].min() is not None
    assert t["cpus"].null_count() == 0


@pytest.mark.parametrize("name", ["SDSC-SP2-1998-4.2-cln", "HPC2N-2002-2.2-cln", "lublin_256"])
def test_rlscheduler_counts(traces_dir: Path, name: str) -> None:
    trace = read_swf(traces_dir / f"{name}.swf.gz")
    t = apply_filter(trace, "rlscheduler").table
    assert t.height == 10_000
    raw = trace.table.filter(pl.col("swf_run_time") != 0).head(10_000)
    expected = raw.select(pl.max_horizontal("swf_alloc_procs", "swf_req_procs")).to_series()
    assert t["cpus"].to_list() == expected.to_list()
    assert (t["runtime"] > 0).all()
