"""Per-class results show starvation (issue 21, item 8): jobs, mean, P95 and max wait per policy
and class, in the table and in --json, with the line that says what the classes are."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

from hpcsched.cli import app
from hpcsched.core.durations import duration_text

runner = CliRunner()
CTC = "CTC-SP2-1996-3.1-cln.swf.gz"


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def swf_line(job: int, submit: int, run: int, procs: int) -> str:
    fields = [job, submit, -1, run, procs, -1, -1, procs, run, -1, 1, 1 + job % 3, 1, -1, 1, 1]
    return " ".join(str(f) for f in [*fields, -1, -1])


@pytest.fixture
def crowded_trace(tmp_path: Path) -> Path:
    """8 processors, hour-long jobs of 1 to 8 processors arriving faster than they run: the small
    jobs (class 2 under the size rule) queue behind the wide ones under PriorityBF."""
    sizes = [1, 1, 2, 1, 8, 1, 4, 1, 1, 6]
    lines = [swf_line(i + 1, i * 600, 3600 * (1 + i % 3), sizes[i % 10]) for i in range(60)]
    path = tmp_path / "crowded.swf"
    path.write_text("; MaxProcs: 8\n; MaxNodes: 8\n; UnixStartTime: 0\n" + "\n".join(lines) + "\n")
    return path


def expected_per_class(trace: Path, policy: str, tmp_path: Path) -> dict[str, dict[str, Any]]:
    """The waits per class recomputed from the simulated job table itself."""
    out = tmp_path / f"{policy}.parquet"
    code, _, err = invoke("simulate", str(trace), "--policy", policy, "--out", str(out), "--json")
    assert code == 0, err
    table = pl.read_parquet(out).filter(pl.col("start").is_not_null() & pl.col("end").is_not_null())
    expected = {}
    for (level,), group in table.group_by("priority_class"):
        wait = (group["start"] - group["submit"]).cast(pl.Float64)
        expected[str(level)] = {
            "jobs": group.height,
            "share": round(group.height / table.height, 4),
            "avg_wait": round(float(wait.mean()), 1),  # type: ignore[arg-type]
            "p95_wait": round(float(wait.quantile(0.95, "linear")), 1),  # type: ignore[arg-type]
            "max_wait": float(wait.max()),  # type: ignore[arg-type]
        }
    return expected


def test_compare_json_has_jobs_and_waits_per_class(crowded_trace: Path, tmp_path: Path) -> None:
    code, out, err = invoke(
        "compare", str(crowded_trace), "--policies", "easy,prioritybf", "--json"
    )
    assert code == 0, err
    rows = json.loads(out)
    for row in rows:
        assert row["classes"].startswith("size: class 0 = more than")
        want = expected_per_class(crowded_trace, row["policy"], tmp_path)
        got = {
            level: {
                key: values[key] for key in ("jobs", "share", "avg_wait", "p95_wait", "max_wait")
            }
            for level, values in row["per_class"].items()
        }
        assert got == want
    prioritybf = rows[1]["per_class"]
    assert prioritybf["2"]["max_wait"] > rows[0]["per_class"]["2"]["max_wait"]  # starved


def test_compare_table_shows_waits_per_class_in_human_units(
    crowded_trace: Path, tmp_path: Path
) -> None:
    code, out, err = invoke("compare", str(crowded_trace), "--policies", "easy,prioritybf")
    assert code == 0, err
    assert "waits per priority class (0 = highest)" in out
    header = next(line for line in out.splitlines() if "p95 wait" in line)
    assert [c.strip() for c in header.split("┃")[1:-1]] == [
        "policy",
        "class",
        "jobs",
        "mean wait",
        "p95 wait",
        "max wait",
        "median resp.",
    ]
    lines = [[c.strip() for c in line.split("│")[1:-1]] for line in out.splitlines()]
    for policy in ("easy", "prioritybf"):
        for level, want in expected_per_class(crowded_trace, policy, tmp_path).items():
            cells = [
                f"{want['jobs']:,} ({want['share']:.0%})",
                duration_text(want["avg_wait"]),
                duration_text(want["p95_wait"]),
                duration_text(want["max_wait"]),
            ]
            assert any(line[:2] == [policy, level] and line[2:6] == cells for line in lines)
    caption = [line for line in out.splitlines() if line.startswith("classes: ")]
    assert caption == [
        f"classes: {json.loads(invoke('compare', str(crowded_trace), '--json')[1])[0]['classes']}"
    ]


def test_demo_says_what_the_classes_are(tmp_path: Path) -> None:
    code, out, err = invoke("demo", "--out", str(tmp_path / "d"), "--jobs", "300")
    assert code == 0, err
    assert "waits per priority class (0 = highest)" in out
    assert any(line.startswith("classes: size: class 0 = more than") for line in out.splitlines())


def test_ctc_sp2_prioritybf_starves_the_small_jobs(traces_dir: Path) -> None:
    """The issue's trace: class 2 (78 % of the jobs) waits 2.3 d on average under PriorityBF
    against 3.0 h under EASY, and up to 39.7 d (a median response of 3.2 h hid it)."""
    trace = str(traces_dir / CTC)
    code, out, err = invoke("compare", trace, "--policies", "easy,prioritybf", "--json")
    assert code == 0, err
    easy, pbf = (row["per_class"]["2"] for row in json.loads(out))
    assert easy["jobs"] == pbf["jobs"] == 60424 and pbf["share"] == 0.7825
    assert duration_text(easy["avg_wait"]) == "3.0 h"
    assert duration_text(pbf["avg_wait"]) == "2.3 d" and pbf["avg_wait"] > 55 * 3600
    assert duration_text(pbf["max_wait"]) == "39.7 d"
    code, out, err = invoke("compare", trace, "--policies", "easy,prioritybf")
    assert code == 0, err
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in out.splitlines()]
    assert ["prioritybf", "2", "60,424 (78%)", "2.3 d", "13.8 d", "39.7 d", "3.2 h"] in rows
    assert ["easy", "2", "60,424 (78%)", "3.0 h", "14.4 h", "3.2 d", "2.3 h"] in rows
    assert (
        "classes: size: class 0 = more than 32 cpus (P90), class 2 = fewer than 16 (P80), "
        "class 1 between"
    ) in out.splitlines()
