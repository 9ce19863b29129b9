"""A job table written as Parquet, CSV, JSON Lines or SWF, by the name given to --out."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from hpcsched.workloads.export import table_format, write_job_table
from hpcsched.workloads.swf import read_swf

from conftest import SHARED, require_shared


def hpcsched(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "hpcsched.cli", *args]
    return subprocess.run(argv, capture_output=True, text=True, cwd=cwd, timeout=300)


@pytest.fixture
def sacct_sample() -> Path:
    return require_shared(SHARED / "data" / "sacct" / "local-slurm-sample.txt")


@pytest.fixture
def small_trace() -> Path:
    return require_shared(SHARED / "data" / "traces" / "lublin_256.swf.gz")


def test_the_name_gives_the_format() -> None:
    assert table_format("a/jobs.csv") == "CSV"
    assert table_format("jobs.ndjson") == table_format("jobs.jsonl") == "JSON Lines"
    assert table_format("t.swf.gz") == "SWF (gzip)"
    with pytest.raises(ValueError, match=r"\.parquet, \.csv"):
        table_format("jobs.txt")


def test_convert_writes_each_format_with_the_same_jobs(tmp_path: Path, sacct_sample: Path) -> None:
    base = tmp_path / "jobs.parquet"
    assert hpcsched("trace", "convert", str(sacct_sample), "--out", str(base)).returncode == 0
    table = pl.read_parquet(base)
    for name in ("jobs.csv", "jobs.jsonl", "jobs.swf"):
        proc = hpcsched("trace", "convert", str(sacct_sample), "--out", str(tmp_path / name))
        assert proc.returncode == 0, proc.stderr
        assert f"wrote {table.height} jobs to {tmp_path / name}" in proc.stdout
    csv = pl.read_csv(tmp_path / "jobs.csv", infer_schema_length=None)
    assert csv.columns == table.columns
    assert csv["job_id"].cast(pl.String).to_list() == table["job_id"].to_list()
    assert csv["cpus"].to_list() == table["cpus"].to_list()
    assert csv["state"].to_list() == table["state"].to_list()  # failures stay failures
    lines = (tmp_path / "jobs.jsonl").read_text().splitlines()
    assert len(lines) == table.height
    assert [json.loads(line)["submit"] for line in lines] == table["submit"].to_list()
    swf = read_swf(tmp_path / "jobs.swf")
    assert swf.table.height == table.height
    assert swf.table["cpus"].to_list() == table["cpus"].to_list()


def test_a_parquet_table_converts_to_csv(tmp_path: Path, sacct_sample: Path) -> None:
    base = tmp_path / "jobs.parquet"
    hpcsched("trace", "convert", str(sacct_sample), "--out", str(base))
    proc = hpcsched("trace", "convert", str(base), "--out", str(tmp_path / "again.csv"))
    assert proc.returncode == 0, proc.stderr
    assert pl.read_csv(tmp_path / "again.csv").height == pl.read_parquet(base).height


def test_a_simulated_table_as_swf_has_the_simulated_waits(
    tmp_path: Path, small_trace: Path
) -> None:
    for name in ("sim.parquet", "sim.swf"):
        proc = hpcsched(
            "simulate", str(small_trace), "--policy", "easy", "--out", str(tmp_path / name)
        )
        assert proc.returncode == 0, proc.stderr
    simulated = pl.read_parquet(tmp_path / "sim.parquet")
    written = read_swf(tmp_path / "sim.swf").table
    waits = (simulated["start"] - simulated["submit"]).round(0).to_list()
    assert written["swf_wait"].to_list() == waits  # not the trace's own waits (-1 in Lublin's)
    assert any(w > 0 for w in waits)


def test_a_name_with_another_ending_is_refused_before_reading(
    tmp_path: Path, sacct_sample: Path
) -> None:
    proc = hpcsched("trace", "convert", str(sacct_sample), "--out", str(tmp_path / "jobs.txt"))
    assert proc.returncode == 2
    line = proc.stderr.strip()
    assert line.startswith(f"hpcsched: error: cannot write {tmp_path / 'jobs.txt'}: it must end in")
    assert ".csv" in line and ".jsonl" in line and "\n" not in line
    assert not (tmp_path / "jobs.txt").exists()


def test_an_interrupted_csv_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: pl.DataFrame, file: Path) -> None:
        Path(file).write_text("job_id,user\n1,")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pl.DataFrame, "write_csv", broken)
    with pytest.raises(OSError):
        write_job_table(pl.DataFrame({"job_id": ["1"]}), tmp_path / "jobs.csv")
    assert list(tmp_path.iterdir()) == []


def test_a_run_exports_as_csv(tmp_path: Path) -> None:
    (tmp_path / "wf.yaml").write_text(
        "jobs:\n  - id: a\n    callable: hpcsched.runtime.builtin_tasks:noop\n"
    )
    assert hpcsched("run", "wf.yaml", "--cpus", "1", cwd=tmp_path).returncode == 0
    proc = hpcsched("export", "wf.run", "-o", "jobs.csv", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "1 tasks written to jobs.csv (CSV)"
    assert pl.read_csv(tmp_path / "jobs.csv")["state"].to_list() == ["completed"]
