"""The dashboard's callbacks, called as the browser calls them (a POST per change): insights
that follow the filters, the selection written to and read from the URL, compare mode with its
shared y scales and Δ table, and the usage charts (issue 21)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from dashboard_support import MIDNIGHT, SAMPLE, crafted_jobs, dash_post, no_filter
from hpcsched.analytics.dashboard import CHART_KEYS, make_app
from hpcsched.analytics.dashboard_filters import filter_jobs
from hpcsched.analytics.insights import insights
from hpcsched.analytics.usage import USAGE_TITLES
from hpcsched.cli import app as cli_app

from conftest import require_shared


def _components(node: Any) -> Any:
    yield node
    children = getattr(node, "children", None)
    for child in children if isinstance(children, list) else [children]:
        if child is not None and hasattr(child, "to_plotly_json"):
            yield from _components(child)


def _text(node: Any) -> str:
    """The text a component shows (its strings, depth first), as JSON from the callback or a
    component of the layout."""
    if isinstance(node, str):
        return node
    if isinstance(node, list):
        return " ".join(_text(n) for n in node)
    if isinstance(node, dict):
        return _text(node.get("props", {}).get("children", ""))
    if hasattr(node, "to_plotly_json"):
        return _text(getattr(node, "children", None) or "")
    return "" if node is None else str(node)


def _numbers(array: Any) -> np.ndarray:
    """A figure's array as sent to the browser (Plotly's typed-array form: base64 bytes)."""
    if isinstance(array, dict):
        shape = [int(n) for n in str(array.get("shape", "-1")).split(",")]
        raw = np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"])
        return raw.reshape(shape)
    return np.asarray(array)


def _by_id(app: Any) -> dict[str, Any]:
    return {getattr(c, "id", None): c for c in _components(app.layout)}


def _simulated() -> pl.DataFrame:
    """The crafted jobs as a simulation might replay them: every job starts 10 min later."""
    return crafted_jobs().with_columns(pl.col("start", "end") + 600.0)


def test_the_insights_panel_says_what_the_selected_jobs_say() -> None:
    jobs = crafted_jobs()
    app = make_app(jobs)
    first = _text(_by_id(app)["insights"].children)
    assert insights(jobs)[0].text in first
    values = {**no_filter(2), "filter-state.value": ["failed"]}
    reply = dash_post(app, "insights.children", values, "filter-state.value")
    shown = _text(reply.get_json()["response"]["insights"]["children"])
    expected = [i.text for i in insights(filter_jobs(jobs, state=["failed"]))]
    assert expected and all(sentence in shown for sentence in expected)
    assert shown != first and "3 jobs" in shown


def test_choosing_a_filter_writes_it_in_the_url() -> None:
    app = make_app(crafted_jobs())
    values = {**no_filter(2), "filter-user.value": ["alice"], "submit-days.value": [1, 2]}
    reply = dash_post(app, "url.search", values, "filter-user.value")
    response = reply.get_json()["response"]
    assert response == {"url": {"search": "?submitted=2026-11-19..2026-11-20&user=alice"}}


def test_opening_a_url_sets_the_filters_it_names() -> None:
    app = make_app(crafted_jobs())
    values = {**no_filter(2), "url.search": "?submitted=2026-11-19..2026-11-19&state=failed"}
    reply = dash_post(app, "url.search", values, "url.search")
    response = reply.get_json()["response"]
    # only what the URL changes is sent back: the other filters keep their (empty) value
    assert response == {
        "submit-days": {"value": [1, 1]},
        "filter-state": {"value": ["failed"]},
    }


def test_a_url_without_a_query_changes_nothing() -> None:
    app = make_app(crafted_jobs())
    reply = dash_post(app, "url.search", no_filter(2), "url.search")
    assert reply.get_json()["response"] == {}  # every output no_update: nothing redrawn


def test_the_usage_charts_and_core_hours_are_on_the_page_and_follow_the_filters() -> None:
    jobs = crafted_jobs().with_columns(account=pl.lit("physics"))
    app = make_app(jobs)
    by_id = _by_id(app)
    assert all(f"fig-{key}" in by_id for key in USAGE_TITLES)
    assert "backfill_trend" in USAGE_TITLES
    assert "physics" in _text(by_id["core-hours-account"].children)
    values = {**no_filter(2), "filter-user.value": ["bob"]}
    response = dash_post(app, "shown.children", values, "filter-user.value").get_json()
    response = response["response"]
    heatmap = response["fig-submissions_heatmap"]["figure"]
    assert _numbers(heatmap["data"][0]["z"]).sum() == 4  # bob's four jobs
    users = _text(response["core-hours"]["children"])
    assert "bob" in users and "alice" not in users


def test_compare_mode_draws_both_tables_on_shared_scales_with_the_delta_table() -> None:
    app = make_app(crafted_jobs(), compare=_simulated(), names=("real", "sim"))
    by_id = _by_id(app)
    for key in CHART_KEYS:
        assert f"fig-{key}" in by_id and f"fig-{key}-b" in by_id
    a, b = by_id["fig-wait_trend"].figure, by_id["fig-wait_trend-b"].figure
    assert a.layout.title.text.startswith("real: ") and b.layout.title.text.startswith("sim: ")
    assert list(a.layout.yaxis.range) == list(b.layout.yaxis.range)
    delta = _text(by_id["delta"].children)
    assert "Δ = sim − real" in delta and "+10 min" in delta  # every wait 10 min longer
    assert {"delta-size_class", "delta-qos"} <= set(by_id)
    assert "showing 24 of 24 jobs" in _text(by_id["shown"].children)
    assert "real" in _text(by_id["insights"].children)


def test_compare_mode_filters_both_tables() -> None:
    app = make_app(crafted_jobs(), compare=_simulated(), names=("real", "sim"))
    values = {**no_filter(2), "filter-user.value": ["carol"]}
    response = dash_post(app, "shown.children", values, "filter-user.value").get_json()
    response = response["response"]
    assert response["shown"]["children"] == "showing 6 of 24 jobs (25.0%) (3 real, 3 sim)"
    for graph in ("fig-nodes_vs_elapsed", "fig-nodes_vs_elapsed-b"):
        assert response[graph]["figure"]["layout"]["meta"]["jobs"] == 3
    delta = _text(response["delta"]["children"])
    assert "3" in delta and "12" not in delta  # the job counts of carol's jobs only


@pytest.mark.parametrize("compared", [False, True])
def test_the_one_day_sample_s_slider_has_steps(compared: bool, tmp_path: Path) -> None:
    """The sample as ``trace convert`` writes it: 27 jobs submitted within 19 s."""
    converted = tmp_path / "sample.parquet"
    args = ["trace", "convert", str(require_shared(SAMPLE)), "--out", str(converted)]
    done = CliRunner().invoke(cli_app, args)
    assert done.exit_code == 0, done.stderr
    table = pl.read_parquet(converted)
    app = make_app(table, compare=table if compared else None)
    slider = _by_id(app)["submit-days"]
    assert not slider.disabled and slider.max == 19 and slider.step == 1
    assert slider.marks[0] == "22:51:20" and slider.marks[19] == "22:51:39"
    assert len(slider.marks) == 8  # readable: at most eight labels
    assert "Submitted (one step: a second)" in _text(app.layout)


def test_the_slider_names_its_step() -> None:
    """Twelve jobs over 22 s: the slider steps by 10 s, and says so in words."""
    jobs = crafted_jobs().with_columns(
        submit=pl.int_range(0, 12, eager=True).cast(pl.Float64) * 2.0 + pl.lit(MIDNIGHT)
    )
    app = make_app(jobs)
    assert "Submitted (one step: 10 seconds)" in _text(app.layout)
    assert _by_id(app)["submit-days"].marks == {0: "00:00:00", 1: "00:00:10", 2: "00:00:20"}
