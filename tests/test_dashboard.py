"""The dashboard: its filters (Polars, on a crafted table) and the real app in a real browser.

The browser tests start ``hpcsched dashboard`` on the real sacct sample of the local Slurm
cluster (``../shared/data/sacct/local-slurm-sample.txt``) and drive it with headless Chromium.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

from dashboard_support import (
    DAY,
    MIDNIGHT,
    SAMPLE,
    choose,
    crafted_jobs,
    dash_post,
    no_filter,
    points,
    serving,
    wait_for_graphs,
)
from hpcsched.analytics.dashboard import CHART_KEYS, listen, make_app, wsgi_server
from hpcsched.analytics.dashboard_filters import SubmitAxis, filter_jobs
from hpcsched.cli import app as cli_app
from hpcsched.core.schema import conform

from browser import chrome  # noqa: F401  (the fixture)
from conftest import require_shared


@pytest.fixture
def jobs() -> pl.DataFrame:
    return crafted_jobs()


def ids(frame: pl.DataFrame) -> set[str]:
    return set(frame["job_id"].to_list())


def test_each_filter_keeps_exactly_the_chosen_values(jobs: pl.DataFrame) -> None:
    assert ids(filter_jobs(jobs)) == ids(jobs)  # nothing chosen: every job, the null user too
    assert ids(filter_jobs(jobs, user=["alice"])) == {"1", "2", "7", "10"}
    assert ids(filter_jobs(jobs, user=["alice", "carol"])) == {"1", "2", "5", "6", "7", "9", "10"}
    assert ids(filter_jobs(jobs, partition=["gpu"])) == {"2", "5", "6", "8", "11"}
    assert ids(filter_jobs(jobs, qos=[""])) == {"4", "7"}
    assert ids(filter_jobs(jobs, state=["failed"])) == {"2", "6", "10"}


def test_filters_combine_as_and(jobs: pl.DataFrame) -> None:
    picked = filter_jobs(jobs, user=["bob", "carol"], partition=["gpu"], state=["completed"])
    assert ids(picked) == {"5", "8", "11"}
    assert filter_jobs(jobs, user=["alice"], partition=["gpu"], qos=["normal"]).is_empty()


def test_submit_days_are_utc_days(jobs: pl.DataFrame) -> None:
    days = SubmitAxis(jobs["submit"])
    assert days.calendar and days.origin == MIDNIGHT and days.last == 2
    assert [days.label(d) for d in range(3)] == ["2026-11-18", "2026-11-19", "2026-11-20"]
    assert days.between([0, 2]) is None  # the whole range: no filter at all
    assert ids(filter_jobs(jobs, submit_between=days.between([1, 1]))) == {"4", "5", "6", "7"}
    # job 3 (day 0, 23:00) and job 8 (day 2, 02:00) sit on both sides of the range's edges
    assert ids(filter_jobs(jobs, submit_between=days.between([0, 1]))) == {
        "1",
        "2",
        "3",
        "4",
        "5",
        "6",
        "7",
    }
    assert ids(filter_jobs(jobs, submit_between=days.between([2, 2]), user=["bob"])) == {"8", "11"}


def test_trace_relative_times_count_days_from_the_trace_start() -> None:
    days = SubmitAxis(pl.Series([5.0, 90_000.0, 3 * DAY + 1]))  # SWF: seconds since the start
    assert not days.calendar and days.origin == 0.0 and days.last == 3
    assert days.label(2) == "day 2"
    assert days.marks() == {0: "day 0", 1: "day 1", 2: "day 2", 3: "day 3"}


def _components(node: Any) -> Iterator[Any]:
    yield node
    children = getattr(node, "children", None)
    for child in children if isinstance(children, list) else [children]:
        if child is not None and hasattr(child, "to_plotly_json"):
            yield from _components(child)


def test_layout_has_every_figure_and_the_data_s_values(jobs: pl.DataFrame) -> None:
    app = make_app(jobs, title="crafted")
    by_id = {getattr(c, "id", None): c for c in _components(app.layout)}
    assert all(f"fig-{key}" in by_id for key in CHART_KEYS)
    state = by_id["filter-state"]
    assert state.multi and state.value == []
    assert [o["value"] for o in state.options] == ["completed", "failed", "cancelled", "timeout"]
    assert state.options[0]["label"] == "completed (7)"
    qos = {o["value"]: o["label"] for o in by_id["filter-qos"].options}
    assert qos == {"normal": "normal (6)", "high": "high (4)", "": "(none) (2)"}
    assert [o["value"] for o in by_id["filter-user"].options] == ["alice", "bob", "carol"]
    assert by_id["submit-days"].max == 2
    assert by_id["shown"].children == "showing 12 of 12 jobs"
    assert by_id["headline"].children == (
        "12 jobs; 3 users, 2 partitions, 3 QoS, 4 states; "
        "submitted 2026-11-18 to 2026-11-20 (UTC days)"
    )


# ----------------------------------------------------------------------------- the CLI


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, int]]:
    """``hpcsched dashboard SAMPLE`` running; yields (url, port)."""
    with serving(str(require_shared(SAMPLE)), "--title", "local Slurm") as where:
        yield where


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def test_server_binds_loopback_only(served: tuple[str, int]) -> None:
    _, port = served
    assert _accepts("127.0.0.1", port)
    # Linux routes all of 127/8 to lo: a socket bound to 0.0.0.0 answers on 127.0.0.2, one bound
    # to 127.0.0.1 does not. The control proves this check can tell them apart.
    with socket.socket() as wildcard:
        wildcard.bind(("0.0.0.0", 0))
        wildcard.listen()
        if not _accepts("127.0.0.2", wildcard.getsockname()[1]):
            pytest.skip("127.0.0.2 is not routed to loopback here")
    assert not _accepts("127.0.0.2", port)


def test_bad_file_and_busy_port_are_one_line_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli_app, ["dashboard", str(tmp_path / "missing.parquet")])
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0 and "no such file" in result.stderr
    table = tmp_path / "jobs.swf"
    table.write_text("; MaxProcs: 4\n1 0 5 10 1 -1 -1 1 60 -1 1 1 1 -1 1 1 -1 -1\n")
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = runner.invoke(
            cli_app, ["dashboard", str(table), "--host", "0.0.0.0", "--port", port]
        )
    assert result.exit_code == 2
    warning, error = result.stderr.strip().splitlines()
    assert "not loopback" in warning and "personal data" in warning
    assert error.startswith("hpcsched: error: cannot serve on 0.0.0.0:") and "--port" in error


def test_malformed_lines_are_reported_with_their_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from hpcsched.cli.inputs import open_job_table

    dump = tmp_path / "sacct.txt"
    dump.write_text(
        "JobID|User|Partition|State|Submit\n"
        "1|alice|cpu|COMPLETED|2026-11-18T01:00:00\n"
        "2|bob|gpu|FAILED\n"
        "3|carol|cpu|TIMEOUT|2026-11-18T02:00:00\n"
    )
    opened = open_job_table(dump)
    assert ids(opened.table) == {"1", "3"}
    warning = capsys.readouterr().err
    assert "1 malformed line(s) skipped" in warning and f"{dump}:3" in warning


# ----------------------------------------------------------------------------- the browser


def test_page_loads_with_data_in_every_chart_and_no_console_error(
    served: tuple[str, int],
    chrome: Any,  # noqa: F811
) -> None:
    url, _ = served
    chrome.get(url)
    points = wait_for_graphs(chrome)
    assert set(points) == {f"fig-{key}" for key in CHART_KEYS}
    for graph, traces in points.items():
        assert max(traces, default=0) >= 1, f"{graph} has no point"
    errors = [e for e in chrome.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
    assert "27 jobs" in chrome.find_element("id", "headline").text
    assert chrome.title == "local Slurm · hpcsched"
    # serve_locally: every script comes from this server, none from a CDN
    sources = chrome.execute_script("return [...document.scripts].map(s => s.src)")
    assert all(src.startswith(url) for src in sources if src), sources


@pytest.mark.parametrize(("dropdown", "value"), [("filter-state", "failed"), ("filter-user", "ci")])
def test_choosing_a_filter_value_redraws_the_charts(
    served: tuple[str, int],
    chrome: Any,  # noqa: F811
    dropdown: str,
    value: str,
) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    from hpcsched.workloads.sacct import read_sacct

    table = read_sacct(SAMPLE).table
    column = dropdown.removeprefix("filter-")
    expected = table.filter(pl.col(column) == value).height
    assert 0 < expected < table.height
    url, _ = served
    chrome.get(url)
    before = wait_for_graphs(chrome)
    assert sum(before["fig-nodes_vs_elapsed"]) == table.height  # one point per job
    started = time.monotonic()
    choose(chrome, dropdown, value)
    shown = f"showing {expected} of {table.height} jobs"
    WebDriverWait(chrome, 30).until(lambda d: d.find_element("id", "shown").text.startswith(shown))
    WebDriverWait(chrome, 30).until(lambda d: points(d) != before)
    after = points(chrome)
    print(f"{dropdown}={value}: charts redrawn in {time.monotonic() - started:.2f} s")
    assert sum(after["fig-nodes_vs_elapsed"]) == expected
    assert all(max(after[f"fig-{key}"], default=0) >= 1 for key in CHART_KEYS)
    assert [e for e in chrome.get_log("browser") if e["level"] == "SEVERE"] == []


@pytest.fixture(scope="module")
def crafted_url() -> Iterator[str]:
    """The library path: ``make_app`` on the crafted table, served from a thread."""
    sock = listen("127.0.0.1", 0)
    server = wsgi_server(make_app(crafted_jobs(), title="crafted"), sock)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_submit_day_slider_narrows_the_jobs(
    crafted_url: str,
    chrome: Any,  # noqa: F811
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    chrome.get(crafted_url)
    before = wait_for_graphs(chrome)
    assert sum(before["fig-nodes_vs_elapsed"]) == 12
    # the keyboard moves the last-day thumb one day back: days 0-1 keep jobs 1-7
    chrome.find_element(By.CSS_SELECTOR, "#submit-days .dash-slider-thumb-2").send_keys(
        Keys.ARROW_LEFT
    )
    shown = "showing 7 of 12 jobs (58.3%) submitted 2026-11-18 to 2026-11-19"
    WebDriverWait(chrome, 30).until(lambda d: d.find_element("id", "shown").text == shown)
    WebDriverWait(chrome, 30).until(lambda d: sum(points(d)["fig-nodes_vs_elapsed"]) == 7)
    assert [e for e in chrome.get_log("browser") if e["level"] == "SEVERE"] == []


@pytest.mark.slow
def test_a_million_jobs_filter_through_the_dash_protocol() -> None:
    """1M jobs: the callback (the POST the browser sends) filters them and returns aggregated
    figures; what travels back stays small however many jobs pass."""
    import numpy as np

    n = 1_000_000
    rng = np.random.default_rng(7)
    submit = MIDNIGHT + np.sort(rng.uniform(0, 365 * DAY, n))
    wait, run = rng.exponential(3600, n), rng.exponential(7200, n)
    states = np.array(["completed", "failed", "timeout", "cancelled"])
    table = conform(
        pl.DataFrame(
            {
                "job_id": np.arange(n).astype(str),
                "user": np.char.add("u", rng.integers(0, 500, n).astype(str)),
                "partition": rng.choice(["cpu", "gpu", "bigmem"], n),
                "qos": rng.choice(["normal", "high"], n),
                "state": rng.choice(states, n, p=[0.7, 0.15, 0.1, 0.05]),
                "submit": submit,
                "start": submit + wait,
                "end": submit + wait + run,
                "runtime": run,
                "timelimit": run * rng.uniform(1, 4, n),
                "nodes": rng.integers(1, 64, n),
                "cpus": rng.integers(1, 64, n) * 32,
            }
        )
    )
    app = make_app(table, title="a million jobs")
    values = {**no_filter(364), "filter-state.value": ["failed", "timeout"]}
    expected = filter_jobs(table, state=["failed", "timeout"]).height
    assert 0 < expected < n
    started = time.monotonic()
    # as when a user ticks a state
    reply = dash_post(app, "shown.children", values, "filter-state.value")
    print(
        f"1M jobs -> {expected:,}: callback {time.monotonic() - started:.2f} s, "
        f"{len(reply.data) / 1e6:.2f} MB"
    )
    assert reply.status_code == 200
    response = reply.get_json()["response"]
    assert response["shown"]["children"].startswith(f"showing {expected:,} of 1,000,000 jobs")
    assert {f"fig-{key}" for key in CHART_KEYS} | {"shown", "insights"} <= set(response)
    # past build_figures' point limit the scatter charts become count heatmaps
    assert len(reply.data) < 2_000_000
