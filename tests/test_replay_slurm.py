"""Replays of Slurm job tables that resemble Slurm (issue 21, item 3): whole nodes as the unit,
partitions as separate pools, and multifactor priority order, as the user sees them."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from hpcsched.cli import app
from hpcsched.core.schema import conform
from hpcsched.workloads.load import write_table

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def table_file(tmp_path: Path, rows: dict[str, list[object]], name: str = "t.parquet") -> Path:
    n = len(rows["nodes"])
    columns: dict[str, list[object]] = {
        "job_id": [str(i + 1) for i in range(n)],
        "user": ["u"] * n,
        "submit": [0.0] * n,
        "runtime": [10.0] * n,
        "timelimit": [60.0] * n,
        "state": ["completed"] * n,
        **rows,
    }
    path = tmp_path / name
    write_table(conform(pl.DataFrame(columns)), path)
    return path


@pytest.fixture
def nodes_only(tmp_path: Path) -> Path:
    """Three jobs that say their nodes and not their processors (sacct without AllocCPUS)."""
    return table_file(tmp_path, {"nodes": [2, 2, 1], "cpus": [None, None, None]})


def test_nodes_only_table_is_refused_in_one_line_when_replayed_in_cpus(nodes_only: Path) -> None:
    code, out, err = invoke("simulate", str(nodes_only), "--procs", "4")
    assert code != 0 and out == ""
    assert err.strip().count("\n") == 0
    assert "no job says how many cpus it asks for" in err and "--unit nodes" in err


def test_whole_nodes_replay(nodes_only: Path, tmp_path: Path) -> None:
    out_file = tmp_path / "sim.parquet"
    code, out, err = invoke(
        "simulate", str(nodes_only), "--unit", "nodes", "--nodes", "4", "--json",
        "--out", str(out_file),
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["jobs"] == 3
    starts = pl.read_parquet(out_file).sort("job_id")["start"].to_list()
    assert starts == [0.0, 0.0, 10.0]  # 2 + 2 nodes fill the 4; the 1-node job waits


def test_nodes_unit_needs_the_node_count(nodes_only: Path) -> None:
    code, _, err = invoke("simulate", str(nodes_only), "--unit", "nodes")
    assert code != 0 and err.strip().count("\n") == 0
    assert "--nodes N" in err


def test_nothing_fits_is_refused_not_zero_jobs(tmp_path: Path) -> None:
    big = table_file(tmp_path, {"nodes": [2, 3], "cpus": [4, 6]})
    code, out, err = invoke("simulate", str(big), "--unit", "nodes", "--nodes", "1")
    assert code != 0 and out == "" and err.strip().count("\n") == 0
    assert "none of the 2 jobs can be replayed" in err and "2 ask for more than" in err


SITE = """\
partitions:
  a: {nodes: "n[1-2]", max_walltime: 60, cpus_per_node: 4, mem_per_node: 1G, default: true}
  b: {nodes: "n[3-4]", max_walltime: 60, cpus_per_node: 4, mem_per_node: 1G}
qos:
  normal: {priority: 0}
"""


@pytest.fixture
def two_partitions(tmp_path: Path) -> tuple[Path, Path]:
    """Partition a's 2-node job fills a; a's 1-node job must wait though b has room."""
    table = table_file(
        tmp_path,
        {
            "nodes": [2, 1, 1, 1],
            "cpus": [8, 4, 4, 4],
            "partition": ["a", "a", "b", "gone"],
            "sacct_nodelist": ["n[1-2]", "n1", "n3", "x9"],
        },
    )
    site = tmp_path / "site.yaml"
    site.write_text(SITE)
    return table, site


def starts(path: Path) -> list[float | None]:
    return pl.read_parquet(path).sort("job_id")["start"].to_list()


def test_partitions_are_separate_pools(two_partitions: tuple[Path, Path], tmp_path: Path) -> None:
    table, site = two_partitions
    out = tmp_path / "sim.parquet"
    args = ["simulate", str(table), "--unit", "nodes", "--out", str(out)]
    code, text, err = invoke(*args, "--partitions", "site", "--site", str(site))
    assert code == 0, err
    assert "partitions as pools: a 2 nodes, b 2 nodes" in text
    assert "1 refused, 1 no partition" in text  # the job of partition "gone"
    assert starts(out) == [0.0, 10.0, 0.0, None]
    code, _, err = invoke(*args, "--nodes", "4")  # one machine: a's small job would not wait
    assert code == 0, err
    assert starts(out)[:3] == [0.0, 0.0, 0.0]


def test_partitions_from_nodelist(two_partitions: tuple[Path, Path], tmp_path: Path) -> None:
    table, _ = two_partitions
    code, text, err = invoke(
        "simulate", str(table), "--unit", "nodes", "--partitions", "nodelist", "--json"
    )
    assert code == 0, err
    data = json.loads(text)
    assert data["pools"] == "a 2 nodes, b 1 nodes, gone 1 nodes" and data["no_partition"] == 0
    code, _, err = invoke("simulate", str(table), "--partitions", "nodelist")  # cpus unknown
    assert code != 0 and err.strip().count("\n") == 0 and "--unit nodes" in err


def test_partitions_sharing_nodes_are_one_pool(tmp_path: Path) -> None:
    table = table_file(tmp_path, {"nodes": [1, 1], "cpus": [2, 2], "partition": ["debug", "batch"]})
    site = Path(__file__).parents[1] / "examples" / "site-local.yaml"
    code, text, err = invoke(
        "simulate", str(table), "--partitions", "site", "--site", str(site), "--json"
    )
    assert code == 0, err
    assert json.loads(text)["pools"] == "batch+debug 8 cpus"


def test_partitions_site_needs_the_site_file(two_partitions: tuple[Path, Path]) -> None:
    code, _, err = invoke("simulate", str(two_partitions[0]), "--partitions", "site")
    assert code != 0 and "--partitions site needs --site SITE.yaml" in err


def priority_site(tmp_path: Path, weights: str) -> Path:
    site = tmp_path / "prio.yaml"
    site.write_text(
        SITE.replace("normal: {priority: 0}", "normal: {priority: 10}\n  high: {priority: 100}")
        + f"priority: {{{weights}}}\n"
    )
    return site


def replayed(table: Path, site: Path | None, policy: str, tmp_path: Path) -> list[float | None]:
    out = tmp_path / "prio-sim.parquet"
    extra = ["--site", str(site)] if site else []
    args = ["simulate", str(table), "--unit", "nodes", "--nodes", "4", "--policy", policy]
    code, _, err = invoke(*args, *extra, "--out", str(out))
    assert code == 0, err
    return starts(out)


def test_qos_weight_lets_a_later_high_qos_job_go_first(tmp_path: Path) -> None:
    # job 1 fills the 4 nodes until 10; job 2 (normal) and job 3 (high, later) each need all 4
    table = table_file(
        tmp_path,
        {"nodes": [4, 4, 4], "submit": [0.0, 1.0, 2.0], "qos": ["normal", "normal", "high"]},
    )
    site = priority_site(tmp_path, "weight_qos: 10000")
    assert replayed(table, site, "slurm", tmp_path) == [0.0, 20.0, 10.0]
    assert replayed(table, None, "slurm", tmp_path) == [0.0, 10.0, 20.0]  # no weights: FCFS


def test_age_weight_overtakes_qos_after_max_age(tmp_path: Path) -> None:
    # the machine is full until 100; at 100 job 2 has waited 99 s of PriorityMaxAge's 100 s:
    # 10 (QoS) + 990 (age) beats job 3's 100 (QoS) + 100 (age)
    table = table_file(
        tmp_path,
        {
            "nodes": [4, 4, 4],
            "submit": [0.0, 1.0, 90.0],
            "runtime": [100.0, 10.0, 10.0],
            "timelimit": [100.0, 10.0, 10.0],
            "qos": ["normal", "normal", "high"],
        },
    )
    aged = priority_site(tmp_path, 'weight_qos: 100, weight_age: 1000, max_age: "1:40"')
    assert replayed(table, aged, "slurm", tmp_path) == [0.0, 100.0, 110.0]
    young = priority_site(tmp_path, "weight_qos: 100")
    assert replayed(table, young, "slurm", tmp_path) == [0.0, 110.0, 100.0]


def test_fairshare_favours_the_user_with_less_usage(tmp_path: Path) -> None:
    # heavy ran 0-100 on 4 nodes; light's job runs 100-200; at 200 heavy's job (released at
    # 150, fair-share 2^(-1/0.5) = 0.25) yields to light's (released at 151, no usage ended)
    table = table_file(
        tmp_path,
        {
            "nodes": [4, 4, 4, 4],
            "user": ["heavy", "light", "heavy", "light"],
            "submit": [0.0, 100.0, 150.0, 151.0],
            "start": [0.0, 100.0, 200.0, 300.0],
            "end": [100.0, 200.0, 300.0, 400.0],
            "runtime": [100.0] * 4,
            "timelimit": [100.0] * 4,
        },
    )
    site = priority_site(tmp_path, "weight_fairshare: 1000")
    assert replayed(table, site, "slurm", tmp_path) == [0.0, 100.0, 300.0, 200.0]
    assert replayed(table, None, "slurm", tmp_path) == [0.0, 100.0, 200.0, 300.0]


def test_cycle_decides_once_an_instant_or_at_scheduler_passes(tmp_path: Path) -> None:
    # a normal and a high-QoS job released at the same instant, each needing the whole machine
    table = table_file(
        tmp_path,
        {"nodes": [4, 4, 4], "submit": [0.0, 0.0, 25.0], "qos": ["normal", "high", "normal"]},
    )
    site = priority_site(tmp_path, "weight_qos: 10000")
    out = tmp_path / "cycle.parquet"
    base = ["simulate", str(table), "--unit", "nodes", "--nodes", "4", "--policy", "slurm"]
    base += ["--site", str(site), "--out", str(out)]
    for extra, expected in (
        ([], [0.0, 10.0, 25.0]),  # pyss: a decision after each event; the normal job came first
        (["--cycle", "0"], [10.0, 0.0, 25.0]),  # both seen at once: priority decides
        (["--cycle", "4"], [12.0, 0.0, 28.0]),  # passes at 0, 4, 8, 12 (after the end at 10), 28
    ):
        code, _, err = invoke(*base, *extra)
        assert code == 0, err
        assert starts(out) == expected, extra
