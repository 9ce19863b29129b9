"""What the dashboard tests share: a crafted job table, a served dashboard, the browser's view
of the charts (points per trace) and Dash 4's dropdowns."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import polars as pl

from hpcsched.analytics.dashboard import CHART_KEYS
from hpcsched.core.schema import conform

from conftest import SHARED

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


@contextmanager
def serving(*args: str) -> Iterator[tuple[str, int]]:
    """``hpcsched dashboard ARGS --port 0`` running; yields (url, port)."""
    proc = subprocess.Popen(
        # this interpreter's package: the venv's `hpcsched` script may belong to another checkout
        [sys.executable, "-m", "hpcsched.cli", "dashboard", *args, "--port", "0"],
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


def points(driver: Any) -> dict[str, list[int]]:
    result: dict[str, list[int]] = driver.execute_script(POINTS_JS)
    return result


def wait_for_graphs(driver: Any) -> dict[str, list[int]]:
    from selenium.webdriver.support.ui import WebDriverWait

    keys = [f"fig-{key}" for key in CHART_KEYS]
    WebDriverWait(driver, 30).until(lambda d: all(points(d).get(k) is not None for k in keys))
    return points(driver)


def choose(driver: Any, dropdown: str, value: str) -> None:
    """Open a Dash 4 multi-select dropdown, tick ``value``, close it."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver.find_element(By.ID, dropdown).click()
    option = f"//label[@role='option'][.//input[@value='{value}']]"
    WebDriverWait(driver, 10).until(ec.element_to_be_clickable((By.XPATH, option))).click()
    driver.switch_to.active_element.send_keys(Keys.ESCAPE)


def dash_post(app: Any, output: str, values: dict[str, Any], changed: str) -> Any:
    """POST what the browser sends when ``changed`` (``id.prop``) changes to the callback that
    writes ``output`` (``id.prop``); ``values`` holds every input (``id.prop`` → value).

    Returns the Flask test response: ``.get_json()["response"]`` maps each updated id to its
    props (outputs left as they are, Dash's ``no_update``, are absent)."""
    key = next(k for k in app.callback_map if output in k.strip(".").split("..."))
    outputs = [
        dict(zip(("id", "property"), o.rsplit(".", 1), strict=True))
        for o in key.strip(".").split("...")
    ]
    inputs = [
        {**i, "value": values[f"{i['id']}.{i['property']}"]}
        for i in app.callback_map[key]["inputs"]
    ]
    body = {
        "output": key,
        "outputs": outputs if key.startswith("..") else outputs[0],
        "inputs": inputs,
        "changedPropIds": [changed],
        "state": [],
    }
    return app.server.test_client().post("/_dash-update-component", json=body)


def no_filter(top: int) -> dict[str, Any]:
    """Every control's value with nothing chosen (the slider over ``[0, top]``)."""
    return {
        "url.search": "",
        "submit-days.value": [0, top],
        **{f"filter-{c}.value": [] for c in ("user", "partition", "qos", "state")},
    }
