"""Busy nodes of a real cluster: a node shared by jobs counts once; the machine from NodeList or
``sinfo --json`` (issue 21a, item 1)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
from typer.testing import CliRunner

from hpcsched.analytics.derive import prepare
from hpcsched.analytics.figures_system import utilisation
from hpcsched.analytics.insights import insights
from hpcsched.cli import app
from hpcsched.core.hostlist import expand_hostlist

from conftest import SHARED, require_shared

SACCT = SHARED / "data" / "sacct"
runner = CliRunner()


def _utilisation_insight(out: Path) -> dict[str, object]:
    data = json.loads((out / "insights.json").read_text("utf-8"))
    found = {i["key"]: i for i in data["tables"][0]["insights"]}
    insight: dict[str, object] = found["utilisation"]
    return insight


def test_real_sample_peaks_at_its_four_nodes(tmp_path: Path) -> None:
    sample = require_shared(SACCT / "local-slurm-sample.txt")
    result = runner.invoke(app, ["report", str(sample), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.stderr
    printed = " ".join(result.stdout.split())
    # the 4-node cluster n[1-4]: before, "peak 7" (a shared node counted once per job)
    assert "of 4 nodes (4 nodes seen in NodeList)" in printed
    assert "peak 4 nodes busy, 100%" in printed
    assert "machine size is unknown" not in printed
    numbers = _utilisation_insight(tmp_path)["numbers"]
    assert isinstance(numbers, dict)
    assert numbers["peak_busy"] == 4 and numbers["nodes"] == 4
    assert 0 < numbers["utilisation"] <= 1
    page = (tmp_path / "report.html").read_text("utf-8")
    assert "busy nodes \\u002f 4 (%)" in page  # the axis title, in the figure JSON
    assert "machine size: 4 nodes seen in NodeList" in page  # the chart's note


def test_sinfo_gives_the_machine_in_processors(tmp_path: Path) -> None:
    sample = require_shared(SACCT / "local-slurm-sample.txt")
    sinfo = require_shared(SACCT / "local-slurm-sinfo.json")  # n[1-4], 2 cpus each
    args = ["report", str(sample), "--sinfo", str(sinfo), "--out", str(tmp_path)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr
    assert "of 8 processors" in " ".join(result.stdout.split())
    numbers = _utilisation_insight(tmp_path)["numbers"]
    assert isinstance(numbers, dict)
    assert numbers["capacity"] == 8 and 0 < numbers["peak"] <= 1


def test_a_bad_sinfo_file_is_one_line(tmp_path: Path) -> None:
    sample = require_shared(SACCT / "local-slurm-sample.txt")
    bad = tmp_path / "sinfo.json"
    bad.write_text('{"nodes": [{"name": "n1"}]}')
    args = ["report", str(sample), "--sinfo", str(bad), "--out", str(tmp_path)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "sinfo.json: nodes[0]" in result.stderr


def _shared_node_table() -> pl.DataFrame:
    """Jobs 1 and 2 share n1 over [10, 20); job 3 holds n[2-3] over [15, 30)."""
    return pl.DataFrame(
        {
            "job_id": ["1", "2", "3"],
            "user": ["a", "b", "a"],
            "submit": [0.0, 0.0, 0.0],
            "start": [10.0, 12.0, 15.0],
            "end": [20.0, 18.0, 30.0],
            "nodes": [1, 1, 2],
            "cpus": [1, 1, 4],
            "state": ["completed"] * 3,
            "sacct_nodelist": ["n1", "n1", "n[2-3]"],
        }
    )


def test_two_jobs_on_one_node_count_once() -> None:
    prep = prepare(_shared_node_table())
    found = {i.key: i for i in insights(prep)}["utilisation"]
    # at t in [15, 18) all three run: 4 by the sum of node counts, 3 distinct nodes
    assert found.numbers["peak_busy"] == 3 and found.numbers["nodes"] == 3
    # busy node-seconds: n1 [10, 20) once (10, not 16) + n2, n3 [15, 30) (15 each) = 40 over 30 s
    assert abs(found.numbers["mean_busy"] - 40 / 30) < 1e-12
    assert "of 3 nodes (3 nodes seen in NodeList)" in found.text
    fig = utilisation(prep, "u", None)
    assert max(fig.data[0].y) <= 100.0 + 1e-9
    assert fig.layout.yaxis.title.text == "busy nodes / 3 (%)"


def test_without_node_lists_the_sum_is_said_to_be_one() -> None:
    table = _shared_node_table().drop("sacct_nodelist")
    found = {i.key: i for i in insights(table)}["utilisation"]
    assert found.numbers["peak_busy"] == 4 and "machine size is unknown" in found.text
    note = utilisation(prepare(table), "u", None).layout.meta["note"]
    assert "summed" in note


def test_hostlists_expand_with_their_padding() -> None:
    assert expand_hostlist("n[1-3,5],gpu[08-10]") == [
        *("n1", "n2", "n3", "n5"),
        *("gpu08", "gpu09", "gpu10"),
    ]
