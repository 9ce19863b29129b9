"""`report --compare` of a real sacct dump with its simulation: end states kept, one y scale per
chart pair, the Δ table, summary tables that fit (issue 21a, item 2)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

from hpcsched.analytics import FIGURE_TITLES
from hpcsched.analytics.usage import USAGE_TITLES
from hpcsched.cli import app
from hpcsched.core.durations import duration_text
from hpcsched.core.schema import conform
from hpcsched.policies.registry import get_policy
from hpcsched.sim.simulate import simulate
from hpcsched.workloads.load import load_jobs

from browser import chrome  # noqa: F401  (fixture)
from conftest import SHARED, require_shared

SACCT = SHARED / "data" / "sacct"
runner = CliRunner()


@pytest.fixture
def compared(tmp_path: Path) -> tuple[Path, dict[str, Any], Path]:
    """(report.html, the --json payload, the simulated table) of the sample vs its simulation."""
    sample = require_shared(SACCT / "local-slurm-sample.txt")
    sim = tmp_path / "sim.parquet"
    done = runner.invoke(app, ["simulate", str(sample), "--procs", "8", "--out", str(sim)])
    assert done.exit_code == 0, done.stderr
    out = tmp_path / "report"
    args = ["report", str(sample), "--compare", str(sim), "--out", str(out), "--json"]
    done = runner.invoke(app, args)
    assert done.exit_code == 0, done.stderr
    payload: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return Path(payload["report"]), payload, sim


def _states(table: pl.DataFrame) -> dict[str, int]:
    return dict(table["state"].value_counts().iter_rows())


def test_the_simulation_keeps_the_real_end_states(compared: tuple[Path, Any, Path]) -> None:
    page, payload, sim = compared
    real = load_jobs(SACCT / "local-slurm-sample.txt").table
    assert _states(pl.read_parquet(sim)) == _states(real)
    assert _states(real)["failed"] == 2  # before: every job of the simulation "completed"
    # what the page says of each table: 22 of 27 completed in both, not 100 % in the simulation
    assert (
        payload["insights"].count(
            "27 jobs from 2 users were submitted over 19 s; 22 (81%) completed."
        )
        == 2
    )
    assert "(100%) completed" not in page.read_text("utf-8")
    # the dump has no machine size: it takes the simulated one (simulate --procs 8), so that
    # utilisation is one measure in both
    assert any(c.startswith("Utilisation was 10% under") for c in payload["compare_insights"])


def _delta_rows(page: str, by: str) -> list[list[str]]:
    table = re.search(rf'<table class="delta-table" data-by="{by}">(.*?)</table>', page)
    assert table is not None, f"no Δ table by {by}"
    body = table.group(1).split("<tbody>")[1]
    return [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in body.split("</tr>") if "<td" in row]


def test_the_delta_table_holds_simulated_minus_real(compared: tuple[Path, Any, Path]) -> None:
    page_path, _, sim = compared
    page = page_path.read_text("utf-8")
    assert "Δ sim − local-slurm-sample" in page
    real = load_jobs(SACCT / "local-slurm-sample.txt").table
    expected = {}
    for name, table in (("real", real), ("sim", pl.read_parquet(sim))):
        waits = table.with_columns((pl.col("start") - pl.col("submit")).alias("wait"))
        by_qos = waits.group_by("qos").agg(pl.len(), pl.col("wait").mean())
        expected[name] = {q: (n, w) for q, n, w in by_qos.iter_rows()}
    rows = {r[0]: r for r in _delta_rows(page, "qos")}
    assert set(rows) == {"normal", "high", "low"}
    for qos, row in rows.items():
        (n_real, w_real), (n_sim, w_sim) = expected["real"][qos], expected["sim"][qos]
        assert row[1:4] == [str(n_real), str(n_sim), "±0"]
        assert row[4:6] == [duration_text(w_real), duration_text(w_sim)]
        sign = "−" if w_sim < w_real else "+" if w_sim > w_real else "±"
        assert row[6] == f"{sign}{duration_text(abs(w_sim - w_real))}"
    # the sample: qos normal waited 12 s on average for real and 9 s simulated with EASY
    assert rows["normal"][4:7] == ["12 s", "9 s", "−3 s"]
    sizes = {r[0]: r for r in _delta_rows(page, "size_class")}
    assert set(sizes) == {"1", "2"} and sizes["1"][1:3] == ["26", "26"]


def _plots(page: str) -> dict[str, dict[str, Any]]:
    """Each chart's layout, read from its ``Plotly.newPlot(id, data, layout, config)`` call."""
    decoder = json.JSONDecoder()
    layouts = {}
    for match in re.finditer(r'Plotly\.newPlot\(\s*"([^"]+)",\s*', page):
        _, end = decoder.raw_decode(page, match.end())  # the traces
        rest = page[end:].lstrip().removeprefix(",").lstrip()
        layouts[match.group(1)] = decoder.raw_decode(rest)[0]
    return layouts


def test_chart_pairs_share_their_y_range(compared: tuple[Path, Any, Path]) -> None:
    page_path, _, _ = compared
    layouts = _plots(page_path.read_text("utf-8"))
    assert len(layouts) == 2 * (len(FIGURE_TITLES) + len(USAGE_TITLES))
    shared = []
    for key in FIGURE_TITLES:
        a, b = layouts[key], layouts[f"{key}-1"]
        if a["meta"].get("shared_y"):
            assert a["yaxis"]["range"] == b["yaxis"]["range"], key
            assert b["meta"].get("shared_y")
            shared.append(key)
    # the stacked bars had no range of their own; both pending-jobs charts now go up to 25
    assert {"states_per_user", "queue_length", "wait_by_state", "utilisation"} <= set(shared)
    assert layouts["queue_length"]["yaxis"]["range"][1] == pytest.approx(26.25)


def test_summary_tables_fit_in_a_real_browser(
    compared: tuple[Path, Any, Path],
    chrome: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    page_path, _, _ = compared
    chrome.get(page_path.as_uri())
    deadline = time.monotonic() + 30
    while chrome.execute_script("return document.querySelectorAll('.main-svg').length") < 20:
        assert time.monotonic() < deadline, "the charts were not drawn"
        time.sleep(0.2)
    cut = chrome.execute_script(
        """return Array.from(document.querySelectorAll('table')).filter(t => {
             const box = t.getBoundingClientRect(), wrap = t.parentElement;
             return box.right > document.documentElement.clientWidth
                 || wrap.scrollWidth > wrap.clientWidth; }).length"""
    )
    assert cut == 0  # before: each table sat in the right half of a grid row, cut at the edge
    ranges = chrome.execute_script(
        "return ['utilisation', 'utilisation-1'].map("
        "id => document.getElementById(id)._fullLayout.yaxis.range)"
    )
    assert ranges[0] == ranges[1]
    chrome.execute_script("document.querySelectorAll('h2')[1].scrollIntoView()")
    shot = tmp_path / "compare.png"
    chrome.save_screenshot(str(shot))
    assert shot.stat().st_size > 30_000  # a page of tables and text, not a blank
    assert [e for e in chrome.get_log("browser") if e["level"] == "SEVERE"] == []


def test_simulate_keeps_states_and_drops_node_lists() -> None:
    table = conform(
        pl.DataFrame(
            {
                "job_id": ["1", "2", "3"],
                "user": ["a", "a", "b"],
                "submit": [0.0, 0.0, 0.0],
                "runtime": [50.0, 10.0, 20.0],
                "timelimit": [30.0, 60.0, 60.0],
                "cpus": [1, 1, 1],
                "state": ["completed", "failed", "running"],
                "sacct_nodelist": ["n1", "n1", "n2"],
            }
        )
    )
    policy = get_policy("easy")
    out = simulate(table, policy, 2, kill_at_timelimit=True).table.sort("job_id")
    # killed by the replay -> timeout; failed stays failed; not finished for real -> completed
    assert out["state"].to_list() == ["timeout", "failed", "completed"]
    assert out["sacct_nodelist"].null_count() == 3  # the replay placed no job on a named node
