"""`hpcsched report --save-table`: one command from a sacct dump to a job table and a report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from hpcsched.cli import app
from hpcsched.workloads.load import load_jobs

from conftest import SHARED, require_shared

SAMPLE = SHARED / "data" / "sacct" / "local-slurm-sample.txt"
runner = CliRunner()


def _report(*args: str) -> dict[str, Any]:
    result = runner.invoke(app, ["report", *args, "--json"])
    assert result.exit_code == 0, result.stderr
    payload: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return payload


def test_sacct_dump_to_table_and_report_in_one_command(tmp_path: Path) -> None:
    sample = require_shared(SAMPLE)
    saved = tmp_path / "tables" / "jobs.parquet"
    saved.parent.mkdir()  # a missing folder is refused, not made (issue 22, finding 13)
    first = _report(
        str(sample), "--save-table", str(saved), "--procs", "64", "--out", str(tmp_path / "a")
    )
    assert first["table"] == str(saved) and Path(first["report"]).is_file()
    # the saved table is the table the report read (every column, sacct_* ones included) ...
    loaded = load_jobs(saved)
    read = load_jobs(sample).table
    assert loaded.table.equals(read) and "sacct_cancelled_by" in loaded.table.columns
    assert loaded.machine_procs == 64  # ... with the machine size in its metadata
    # so a report of the saved table says the same, machine size included, without --procs
    again = _report(str(saved), "--out", str(tmp_path / "b"))
    assert again["insights"] == first["insights"]
    assert any("of 64 processors" in text for text in again["insights"])


def test_machine_size_comes_from_the_input_when_no_procs(tmp_path: Path) -> None:
    swf = tmp_path / "t.swf"
    swf.write_text(
        "; MaxProcs: 8\n"
        "1 0 5 60 2 -1 -1 2 120 -1 1 1 1 -1 1 -1 -1 -1\n"
        "2 10 0 30 4 -1 -1 4 60 -1 1 2 1 -1 1 -1 -1 -1\n"
    )
    saved = tmp_path / "t.parquet"
    _report(str(swf), "--save-table", str(saved), "--out", str(tmp_path / "r"))
    loaded = load_jobs(saved)
    assert loaded.machine_procs == 8 and loaded.table.height == 2
    assert loaded.table["cpus"].to_list() == [2, 4]
    assert load_jobs(saved).machine_procs == 8


def test_save_table_needs_a_parquet_path(tmp_path: Path) -> None:
    sample = require_shared(SAMPLE)
    target = tmp_path / "jobs.csv"
    result = runner.invoke(
        app, ["report", str(sample), "--save-table", str(target), "--out", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and ".parquet" in result.stderr
    assert not target.exists() and not (tmp_path / "report.html").exists()


def test_unwritable_table_path_is_one_line(tmp_path: Path) -> None:
    sample = require_shared(SAMPLE)
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = runner.invoke(
        app,
        [
            "report",
            str(sample),
            "--save-table",
            str(blocker / "jobs.parquet"),
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "is a file, not a folder" in result.stderr
    assert "Traceback" not in result.stderr


def test_category_columns_keep_their_values_and_long_lists_are_trimmed(tmp_path: Path) -> None:
    """Category columns round-trip through the Parquet table. Polars hands every category
    column the one list of all categories the process has seen: a long list is cut to the
    values the column uses (a short one is written whole, which costs no space)."""
    import polars as pl
    import pyarrow.parquet as pq

    from hpcsched.core.schema import conform
    from hpcsched.workloads.load import write_table

    pl.Series([f"other-{i}" for i in range(70_000)], dtype=pl.Categorical)  # a long global list
    kth = require_shared(SHARED / "data" / "traces" / "KTH-SP2-1996-2.1-cln.swf.gz")
    base = load_jobs(kth).table.head(3)
    table = pl.concat(
        [
            base.head(2).with_columns(sacct_flags=pl.lit("SchedMain").cast(pl.Categorical)),
            base.tail(1).with_columns(sacct_flags=pl.lit("SchedBackfill").cast(pl.Categorical)),
        ],
        rechunk=False,
    )
    path = tmp_path / "t.parquet"
    write_table(table, path)
    column = pq.read_table(path, columns=["sacct_flags"])["sacct_flags"]
    assert sorted(column.chunk(0).dictionary.to_pylist()) == ["SchedBackfill", "SchedMain"]
    back = conform(pl.read_parquet(path))
    assert back["sacct_flags"].cast(pl.String).to_list() == ["SchedMain"] * 2 + ["SchedBackfill"]
    assert back["job_id"].to_list() == table["job_id"].to_list()
