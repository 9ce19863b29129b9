"""`hpcsched report`: the HTML page, side-by-side comparison, a real browser, PNGs."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from hpcsched.analytics import FIGURE_TITLES
from hpcsched.analytics.report import write_report
from hpcsched.analytics.usage import USAGE_TITLES
from hpcsched.cli import app
from hpcsched.workloads.load import load_jobs

from browser import chrome  # noqa: F401  (fixture)
from conftest import SHARED, require_shared

SACCT = SHARED / "data" / "sacct"
runner = CliRunner()

#: Per plot div: how many traces have values, and whether Plotly drew its layers.
_PLOTS_JS = """
return Array.from(document.querySelectorAll('.js-plotly-plot')).map(gd => ({
  id: gd.id,
  filled: (gd._fullData || []).filter(t => (t._length || 0) > 0 || (t.z && t.z.length)).length,
  drawn: gd.querySelectorAll('.main-svg').length > 0 && gd.getBoundingClientRect().height > 100,
  marks: gd.querySelectorAll('.overplot .trace, .hm image, canvas.gl-canvas').length,
}));
"""


def _report(*args: str) -> dict[str, Any]:
    result = runner.invoke(app, ["report", *args, "--json"])
    assert result.exit_code == 0, result.stderr
    payload: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return payload


def test_cli_writes_one_self_contained_page(tmp_path: Path) -> None:
    sample = require_shared(SACCT / "local-slurm-sample.txt")
    out = _report(str(sample), "--out", str(tmp_path))
    page = Path(out["report"]).read_text("utf-8")
    assert out["charts"] == list(FIGURE_TITLES)
    assert page.count("Plotly.newPlot(") == len(FIGURE_TITLES) + len(USAGE_TITLES)
    assert page.count("plotly.js v") == 1 and 'src="http' not in page  # inlined once, no CDN
    assert all(text.replace("<", "&lt;").replace(">", "&gt;") in page for text in out["insights"])
    data = json.loads((tmp_path / "insights.json").read_text("utf-8"))
    assert [i["text"] for i in data["tables"][0]["insights"]] == out["insights"]
    assert "cancelled" in {i["key"] for i in data["tables"][0]["insights"]}


def test_load_jobs_sniffs_every_format(tmp_path: Path) -> None:
    text = load_jobs(require_shared(SACCT / "local-slurm-sample.txt"))
    js = load_jobs(require_shared(SACCT / "local-slurm-sample.sacct.json"))
    assert (text.kind, js.kind) == ("sacct", "sacct-json")
    assert text.table.height == js.table.height > 0
    parquet = tmp_path / "jobs.table"  # Parquet without the suffix: found by its magic bytes
    text.table.select("job_id", "submit", "start", "end", "state").write_parquet(parquet)
    assert load_jobs(parquet).kind == "parquet" and load_jobs(parquet).table.height > 0
    swf = tmp_path / "t.swf"
    swf.write_text("; MaxProcs: 8\n1 0 5 60 2 -1 -1 2 120 -1 1 1 1 -1 1 -1 -1 -1\n")
    opened = load_jobs(swf)
    assert (opened.kind, opened.machine_procs, opened.table.height) == ("swf", 8, 1)


def test_bad_input_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_text("these are my notes\n")
    result = runner.invoke(app, ["report", str(bad), "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "notes.txt" in result.stderr
    assert "Traceback" not in result.stderr


def test_compare_shows_both_in_a_real_browser(tmp_path: Path, chrome: Any) -> None:  # noqa: F811
    text = require_shared(SACCT / "local-slurm-sample.txt")
    js = require_shared(SACCT / "local-slurm-sample.sacct.json")
    out = _report(str(text), "--compare", str(js), "--out", str(tmp_path))
    page = Path(out["report"]).read_text("utf-8")
    charts = {**FIGURE_TITLES, **USAGE_TITLES}
    assert page.count("Plotly.newPlot(") == 2 * len(charts)
    assert "local-slurm-sample vs local-slurm-sample.sacct" in page
    assert any("Median wait" in s for s in out["compare_insights"])
    chrome.get(Path(out["report"]).as_uri())
    plots = _wait_for_plots(chrome, 2 * len(charts))
    ids = {p["id"] for p in plots}
    assert ids == {*charts, *(f"{k}-1" for k in charts)}
    assert [p["id"] for p in plots if not (p["filled"] and p["drawn"] and p["marks"])] == []
    errors = [e for e in chrome.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []


def _wait_for_plots(driver: Any, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        plots: list[dict[str, Any]] = driver.execute_script(_PLOTS_JS)
        ready = all(p["drawn"] and (p["marks"] or not p["filled"]) for p in plots)  # GL: last
        if (len(plots) == count and ready) or time.monotonic() > deadline:
            return plots
        time.sleep(0.2)


def test_aggregated_report_renders_in_a_browser(tmp_path: Path, chrome: Any) -> None:  # noqa: F811
    n = 150_000  # above the WebGL limit: heatmaps of counts
    rng = np.random.default_rng(2)
    submit = np.sort(rng.uniform(1.7e9, 1.7e9 + 30 * 86400, n))
    runtime = rng.lognormal(7, 2, n)
    wait = rng.lognormal(5, 2, n)
    table = pl.DataFrame(
        {
            "user": rng.integers(0, 300, n).astype(str),
            "submit": submit,
            "start": submit + wait,
            "end": submit + wait + runtime,
            "runtime": runtime,
            "timelimit": runtime * 3,
            "nodes": rng.integers(1, 512, n),
            "state": rng.choice(["completed", "failed", "cancelled"], n),
            "backfilled": rng.random(n) < 0.2,
        }
    )
    path = write_report(table, tmp_path)
    assert path.stat().st_size < 12_000_000
    chrome.get(path.as_uri())
    plots = {p["id"]: p for p in _wait_for_plots(chrome, len(FIGURE_TITLES) + len(USAGE_TITLES))}
    for key in ("nodes_vs_elapsed", "walltime_req_vs_actual"):
        assert plots[key]["filled"] and plots[key]["marks"], plots[key]
    assert [e for e in chrome.get_log("browser") if e["level"] == "SEVERE"] == []


#: Pixels far from grey (marks, bars, heatmap cells) left of the legend: a chart with data has
#: many, an empty one none (axes, grid and text are grey or dark blue-grey).
_COLOURED_JS = """
const done = arguments[arguments.length - 1];
const img = new Image();
img.onload = () => {
  const c = document.createElement('canvas'); c.width = img.width; c.height = img.height;
  const ctx = c.getContext('2d'); ctx.drawImage(img, 0, 0);
  const d = ctx.getImageData(0, 0, c.width, c.height).data;
  let coloured = 0;
  for (let i = 0; i < d.length; i += 4) {
    if ((i / 4) % c.width > 0.8 * c.width) continue;
    const hi = Math.max(d[i], d[i+1], d[i+2]), lo = Math.min(d[i], d[i+1], d[i+2]);
    if (hi - lo > 60) coloured++;
  }
  done([c.width, c.height, coloured]);
};
img.onerror = () => done(null);
img.src = arguments[0];
"""


@pytest.mark.slow
def test_png_one_nonblank_image_per_chart(tmp_path: Path, chrome: Any) -> None:  # noqa: F811
    sample = require_shared(SACCT / "local-slurm-sample.txt")
    out = _report(str(sample), "--out", str(tmp_path), "--png")
    pngs = sorted((tmp_path / "png").glob("*.png"))
    assert [p.stem for p in pngs] == sorted(FIGURE_TITLES)
    chrome.get("about:blank")
    for png in pngs:
        url = "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode()
        width, height, coloured = chrome.execute_async_script(_COLOURED_JS, url)
        assert (width, height) == (1000, 520), png.name
        assert coloured > 100, f"{png.name}: only {coloured} coloured pixels"
    assert out["png"] == str(tmp_path / "png")
