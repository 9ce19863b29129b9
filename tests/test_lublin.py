"""The Lublin–Feitelson generator: schema, determinism and the model's statistics."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from hpcsched.core.schema import CANONICAL_COLUMNS, JOB_TABLE_SCHEMA
from hpcsched.workloads import lublin
from hpcsched.workloads.lublin import LUBLIN_DEFAULT_JOBS, generate

N = 20_000


@pytest.fixture(scope="module")
def table() -> pl.DataFrame:
    return generate(N, machine_procs=256, seed=3)


def test_default_jobs_constant() -> None:
    assert LUBLIN_DEFAULT_JOBS == 5000


def test_same_seed_identical_different_seed_differs() -> None:
    a = generate(2000, seed=11)
    b = generate(2000, seed=11)
    c = generate(2000, seed=12)
    assert a.equals(b)
    assert not a.equals(c)
    assert not a["submit"].equals(c["submit"])
    assert not a["runtime"].equals(c["runtime"])


def test_canonical_table(table: pl.DataFrame) -> None:
    assert table.columns[: len(CANONICAL_COLUMNS)] == list(CANONICAL_COLUMNS)
    assert dict(table.schema) == JOB_TABLE_SCHEMA
    assert table.height == N
    assert table["job_id"].to_list() == [str(i) for i in range(1, N + 1)]
    assert table["nodes"].null_count() == N
    for column, value in {
        "partition": "batch",
        "qos": "normal",
        "state": "completed",
        "source": "lublin",
        "name": "",
    }.items():
        assert table[column].unique().to_list() == [value], column
    assert table["user"].str.starts_with("u").all()
    assert table["account"].str.starts_with("g").all()


def test_empty_and_invalid_arguments() -> None:
    empty = generate(0)
    assert empty.height == 0
    assert dict(empty.schema) == JOB_TABLE_SCHEMA
    with pytest.raises(ValueError):
        generate(-1)
    with pytest.raises(ValueError):
        generate(10, machine_procs=0)
    with pytest.raises(ValueError):
        generate(10, load_scale=0.0)


@pytest.mark.parametrize("procs", [64, 100, 256, 1024])
def test_sizes_follow_the_model(procs: int) -> None:
    cpus = generate(N, machine_procs=procs, seed=5)["cpus"].to_numpy()
    assert cpus.min() >= 1
    assert cpus.max() <= procs
    assert cpus.max() > procs // 4  # the upper stage of the two-stage uniform reaches UHI
    serial = float(np.mean(cpus == 1))
    assert serial == pytest.approx(lublin.SERIAL_PROB, abs=0.015)
    # Jobs drawn as power-of-two are exactly POW2_PROB; the others may also land on 2^k.
    pow2 = float(np.mean((cpus > 1) & ((cpus & (cpus - 1)) == 0)))
    other = 1.0 - lublin.SERIAL_PROB - lublin.POW2_PROB
    assert lublin.POW2_PROB - 0.02 <= pow2 <= lublin.POW2_PROB + other + 0.02


def test_tiny_machine_is_all_serial() -> None:
    assert generate(500, machine_procs=1)["cpus"].unique().to_list() == [1]


def test_runtime_distribution(table: pl.DataFrame) -> None:
    runtime = table["runtime"].to_numpy()
    cpus = table["cpus"].to_numpy()
    assert runtime.min() >= 1.0
    assert runtime.max() <= math.exp(lublin.TOO_MUCH_TIME)
    assert np.all(runtime == np.floor(runtime))
    assert 10.0 < float(np.median(runtime)) < 10 * 3600.0
    # log(runtime) of serial jobs is hyper-gamma with p = PA + PB: check its mean.
    p = lublin.PA + lublin.PB
    expected = p * lublin.A1 * lublin.B1 + (1 - p) * lublin.A2 * lublin.B2
    assert float(np.log(runtime[cpus == 1]).mean()) == pytest.approx(expected, abs=0.2)
    # PA < 0: bigger jobs draw the long gamma more often, so they run longer.
    assert np.median(runtime[cpus >= 64]) > 5 * np.median(runtime[cpus == 1])


def test_timelimit_is_a_popular_value_at_least_runtime(table: pl.DataFrame) -> None:
    assert (table["timelimit"] >= table["runtime"]).all()
    assert set(table["timelimit"].unique().to_list()) <= set(lublin.ESTIMATE_VALUES.tolist())
    assert table["timelimit"].null_count() == 0


def test_arrivals_sorted_with_a_daily_cycle(table: pl.DataFrame) -> None:
    submit = table["submit"].to_numpy()
    assert submit[0] == 0.0
    assert np.all(np.diff(submit) >= 0)
    hour = (submit % 86400.0) // 3600.0
    day = float(np.mean((hour >= 9) & (hour < 17))) / 8
    night = float(np.mean(hour < 6)) / 6
    assert day > 2 * night


def test_start_time_and_load_scale_shift_and_compress() -> None:
    base = generate(3000, seed=9)
    shifted = generate(3000, seed=9, start_time=1_000_000.0)
    np.testing.assert_allclose(
        shifted["submit"].to_numpy(), base["submit"].to_numpy() + 1_000_000.0
    )
    assert shifted["runtime"].equals(base["runtime"])
    fast = generate(3000, seed=9, load_scale=2.0)
    ratio = base["submit"].max() / fast["submit"].max()  # type: ignore[operator]
    assert 1.8 < ratio < 2.2


def test_users_have_zipf_like_popularity(table: pl.DataFrame) -> None:
    counts = table.group_by("user").len().sort("len", descending=True)
    assert counts.height > 50
    assert counts["user"][0] == "u1"
    top, second = counts["len"][0], counts["len"][1]
    assert 1.5 < top / second < 2.5  # P(k) ~ 1/k
    users_per_account = table.group_by("account").agg(pl.col("user").n_unique())
    assert users_per_account.height > 1
