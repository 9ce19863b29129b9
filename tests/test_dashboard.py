"""The dashboard: its filters (Polars, on a crafted table) and the real app in a real browser.

The browser tests start ``hpcsched dashboard`` on the real sacct sample of the local Slurm
cluster (``../shared/data/sacct/local-slurm-sample.txt``) and drive it with headless Chromium.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

from hpcsched.analytics.dashboard import SubmitDays, filter_jobs, listen, make_app, wsgi_server
from hpcsched.analytics.figures import FIGURE_TITLES
from hpcsched.cli import app as cli_app
from hpcsched.core.schema import conform

from browser import chrome  # noqa: F401  (the fixture)
from conftest import SHARED, require_shared

SAMPLE = SHARED / "data" / "sacct" / "local-slurm-sample.txt"
DAY = 86400.0
MIDNIGHT = datetime(2026, 11, 18, tzinfo=UTC).timestamp()

# Reads, for every graph, the number of points of each drawn trace (x/y, or z for heatmaps);
# null while Plotly has not drawn the graph yet.
POINTS_JS = """
return Object.fromEntries(Array.from(document.querySelectorAll('.dash-graph')).map(g => {
  const plot = g.querySelector('.js-plotly-plot');
  if (!plot || !plot._fullLayout) return [g.id, null];
  const traces = plot._fullData || [];
  return [g.id, traces.map(t => Math.max(0, ...['x', 'y', 'z'].map(k => (t[k] || []).length)))];
}));
"""


def crafted_jobs() -> pl.DataFrame:
    """Twelve jobs over three UTC days: three users, two partitions, QoS with a blank, states."""
    rows = [
        # job, user, partition, qos, state, submit day, hour
        ("1", "alice", "cpu", "normal", "completed", 0, 1),
        ("2", "alice", "gpu", "high", "failed", 0, 5),
        ("3", "bob", "cpu", "normal", "completed", 0, 23),
        ("4", "bob", "cpu", "", "timeout", 1, 0),
        ("5", "carol", "gpu", "high", "completed", 1, 12),
        ("6", "carol", "gpu", "normal", "failed", 1, 13),
        ("7", "alice", "cpu", "", "cancelled", 1, 20),
        ("8", "bob", "gpu", "normal", "completed", 2, 2),
        ("9", "carol", "cpu", "high", "completed", 2, 9),
        ("10", "alice", "cpu", "normal", "failed", 2, 10),
        ("11", "bob", "gpu", "high", "completed", 2, 22),
        ("12", None, "cpu", "normal", "completed", 2, 23),
    ]
    frame = pl.DataFrame(
        {
            "job_id": [r[0] for r in rows],
            "user": [r[1] for r in rows],
            "partition": [r[2] for r in rows],
            "qos": [r[3] for r in rows],
            "state": [r[4] for r in rows],
            "submit": [MIDNIGHT + r[5] * DAY + r[6] * 3600.0 for r in rows],
        }
    )
    return conform(
        frame.with_columns(
            start=pl.col("submit") + 60,
            end=pl.col("submit") + 660,
            runtime=pl.lit(600.0),
            timelimit=pl.lit(1800.0),
            nodes=pl.lit(2),
            cpus=pl.lit(8),
            source=pl.lit("sacct"),
        )
    )


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
    days = SubmitDays(jobs["submit"])
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
    days = SubmitDays(pl.Series([5.0, 90_000.0, 3 * DAY + 1]))  # SWF: seconds since the start
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
    assert all(f"fig-{key}" in by_id for key in FIGURE_TITLES)
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


def _hpcsched() -> str:
    return str(Path(sys.executable).with_name("hpcsched"))


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, int]]:
    """``hpcsched dashboard SAMPLE --port 0`` running; yields (url, port)."""
    sample = require_shared(SAMPLE)
    proc = subprocess.Popen(
        [_hpcsched(), "dashboard", str(sample), "--port", "0", "--title", "local Slurm"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "TERM": "dumb"},
    )
    watchdog = threading.Timer(120, proc.kill)  # a start-up that hangs fails, not blocks
    watchdog.start()
    try:
        assert proc.stdout is not None
        seen = []
        for line in proc.stdout:  # the URL is printed once the server listens
            seen.append(line)
            if "http://" in line:
                break
        watchdog.cancel()
        assert seen and "http://127.0.0.1:" in seen[-1], f"no URL printed: {seen}"
        url = seen[-1].split(" at ", 1)[1].split()[0]
        yield url, int(url.rstrip("/").rsplit(":", 1)[1])
    finally:
        watchdog.cancel()
        proc.terminate()
        proc.wait(timeout=10)


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


def _points(driver: Any) -> dict[str, list[int]]:
    result: dict[str, list[int]] = driver.execute_script(POINTS_JS)
    return result


def _wait_for_graphs(driver: Any) -> dict[str, list[int]]:
    from selenium.webdriver.support.ui import WebDriverWait

    keys = [f"fig-{key}" for key in FIGURE_TITLES]
    WebDriverWait(driver, 30).until(lambda d: all(_points(d).get(k) is not None for k in keys))
    return _points(driver)


def _choose(driver: Any, dropdown: str, value: str) -> None:
    """Open a Dash 4 multi-select dropdown, tick ``value``, close it."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver.find_element(By.ID, dropdown).click()
    option = f"//label[@role='option'][.//input[@value='{value}']]"
    WebDriverWait(driver, 10).until(ec.element_to_be_clickable((By.XPATH, option))).click()
    driver.switch_to.active_element.send_keys(Keys.ESCAPE)


def test_page_loads_with_data_in_every_chart_and_no_console_error(
    served: tuple[str, int],
    chrome: Any,  # noqa: F811
) -> None:
    url, _ = served
    chrome.get(url)
    points = _wait_for_graphs(chrome)
    assert set(points) == {f"fig-{key}" for key in FIGURE_TITLES}
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
    before = _wait_for_graphs(chrome)
    assert sum(before["fig-nodes_vs_elapsed"]) == table.height  # one point per job
    started = time.monotonic()
    _choose(chrome, dropdown, value)
    shown = f"showing {expected} of {table.height} jobs"
    WebDriverWait(chrome, 30).until(lambda d: d.find_element("id", "shown").text.startswith(shown))
    WebDriverWait(chrome, 30).until(lambda d: _points(d) != before)
    after = _points(chrome)
    print(f"{dropdown}={value}: charts redrawn in {time.monotonic() - started:.2f} s")
    assert sum(after["fig-nodes_vs_elapsed"]) == expected
    assert all(max(after[f"fig-{key}"], default=0) >= 1 for key in FIGURE_TITLES)
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
    before = _wait_for_graphs(chrome)
    assert sum(before["fig-nodes_vs_elapsed"]) == 12
    # the keyboard moves the last-day thumb one day back: days 0-1 keep jobs 1-7
    chrome.find_element(By.CSS_SELECTOR, "#submit-days .dash-slider-thumb-2").send_keys(
        Keys.ARROW_LEFT
    )
    shown = "showing 7 of 12 jobs (58.3%) submitted 2026-11-18 to 2026-11-19"
    WebDriverWait(chrome, 30).until(lambda d: d.find_element("id", "shown").text == shown)
    WebDriverWait(chrome, 30).until(lambda d: sum(_points(d)["fig-nodes_vs_elapsed"]) == 7)
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
    chosen = {"user": [], "partition": [], "qos": [], "state": ["failed", "timeout"]}
    expected = filter_jobs(table, state=["failed", "timeout"]).height
    assert 0 < expected < n
    outputs = [{"id": f"fig-{key}", "property": "figure"} for key in FIGURE_TITLES]
    outputs.append({"id": "shown", "property": "children"})
    inputs = [{"id": "submit-days", "property": "value", "value": [0, 364]}]
    inputs += [{"id": f"filter-{c}", "property": "value", "value": v} for c, v in chosen.items()]
    body = {
        "output": next(iter(app.callback_map)),
        "outputs": outputs,
        "inputs": inputs,
        "changedPropIds": ["filter-state.value"],  # as when a user ticks a state
        "state": [],
    }
    started = time.monotonic()
    reply = app.server.test_client().post("/_dash-update-component", json=body)
    print(
        f"1M jobs -> {expected:,}: callback {time.monotonic() - started:.2f} s, "
        f"{len(reply.data) / 1e6:.2f} MB"
    )
    assert reply.status_code == 200
    response = reply.get_json()["response"]
    assert response["shown"]["children"].startswith(f"showing {expected:,} of 1,000,000 jobs")
    assert set(response) == {f"fig-{key}" for key in FIGURE_TITLES} | {"shown"}
    # past build_figures' point limit the scatter charts become count heatmaps
    assert len(reply.data) < 2_000_000
