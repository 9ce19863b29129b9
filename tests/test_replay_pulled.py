"""Real vs simulated waits: pull what the REAL local cluster ran, replay it, compare the waits.

Four 4-CPU jobs of ~3 s on the 8-CPU cluster (``scripts/slurm-local.sh start``): two run, two
wait. ``trace pull`` reads them back from sacct, ``simulate --policy easy --procs 8`` replays the
pulled table (cpus, submit, runtime, timelimit from sacct), and ``report --compare`` states the
real and simulated waits. Skips without a cluster, fails under CI=true.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from hpcsched.cli import app
from hpcsched.core.durations import duration_text
from hpcsched.slurm import DELIMITER, SlurmAdapter

pytestmark = pytest.mark.slurm


def wait_final(slurm: SlurmAdapter, ids: list[str], timeout: float = 90) -> None:
    fields = ("JobID", "State", "Partition")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = slurm.sacct(ids, fields=fields, duplicates=False)
        rows = [line.split(DELIMITER) for line in text.splitlines()[1:]]
        done = {r[0] for r in rows if r[1] == "COMPLETED" and r[2]}
        if done >= set(ids):
            return
        time.sleep(1)
    pytest.fail(f"jobs {ids} did not complete within {timeout:g} s")


def test_live_pulled_table_replays_and_report_states_both_waits(
    slurm: SlurmAdapter, tmp_path: Path
) -> None:
    since = (datetime.now(UTC) - timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%S")
    args = ["-o", "/dev/null", "--chdir=/tmp", "--time=1", "--ntasks=4", "--job-name=h15-replay"]
    ids = [str(slurm.sbatch("#!/bin/bash\nsleep 3\n", extra_args=args)) for _ in range(4)]
    try:
        wait_final(slurm, ids)
    finally:
        for job_id in ids:
            slurm.scancel(job_id)
    runner = CliRunner()
    pulled, sim = tmp_path / "pulled.parquet", tmp_path / "sim.parquet"
    cache = ["--cache-dir", str(tmp_path / "cache")]
    got = runner.invoke(app, ["trace", "pull", "--since", since, "--out", str(pulled), *cache])
    assert got.exit_code == 0, got.output
    # only our jobs: other sessions share the cluster, and the replay should be predictable
    table = pl.read_parquet(pulled).filter(pl.col("job_id").is_in(ids))
    assert table.height == 4 and table["cpus"].to_list() == [4] * 4
    assert (table["runtime"] >= 3).all() and (table["timelimit"] == 60).all()
    ours = tmp_path / "ours.parquet"
    table.write_parquet(ours)
    got = runner.invoke(
        app, ["simulate", str(ours), "--policy", "easy", "--procs", "8", "--out", str(sim)]
    )
    assert got.exit_code == 0, got.output
    replay = pl.read_parquet(sim).sort("submit", "job_id")
    waits = sorted((replay["start"] - replay["submit"]).to_list())
    # 8 CPUs hold two 4-CPU jobs: the last two wait about one runtime in the replay
    assert waits[:2] == [0, 0] and min(waits[2:]) >= 2
    real = sorted((table["start"] - table["submit"]).to_list())
    report = ["report", str(ours), "--compare", str(sim), "--procs", "8", "--json"]
    got = runner.invoke(app, [*report, "--out", str(tmp_path / "r")])
    assert got.exit_code == 0, got.output
    contrasts = json.loads(got.output.strip().splitlines()[-1])["compare_insights"]
    sentence = next(c for c in contrasts if c.startswith("Median wait"))
    median_real = (real[1] + real[2]) / 2
    median_sim = (waits[1] + waits[2]) / 2
    expected = (
        f"Median wait was {duration_text(median_real)} under ours vs "
        f"{duration_text(median_sim)} under sim"
    )
    assert sentence.startswith(expected), (sentence, expected)
