"""The dashboard's views in a real Chromium (issue 21): insights that follow the filters, the
filters in the URL both ways, the submit-time slider on a one-day dump, compare mode.

``hpcsched dashboard`` serves the real sacct sample of the local Slurm cluster (27 jobs
submitted within 19 s) and, compared, its simulation (``simulate --procs 8``). Full-page
screenshots of both views go to ``$HPCSCHED_SCREENSHOTS`` (else the test's tmp folder).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from typer.testing import CliRunner

from dashboard_support import SAMPLE, choose, points, serving, wait_for_graphs
from hpcsched.analytics.dashboard_filters import filter_jobs
from hpcsched.analytics.insights import insights
from hpcsched.cli import app as cli_app
from hpcsched.workloads.sacct import read_sacct

from browser import chrome  # noqa: F401  (the fixture)
from conftest import require_shared


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    with serving(str(require_shared(SAMPLE)), "--title", "local Slurm") as (url, _):
        yield url


@pytest.fixture(scope="module")
def compared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    sim = tmp_path_factory.mktemp("sim") / "sim.parquet"
    sample = str(require_shared(SAMPLE))
    done = CliRunner().invoke(cli_app, ["simulate", sample, "--procs", "8", "--out", str(sim)])
    assert done.exit_code == 0, done.stderr
    with serving(sample, "--compare", str(sim)) as (url, _):
        yield url


def _shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("HPCSCHED_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _screenshot(driver: Any, path: Path) -> int:
    """The whole page as a PNG (the window stretched to the page's height); its size."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1400, min(int(height) + 40, 9000))
    driver.save_screenshot(str(path))
    driver.set_window_size(1400, 1000)
    return path.stat().st_size


def _text(driver: Any, element_id: str) -> str:
    text: str = driver.find_element("id", element_id).text
    return text


def _query(driver: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(driver.current_url).query, keep_blank_values=True)


def _severe(driver: Any) -> list[Any]:
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def test_a_filter_rewrites_the_url_and_the_insights(
    served: str,
    chrome: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    table = read_sacct(SAMPLE).table
    chrome.get(served)
    wait_for_graphs(chrome)
    before = _text(chrome, "insights")
    assert insights(table)[0].text in before
    assert urlsplit(chrome.current_url).query == ""
    size = _screenshot(chrome, _shots(tmp_path) / "dashboard.png")
    assert size > 30_000
    choose(chrome, "filter-state", "failed")
    WebDriverWait(chrome, 30).until(lambda d: _query(d) == {"state": ["failed"]})
    failed = filter_jobs(table, state=["failed"])
    expected = insights(failed)[0].text
    WebDriverWait(chrome, 30).until(lambda d: expected in _text(d, "insights"))
    assert _text(chrome, "insights") != before
    assert f"{failed.height} jobs" in expected
    assert _severe(chrome) == []


def test_opening_a_url_applies_its_filters(
    served: str,
    chrome: Any,  # noqa: F811
) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    table = read_sacct(SAMPLE).table
    picked = filter_jobs(table, user=["ci"], state=["completed", "timeout"])
    assert 0 < picked.height < table.height
    chrome.get(f"{served}?user=ci&state=completed&state=timeout")
    shown = f"showing {picked.height} of {table.height} jobs"
    WebDriverWait(chrome, 30).until(lambda d: _text(d, "shown").startswith(shown))
    WebDriverWait(chrome, 30).until(
        lambda d: sum(points(d).get("fig-nodes_vs_elapsed") or [0]) == picked.height
    )
    # the dropdowns show what the URL chose, and the URL is left as it was opened
    assert "ci" in _text(chrome, "filter-user")
    states = _text(chrome, "filter-state")
    assert "completed" in states and "timeout" in states
    assert _query(chrome) == {"user": ["ci"], "state": ["completed", "timeout"]}
    assert insights(picked)[0].text in _text(chrome, "insights")
    assert _severe(chrome) == []


def test_the_one_day_dump_s_slider_narrows_by_the_second(
    served: str,
    chrome: Any,  # noqa: F811
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    chrome.get(served)
    wait_for_graphs(chrome)
    marks = [
        m.text for m in chrome.find_elements(By.CSS_SELECTOR, "#submit-days .dash-slider-mark")
    ]
    assert len(marks) > 1 and marks[0] == "22:51:20" and marks[-1] == "22:51:39", marks
    # one step back from the end: the job submitted at 22:51:39 is left out
    chrome.find_element(By.CSS_SELECTOR, "#submit-days .dash-slider-thumb-2").send_keys(
        Keys.ARROW_LEFT
    )
    shown = "showing 26 of 27 jobs (96.3%) submitted 2026-11-20 22:51:20 to 2026-11-20 22:51:38"
    WebDriverWait(chrome, 30).until(lambda d: _text(d, "shown") == shown)
    WebDriverWait(chrome, 30).until(
        lambda d: _query(d) == {"submitted": ["2026-11-20T22:51:20..2026-11-20T22:51:38"]}
    )
    assert _severe(chrome) == []


def test_compare_mode_shows_both_tables_and_the_delta_table(
    compared: str,
    chrome: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    chrome.get(compared)
    drawn = wait_for_graphs(chrome)
    assert all(max(drawn[f"{g}-b"], default=0) >= 1 for g in drawn if not g.endswith("-b"))
    delta = _text(chrome, "delta")
    assert "Δ = sim − local-slurm-sample" in delta and "size class" in delta
    ranges = chrome.execute_script(
        "return ['fig-wait_by_state', 'fig-wait_by_state-b'].map(id =>"
        " document.querySelector('#' + id + ' .js-plotly-plot')._fullLayout.yaxis.range)"
    )
    assert ranges[0] == ranges[1]
    assert _screenshot(chrome, _shots(tmp_path) / "dashboard-compare.png") > 30_000
    n = filter_jobs(read_sacct(SAMPLE).table, user=["ci"]).height
    choose(chrome, "filter-user", "ci")
    each = f"({n} local-slurm-sample, {n} sim)"  # the filter applies to both tables
    WebDriverWait(chrome, 30).until(lambda d: each in _text(d, "shown"))
    WebDriverWait(chrome, 30).until(lambda d: _text(d, "delta") != delta)
    assert _severe(chrome) == []
