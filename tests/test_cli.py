"""The command-line contract: JSON keys, windows, bad input as one line, plugins, Dask sweeps."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

from hpcsched.cli import app
from hpcsched.policies.registry import get_policy, registered_policies

runner = CliRunner()
HEADER = "; MaxProcs: 8\n; MaxNodes: 8\n; UnixStartTime: 0\n"


def swf_line(job: int, submit: int, run: int, procs: int, req: int, user: int = 1) -> str:
    fields = [job, submit, -1, run, procs, -1, -1, procs, req, -1, 1, user, 1, -1, 1, 1, -1, -1]
    return " ".join(str(f) for f in fields)


@pytest.fixture
def small_trace(tmp_path: Path) -> Path:
    lines = [swf_line(i + 1, i * 5, 10 + 7 * (i % 5), 1 + i % 8, 60, user=i % 3) for i in range(40)]
    path = tmp_path / "small.swf"
    path.write_text(HEADER + "\n".join(lines) + "\n")
    return path


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_simulate_json_has_the_contract_keys(small_trace: Path) -> None:
    code, out, _ = invoke("simulate", str(small_trace), "--json", "--classes", "size")
    assert code == 0
    data = json.loads(out)
    for key in (
        "jobs",
        "avg_wait",
        "avg_bsld",
        "max_bsld",
        "avg_flow",
        "utilization",
        "makespan",
        "sim_seconds",
        "jobs_per_second",
        "per_class",
    ):
        assert key in data, key
    assert data["jobs"] == 40
    assert set(data["per_class"]) <= {"0", "1", "2"}


def test_window_simulates_count_jobs_from_start(small_trace: Path) -> None:
    code, out, _ = invoke("simulate", str(small_trace), "--window", "5:10", "--json")
    assert code == 0
    assert json.loads(out)["jobs"] == 10


def test_out_table_round_trips_through_parquet(small_trace: Path, tmp_path: Path) -> None:
    out_file = tmp_path / "sim.parquet"
    code, _, _ = invoke(
        "simulate", str(small_trace), "--policy", "conservative", "--out", str(out_file)
    )
    assert code == 0
    table = pl.read_parquet(out_file)
    assert table["source"].unique().to_list() == ["sim:conservative"]
    assert (table["start"] >= table["submit"]).all()
    # the written table is itself a valid input (machine size kept in the file's metadata)
    code, out, _ = invoke("simulate", str(out_file), "--json")
    assert code == 0 and json.loads(out)["jobs"] == 40


def test_malformed_line_is_reported_and_the_rest_read(small_trace: Path) -> None:
    text = small_trace.read_text().splitlines()
    text.insert(10, "12 oops 3")
    small_trace.write_text("\n".join(text) + "\n")
    code, out, err = invoke("simulate", str(small_trace), "--json")
    assert code == 0
    assert json.loads(out)["malformed"] == 1 and json.loads(out)["jobs"] == 40
    assert f"{small_trace}:11:" in err
    code, _, err = invoke("simulate", str(small_trace), "--strict")
    assert code == 2
    assert f"{small_trace}:11" in err and len(err.strip().splitlines()) == 1


def test_job_larger_than_machine_is_refused_and_counted(small_trace: Path) -> None:
    with small_trace.open("a") as handle:
        handle.write(swf_line(99, 500, 10, 64, 60) + "\n")
    code, out, _ = invoke("simulate", str(small_trace), "--json")
    assert code == 0
    data = json.loads(out)
    assert data["refused"] == 1 and data["jobs"] == 40


def test_kill_at_timelimit_cuts_long_jobs(tmp_path: Path) -> None:
    path = tmp_path / "t.swf"
    path.write_text(HEADER + swf_line(1, 0, 100, 2, 30) + "\n" + swf_line(2, 1, 10, 2, 30) + "\n")
    out_file = tmp_path / "k.parquet"
    code, _, _ = invoke("simulate", str(path), "--kill-at-timelimit", "--out", str(out_file))
    assert code == 0
    table = pl.read_parquet(out_file).sort("job_id")
    assert table["state"].to_list() == ["timeout", "completed"]
    assert table["runtime"].to_list() == [30.0, 10.0]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["simulate", "no-such-file.swf"], "no such file"),
        (["simulate", "{trace}", "--policy", "nope"], "unknown policy"),
        (["simulate", "{trace}", "--order", "nope"], "unknown queue order"),
        (["simulate", "{trace}", "--backfill", "nope"], "unknown backfill variant"),
        (["simulate", "{trace}", "--window", "x"], "START:COUNT"),
        (["simulate", "{trace}", "--estimate", "nope"], "no such column"),
        (["simulate", "{trace}", "--classes", "nope"], "unknown class rule"),
        (["simulate", "{trace}", "--classes", "bottom-level"], "needs a workflow's DAG"),
        (["simulate", "{trace}", "--filter", "nope"], "unknown filter"),
    ],
)
def test_user_errors_are_one_line(small_trace: Path, args: list[str], needle: str) -> None:
    code, _, err = invoke(*[a.format(trace=small_trace) for a in args])
    assert code == 2
    assert needle in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_installed_command_reports_missing_file_without_traceback() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "hpcsched.cli", "simulate", "missing.swf.gz"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert (
        done.stderr.strip()
        == "hpcsched: error: cannot read missing.swf.gz: no such file (check the path)"
    )


def test_compare_gives_one_row_per_policy(small_trace: Path) -> None:
    code, out, _ = invoke(
        "compare", str(small_trace), "--policies", "fcfs,easy,prioritybf", "--json"
    )
    assert code == 0
    rows = json.loads(out)
    assert [r["policy"] for r in rows] == ["fcfs", "easy", "prioritybf"]
    assert rows[0]["avg_wait"] >= rows[1]["avg_wait"]  # backfilling never hurts this FCFS workload


def test_compare_on_a_dask_local_cluster(small_trace: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "hpcsched.cli",
            "compare",
            str(small_trace),
            "--policies",
            "fcfs,easy",
            "--json",
            "--dask",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout.strip().splitlines()[-1])
    local = json.loads(invoke("compare", str(small_trace), "--policies", "fcfs,easy", "--json")[1])
    assert [r["policy"] for r in rows] == ["fcfs", "easy"]
    assert all("worker_host" in r for r in rows)  # ran inside Dask workers
    assert [r["avg_bsld"] for r in rows] == [r["avg_bsld"] for r in local]


def test_demo_writes_the_job_tables(tmp_path: Path) -> None:
    code, out, _ = invoke("demo", "--out", str(tmp_path / "d"), "--jobs", "300")
    assert code == 0
    for name in ("workload", "fcfs", "easy", "conservative", "prioritybf"):
        assert (tmp_path / "d" / f"{name}.parquet").exists()
    assert "prioritybf" in out


def test_third_party_policy_registers_by_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_trace: Path
) -> None:
    package = tmp_path / "siteplug"
    package.mkdir()
    (package / "__init__.py").write_text(
        textwrap.dedent("""
        from hpcsched.policies.backfilling import BackfillPolicy
        POLICIES = {"site-sjf-easy": BackfillPolicy("site-sjf-easy", order="sjf", backfill="easy")}
    """)
    )
    info = tmp_path / "siteplug-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: siteplug\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[hpcsched.policies]\nsite = siteplug:POLICIES\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "site-sjf-easy" in registered_policies()
    assert get_policy("site-sjf-easy").name == "site-sjf-easy"
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "hpcsched.cli",
            "simulate",
            str(small_trace),
            "--policy",
            "site-sjf-easy",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["policy"] == "site-sjf-easy"


def _commands(group: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """Every command of the app with its path, groups included (``()`` is the app itself)."""
    found = [(path, group)]
    if hasattr(group, "commands"):  # a group (Typer's own Click classes)
        for name, command in group.commands.items():
            found += _commands(command, (*path, name))
    return found


def test_every_json_flag_is_the_one_option_and_no_flag_shows_a_value() -> None:
    import typer.main

    from hpcsched.cli.options import JsonOpt

    json_help = JsonOpt.__metadata__[0].help
    commands = _commands(typer.main.get_command(app))
    paths = [path for path, _ in commands]
    assert ("trace", "pull") in paths and ("campaign", "materials") in paths
    with_json = 0
    for path, command in commands:
        code, out, err = invoke(*path, "--help")
        assert code == 0, (path, err)
        assert "<bool>" not in out, path  # flags take no value
        if re.search(r"^│\s+--json\s", out, re.MULTILINE):  # an option row, not a mention
            with_json += 1
            assert " ".join(json_help.split()) in " ".join(out.replace("│", " ").split()), path
            (param,) = [p for p in command.params if "--json" in p.opts]
            assert param.name == "as_json", path
    assert with_json == 24  # then bus stats, agents log, swarm sim, swarm live, trace synth,
    # bench scheduling


def test_a_dag_order_on_a_trace_without_a_dag_is_fcfs(small_trace: Path) -> None:
    # every rank is 0 outside a workflow; the reference engine runs it (the kernel has no DAG)
    runs = {}
    for order in ("fcfs", "bottom-level"):
        code, out, err = invoke("simulate", str(small_trace), "--order", order, "--json")
        assert code == 0, err
        runs[order] = json.loads(out)
    assert runs["bottom-level"]["policy"] == "easy,order=bottom-level"
    assert runs["bottom-level"]["avg_wait"] == runs["fcfs"]["avg_wait"]
