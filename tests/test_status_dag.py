"""`hpcsched status RUN --html FILE`: the run's DAG, laid out by level and coloured by state, in
one self-contained page (plotly.js inlined)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from fault_harness import hpcsched

from browser import chrome  # noqa: F401  (fixture)

DIAMOND = """\
jobs:
  - id: top
    command: "true"
  - id: left
    command: "exit 3"
    depends: [top]
  - id: right
    command: "true"
    depends: [top]
  - id: bottom
    command: "true"
    depends: [left, right]
"""


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("diamond")
    (folder / "wf.yaml").write_text(DIAMOND)
    assert hpcsched("run", str(folder / "wf.yaml"), "--json").returncode == 1
    out = folder / "dag.html"
    proc = hpcsched("status", str(folder / "wf.run"), "--html", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "failed" in proc.stdout  # the status table is still printed
    return out


def _traces(text: str) -> list[dict[str, Any]]:
    """The traces of the page's one ``Plotly.newPlot(id, data, layout, config)`` call."""
    calls = list(re.finditer(r'Plotly\.newPlot\(\s*"([^"]+)",\s*', text))
    assert len(calls) == 1
    traces, _ = json.JSONDecoder().raw_decode(text, calls[0].end())
    return list(traces)


def test_one_node_per_task_coloured_by_state_and_the_four_edges(page: Path) -> None:
    text = page.read_text()
    assert text.startswith("<!DOCTYPE html>") and "<script src=" not in text  # self-contained
    edges, *states = _traces(text)
    nodes = {
        tid: (trace["name"], trace["marker"]["color"], x, y, hover)
        for trace in states
        for tid, x, y, hover in zip(
            trace["ids"], trace["x"], trace["y"], trace["hovertext"], strict=True
        )
    }
    assert sorted(nodes) == ["bottom", "left", "right", "top"]
    assert all(trace["mode"] == "markers+text" for trace in states)  # a small DAG is labelled
    assert {tid: node[:2] for tid, node in nodes.items()} == {
        "top": ("succeeded (2)", "#2ca02c"),
        "right": ("succeeded (2)", "#2ca02c"),
        "left": ("failed (1)", "#d62728"),
        "bottom": ("blocked (1)", "#ff7f0e"),
    }
    # x = level (longest path from the root); the two middle tasks share level 1, one above
    # the other, centred on the lone tasks of levels 0 and 2
    place = {tid: (node[2], node[3]) for tid, node in nodes.items()}
    assert place == {"top": (0, 0), "left": (1, -0.5), "right": (1, 0.5), "bottom": (2, 0)}
    assert "attempts: 1" in nodes["left"][4] and "state: failed" in nodes["left"][4]
    assert "attempts: 0" in nodes["bottom"][4] and "duration: —" in nodes["bottom"][4]
    # the edges: one line per dependency, each from its dependency's node to the task's node
    assert edges["mode"] == "lines"
    xs, ys = edges["x"], edges["y"]
    segments = {
        ((xs[i], ys[i]), (xs[i + 1], ys[i + 1])) for i in range(0, len(xs), 3) if xs[i + 2] is None
    }
    assert len(xs) == 12 and segments == {
        (place["top"], place["left"]),
        (place["top"], place["right"]),
        (place["left"], place["bottom"]),
        (place["right"], place["bottom"]),
    }


def test_a_wrong_suffix_is_refused_before_the_journal_is_read(tmp_path: Path) -> None:
    proc = hpcsched("status", str(tmp_path / "no.run"), "--html", str(tmp_path / "dag.png"))
    assert proc.returncode == 2 and proc.stderr.startswith("hpcsched: error: --html ")
    assert ".html" in proc.stderr and not (tmp_path / "dag.png").exists()


_POINTS_JS = "return document.querySelectorAll('.scatterlayer path.point').length"


def test_the_page_draws_in_a_real_browser(page: Path, chrome: Any) -> None:  # noqa: F811
    chrome.get(page.as_uri())
    deadline = time.monotonic() + 30
    points = 0
    while time.monotonic() < deadline:
        points = chrome.execute_script(_POINTS_JS)
        if points:
            break
        time.sleep(0.2)
    assert points == 4
    errors = [e for e in chrome.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors
