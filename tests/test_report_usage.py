"""The report's usage views: core-hours by account and user, the weekly wait trend, the
submissions heatmap (issue 21a, item 3)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
from typer.testing import CliRunner

from hpcsched.analytics.derive import prepare
from hpcsched.analytics.usage import (
    backfill_trend,
    core_hours_table,
    submissions_heatmap,
    wait_trend,
)
from hpcsched.cli import app

from conftest import SHARED, require_shared

SACCT = SHARED / "data" / "sacct"
runner = CliRunner()


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def _jobs() -> pl.DataFrame:
    """Four users of two accounts; jobs submitted in two ISO weeks of 2026."""
    submit = [
        _epoch("2026-11-16T09:10:00"),  # Monday 09 h
        _epoch("2026-11-16T09:50:00"),  # Monday 09 h
        _epoch("2026-11-20T22:00:00"),  # Friday 22 h
        _epoch("2026-11-24T03:00:00"),  # Tuesday 03 h, next week
    ]
    wait = [60.0, 120.0, 3600.0, 7200.0]
    return pl.DataFrame(
        {
            "user": ["ann", "bob", "cy", "dee"],
            "account": ["phys", "phys", "chem", "bio"],
            "submit": submit,
            "start": [s + w for s, w in zip(submit, wait, strict=True)],
            "end": [s + w + 3600.0 for s, w in zip(submit, wait, strict=True)],
            "cpus": [8, 4, 2, 1],
            "nodes": [1, 1, 1, 1],
            "state": ["completed"] * 4,
        }
    )


def test_core_hours_name_the_top_and_sum_the_rest() -> None:
    prep = prepare(_jobs())
    accounts = core_hours_table(prep, "account")
    assert accounts.rows() == [
        ("phys", 2, 12.0, 12 / 15),
        ("chem", 1, 2.0, 2 / 15),
        ("bio", 1, 1.0, 1 / 15),
    ]
    users = core_hours_table(prep, "user", top=2)
    assert users["group"].to_list() == ["ann", "bob", "others (2)"]
    assert users["core_hours"].to_list() == [8.0, 4.0, 3.0]
    assert abs(users["share"].sum() - 1.0) < 1e-12


def test_weekly_wait_trend_starts_weeks_on_monday() -> None:
    fig = wait_trend(prepare(_jobs()), "w")
    mean = next(t for t in fig.data if t.name == "mean wait")
    weeks = [str(x)[:10] for x in mean.x]
    assert weeks == ["2026-11-16", "2026-11-23"]  # Mondays (UTC)
    assert fig.layout.yaxis.title.text == "wait (hours)"
    # week 1: (1 + 2 + 60) min / 3 = 21 min = 0.35 h; week 2: 2 h
    assert [round(float(y), 6) for y in mean.y] == [0.35, 2.0]


def test_submissions_heatmap_counts_weekday_and_hour() -> None:
    fig = submissions_heatmap(prepare(_jobs()), "h")
    z = fig.data[0].z
    assert (z[0][9], z[4][22], z[1][3]) == (2, 1, 1)  # Mon 09 h, Fri 22 h, Tue 03 h
    assert sum(map(sum, z)) == 4


def test_backfill_trend_is_the_weekly_share_of_started_jobs_backfilled() -> None:
    # week 1: jobs 1-3 started, one backfilled, one flag unknown; week 2: job 4 backfilled;
    # a fifth job in week 2 never started and does not count
    table = pl.concat(
        [_jobs(), _jobs().tail(1).with_columns(pl.lit(None, dtype=pl.Float64).alias("start"))]
    ).with_columns(backfilled=pl.Series([True, None, False, True, False]))
    fig = backfill_trend(prepare(table), "b")
    (trace,) = fig.data
    assert [str(x)[:10] for x in trace.x] == ["2026-11-16", "2026-11-23"]
    assert [float(y) for y in trace.y] == [50.0, 100.0]
    assert fig.layout.yaxis.title.text == "jobs backfilled (%)" and fig.layout.meta["jobs"] == 3
    one = backfill_trend(prepare(table.head(3)), "b")  # one week: a week either side of it
    assert [str(t)[:10] for t in one.layout.xaxis.range] == ["2026-11-09", "2026-11-23"]
    unknown = backfill_trend(prepare(_jobs()), "b")  # no flag at all: said, not drawn as 0 %
    assert unknown.layout.meta["skipped"] and "backfilled" in unknown.layout.meta["note"]


def test_relative_times_have_no_weekdays() -> None:
    table = _jobs().with_columns(pl.col("submit", "start", "end") - 1.79e9 + 1000)
    fig = submissions_heatmap(prepare(table), "h")
    assert fig.layout.meta["skipped"] and "no weekdays" in fig.layout.meta["note"]


def test_report_shows_the_real_sample_consumers(tmp_path: Path) -> None:
    sample = require_shared(SACCT / "local-slurm-sample.txt")
    result = runner.invoke(app, ["report", str(sample), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.stderr
    page = (tmp_path / "report.html").read_text("utf-8")
    assert "Core-hours by account (top 10)" in page and "Core-hours by user (top 10)" in page
    table = re.search(r'<table data-by="account">.*?<tbody>(.*?)</tbody>', page)
    assert table is not None
    rows = [re.findall(r"<td>(.*?)</td>", r) for r in table.group(1).split("</tr>") if r]
    # research: 26 jobs, 153 core-seconds of 157 (0.0425 of 0.0436 core-hours)
    assert rows == [["research", "26", "0.043", "97%"], ["physics", "1", "0.0011", "2.5%"]]
    assert "Wait time per week of submission" in page
    assert "Submissions by hour and weekday (UTC)" in page
