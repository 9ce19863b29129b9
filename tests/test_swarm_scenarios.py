"""The SWARM scenarios (``workloads/swarm_scenarios.py``): every job fits the talk's system, the
table is a workload in the canonical schema, and each scenario's distributions are the
reference's (moments and shapes at fixed seeds, tolerances of 4-5 standard errors or
goodness-of-fit p-values); the instance and ``trace synth --scenario`` show the same jobs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from typer.testing import CliRunner

from hpcsched.cli import app
from hpcsched.core.schema import CANONICAL_COLUMNS, JOB_TABLE_SCHEMA
from hpcsched.sim.scenarios import instance
from hpcsched.workloads.load import load_jobs
from hpcsched.workloads.swarm_scenarios import (
    MEAN_INTERARRIVAL_S,
    SCENARIOS,
    SITES,
    SYSTEM,
    describe,
    generate,
)
from hpcsched.workloads.swf import read_swf

N = 4000
GB = 2**30
BURST_TYPES = {"AI", "GPU", "HYBRID"}


def _jobs(scenario: str, seed: int = 7) -> pl.DataFrame:
    return generate(scenario, N, seed)


def _np(table: pl.DataFrame, column: str) -> np.ndarray:
    return table[column].to_numpy()


def _share_close(hits: np.ndarray, p: float) -> None:
    """A binomial share within 4 standard errors of ``p``."""
    n = len(hits)
    assert abs(hits.mean() - p) <= 4 * np.sqrt(p * (1 - p) / n), (hits.mean(), p, n)


def _uniform_ints(values: np.ndarray, lo: int, hi: int) -> None:
    """``values`` are U{lo..hi}: support inside and reaching both ends (to within 10 expected
    spacings), mean within 5 standard errors, variance within 10 %."""
    width = hi - lo + 1
    reach = 10 * width / len(values)
    assert lo <= values.min() <= lo + reach and hi - reach <= values.max() <= hi
    mean, var = (lo + hi) / 2, (width**2 - 1) / 12
    assert abs(values.mean() - mean) <= 5 * np.sqrt(var / len(values))
    assert abs(values.var() / var - 1) < 0.1


def _fits(table: pl.DataFrame, dist: stats.rv_continuous) -> None:
    """Whole-second walltimes (the reference's ``int()``) follow ``dist`` (KS, half-second
    continuity correction)."""
    assert stats.kstest(_np(table, "runtime") + 0.5, dist.cdf).pvalue > 1e-3


def test_the_seven_names_and_the_talks_system() -> None:
    assert SCENARIOS == (
        "homogeneous_short",
        "heterogeneous_mix",
        "long_job_dominant",
        "high_parallelism",
        "resource_sparse",
        "bursty_idle",
        "adversarial",
    )
    assert SYSTEM == {"nodes": 256, "mem_gb": 2048, "gpus": 128}
    assert [(s.name, s.node_limit, s.memory_limit_gb) for s in SITES] == [
        ("ALCF", 560, 280),
        ("OLCF", 9408, 128),
        ("NERSC", 4864, 2312),
    ]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_scenario_is_a_workload_that_fits_the_system(scenario: str) -> None:
    table = _jobs(scenario)
    assert table.columns[: len(CANONICAL_COLUMNS)] == list(CANONICAL_COLUMNS)
    assert dict(table.schema) | JOB_TABLE_SCHEMA == dict(table.schema)
    submit, nodes, gpus = _np(table, "submit"), _np(table, "nodes"), _np(table, "gpus")
    mem_gb = _np(table, "mem_req") / GB
    assert submit[0] == 0 and (np.diff(submit) >= 0).all() and (submit == np.round(submit)).all()
    assert table["job_id"].to_list() == [str(i) for i in range(1, N + 1)]
    assert (table["runtime"] == table["timelimit"]).all() and table["runtime"].min() >= 1
    assert (mem_gb == np.round(mem_gb)).all() and mem_gb.min() >= 1
    assert nodes.min() >= 1 and nodes.max() <= SYSTEM["nodes"] and mem_gb.max() <= SYSTEM["mem_gb"]
    assert ((gpus == 0) | (gpus == np.minimum(nodes, SYSTEM["gpus"]))).all()
    assert table["state"].unique().to_list() == ["completed"]
    assert table["start"].is_null().all() and table["end"].is_null().all()
    assert set(table["name"]) == {scenario} and set(table["source"]) == {f"swarm:{scenario}"}
    users = table["user"].str.strip_prefix("user_").cast(pl.Int64)
    groups = table["account"].str.strip_prefix("group_").cast(pl.Int64)
    assert users.min() >= 1 and 0.99 * N // 2 <= users.max() <= N // 2
    assert groups.min() >= 1 and 0.99 * N // 4 <= groups.max() <= N // 4
    # uniform users: the expected number seen at least once, 1 - e^-2 of n/2
    assert abs(users.n_unique() / (N // 2) - (1 - np.exp(-2))) < 0.03
    for site in SITES:  # each site a third of the jobs
        _share_close((table["swarm_site"] == site.name).to_numpy(), 1 / 3)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_a_seed_gives_one_workload(scenario: str) -> None:
    assert generate(scenario, 300, 5).equals(generate(scenario, 300, 5))
    assert not generate(scenario, 300, 5).equals(generate(scenario, 300, 6))


@pytest.mark.parametrize(
    "scenario", [s for s in SCENARIOS if s not in ("bursty_idle", "adversarial")]
)
def test_arrivals_are_a_poisson_stream_of_mean_gap_lambda(scenario: str) -> None:
    lam = MEAN_INTERARRIVAL_S[scenario]
    submit = _np(_jobs(scenario), "submit")
    # the last arrival is Gamma(N-1, λ): its mean (N-1)λ, its sd sqrt(N-1)λ, plus rounding
    assert abs(submit[-1] - (N - 1) * lam) <= 5 * np.sqrt(N - 1) * lam + 0.5
    # counts per second of a Poisson stream: variance = mean (index of dispersion 1)
    counts = np.bincount(submit.astype(np.int64))[:-1]
    assert abs(counts.mean() - 1 / lam) < 0.1 / lam
    assert 0.85 < counts.var() / counts.mean() < 1.15


def test_homogeneous_short() -> None:
    table = _jobs("homogeneous_short")
    _uniform_ints(_np(table, "runtime"), 30, 119)  # randint(30, 120) excludes 120
    assert set(table["nodes"]) == {2} and set(table["mem_req"] / GB) == {4.0}
    _share_close(_np(table, "gpus") > 0, 0.1)


def test_heterogeneous_mix() -> None:
    table = _jobs("heterogeneous_mix")
    _fits(table, stats.gamma(1.5, scale=300))
    for column, powers in (("nodes", range(1, 9)), ("mem_req", range(1, 8))):
        values = _np(table, column) / (GB if column == "mem_req" else 1)
        seen = [int((values == 2**k).sum()) for k in powers]
        assert sum(seen) == N  # support exactly 2^k
        assert stats.chisquare(seen).pvalue > 1e-3  # each power equally likely
    _share_close(_np(table, "gpus") > 0, 0.3)


def test_long_job_dominant_is_a_20_80_mixture() -> None:
    table = _jobs("long_job_dominant")
    long = _np(table, "runtime") >= 10_000
    _share_close(long, 0.2)
    _uniform_ints(_np(table, "runtime")[long], 10_000, 49_999)
    _uniform_ints(_np(table, "runtime")[~long], 100, 499)
    assert (_np(table, "nodes") == np.where(long, 128, 2)).all()
    _share_close(_np(table, "gpus")[long] > 0, 0.8)
    _share_close(_np(table, "gpus")[~long] > 0, 0.1)
    mem = _np(table, "mem_req") / GB
    assert set(mem[~long]) == {4, 6, 8, 10, 12, 14}
    site = _np(table, "swarm_site")
    cap = np.select([site == "OLCF", site == "ALCF"], [128, 280], 10**6)
    # long jobs: 128 nodes x U{2..7} GB, capped by the site's memory limit
    assert set(mem[long]) <= {min(128 * k, c) for k in range(2, 8) for c in (128, 280, 10**6)}
    assert (mem[long] <= cap[long]).all() and set(mem[long & (site == "OLCF")]) == {128}


def test_high_parallelism_is_clamped_to_the_system() -> None:
    table = _jobs("high_parallelism")
    _fits(table, stats.expon(scale=800))
    nodes = _np(table, "nodes")
    # 2^U{6..9}: 64 and 128 a quarter each; 256 and the clamped 512 half
    _share_close(nodes == 64, 0.25)
    _share_close(nodes == 128, 0.25)
    assert set(nodes) == {64, 128, 256}
    mem, site = _np(table, "mem_req") / GB, _np(table, "swarm_site")
    assert mem[site == "OLCF"].max() == 128 and mem[site == "ALCF"].max() == 280
    assert mem.max() == SYSTEM["mem_gb"]  # NERSC's 512-node jobs, clamped
    assert (mem[nodes == 64] >= 128).all() and (mem[nodes == 64] < 384).all()  # 64 x U(2, 6)
    gpus = _np(table, "gpus")
    _share_close(gpus > 0, 0.6)
    assert set(gpus[nodes == 256]) == {0, SYSTEM["gpus"]}


def test_resource_sparse() -> None:
    table = _jobs("resource_sparse")
    _uniform_ints(_np(table, "runtime"), 30, 299)
    assert set(table["nodes"]) == {1}
    _uniform_ints((_np(table, "mem_req") / GB).astype(np.int64), 1, 7)
    _share_close(_np(table, "gpus") > 0, 0.05)


def test_bursty_idle_has_idle_gaps_between_bursts() -> None:
    table = _jobs("bursty_idle")
    _fits(table, stats.expon(scale=600))
    nodes = _np(table, "nodes")
    assert set(nodes) == {2**k for k in range(1, 7)}
    burst = np.isin(_np(table, "swarm_job_type"), list(BURST_TYPES))
    _share_close(burst, 0.5)  # phases of 100 jobs alternate
    _share_close(_np(table, "gpus")[burst] > 0, 0.4)
    _share_close(_np(table, "gpus")[~burst] > 0, 0.1)
    submit = _np(table, "submit")
    assert submit[~burst].min() >= 50  # every off-phase arrival is moved 50 s later
    # a phase of 100 jobs lasts ~17 s; a moved phase leaves its window idle: gaps of > 10 s,
    # where a Poisson stream of mean gap 1/6 s has none above 3 s in 4,000 jobs
    assert np.diff(submit).max() > 10
    assert (np.diff(submit) > 10).sum() >= 2


def test_adversarial_starts_with_the_blocker() -> None:
    table = _jobs("adversarial")
    first = table.row(0, named=True)
    assert (first["submit"], first["runtime"], first["nodes"], first["gpus"]) == (0, 1e5, 128, 128)
    assert first["mem_req"] / GB in (128, 256)  # 256 GB, OLCF caps it at 128
    rest = table[1:]
    assert (_np(rest, "submit") == np.arange(1, N)).all()  # one a second
    assert set(rest["runtime"]) == {60} and set(rest["nodes"]) == {1}
    assert set(rest["gpus"]) == {0} and set(rest["mem_req"] / GB) == {4}


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(SCENARIOS), st.integers(1, 400), st.integers(0, 2**32))
def test_any_size_and_seed_fits_the_instance(scenario: str, jobs: int, seed: int) -> None:
    table = generate(scenario, jobs, seed)
    made = instance(scenario, jobs, seed)  # its constructor refuses a job the system cannot run
    assert made.name == f"{scenario}-{jobs}-s{seed}" and len(made) == jobs == table.height
    assert made.capacity == (256, 2048, 128) and made.resources == ("nodes", "mem_gb", "gpus")
    assert (made.release == _np(table, "submit")).all() and made.release[0] == 0
    assert (made.duration == _np(table, "runtime")).all()
    assert (made.demand[:, 1] == _np(table, "mem_req") / GB).all()
    assert made.group == tuple(table["account"])


def test_bad_arguments_are_one_clear_error() -> None:
    with pytest.raises(ValueError, match=r"choose one of homogeneous_short, .*, adversarial"):
        generate("busy_day", 10, 0)
    with pytest.raises(ValueError, match="at least 1 job"):
        generate("adversarial", 0, 0)


runner = CliRunner()


def _run(*args: str | Path) -> tuple[int, str, str]:
    result = runner.invoke(app, ["trace", "synth", *map(str, args)])
    return result.exit_code, result.stdout, result.stderr


def test_synth_scenario_writes_the_table_and_says_what_it_wrote(tmp_path: Path) -> None:
    out = tmp_path / "hm.parquet"
    code, stdout, err = _run(
        "--scenario", "heterogeneous_mix", "--jobs", 500, "--seed", 3, "--out", out
    )
    assert code == 0, err
    expected = generate("heterogeneous_mix", 500, 3)
    shape = describe(expected)
    assert stdout == (
        f"wrote 500 heterogeneous_mix jobs (seed 3) to {out} (Parquet): arrivals over "
        f"{shape['span_s']:,.0f} s, mean {shape['mean_nodes']:.1f} nodes and "
        f"{shape['mean_mem_gb']:.1f} GB, {100 * shape['gpu_share']:.1f} % with GPUs\n"
    )
    loaded = load_jobs(out)
    assert loaded.table.equals(expected) and loaded.machine_procs == 256

    code, stdout, _ = _run(
        "--scenario", "adversarial", "--jobs", 50, "--out", tmp_path / "a.csv", "--json"
    )
    summary = json.loads(stdout)
    assert code == 0 and summary["format"] == "CSV" and summary["span_s"] == 49
    assert summary["gpu_share"] == 0.02 and pl.read_csv(tmp_path / "a.csv").height == 50


def test_synth_scenario_as_swf_counts_nodes_as_processors(tmp_path: Path) -> None:
    out = tmp_path / "lj.swf"
    code, _, err = _run("--scenario", "long_job_dominant", "--jobs", 200, "--out", out)
    assert code == 0, err
    trace = read_swf(out)
    table = generate("long_job_dominant", 200, 0)
    assert trace.max_procs == 256
    assert trace.table["swf_req_procs"].to_list() == table["nodes"].to_list()
    assert (
        trace.table["swf_user"].to_list()
        == table["user"].str.strip_prefix("user_").cast(pl.Int64).to_list()
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--scenario", "busy"),
            "--scenario: unknown scenario 'busy': choose one of homogeneous_short",
        ),
        (("--scenario", "bursty_idle", "--format", "swf"), "--format and --malformed are for"),
        (("--scenario", "bursty_idle", "--jobs", "0"), "--jobs 0: give at least 1 job"),
    ],
)
def test_synth_scenario_refuses_bad_input_in_one_line(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    jobs = () if "--jobs" in args else ("--jobs", "10")
    code, stdout, err = _run(*args, *jobs, "--out", tmp_path / "x.parquet")
    assert code == 2 and stdout == "" and err.count("\n") == 1 and message in err
    assert not (tmp_path / "x.parquet").exists()
