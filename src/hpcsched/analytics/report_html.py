"""The report's HTML: one self-contained page (plotly.js inlined once; the network may be closed).

Plain string templates with every text escaped; no template engine for a page this simple.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING

import plotly.graph_objects as go
import plotly.io as pio
import polars as pl

from hpcsched.analytics.insights import Insight, pct
from hpcsched.core.durations import duration_text

if TYPE_CHECKING:
    from hpcsched.analytics.narrate import Narration

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem 2rem; color: #222; }
h1 { margin-bottom: 0.2rem; } h2 { margin-top: 2rem; border-bottom: 1px solid #ddd; }
.sub { color: #666; margin-top: 0; }
.row { display: grid; gap: 1rem; grid-template-columns: repeat(var(--cols), minmax(0, 1fr)); }
.chart { min-height: 460px; }
.cell, .table-wrap { min-width: 0; overflow-x: auto; }
th.measure { text-align: center; border-bottom: 1px solid #ccc; }
td.delta { font-weight: 600; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.9rem; }
th, td { padding: 0.25rem 0.6rem; border-bottom: 1px solid #eee; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.note { color: #8a6d3b; } ul.insights li { margin: 0.3rem 0; }
.narration { border-left: 3px solid #6a8caf; padding: 0.1rem 0.8rem; margin: 0.5rem 0; }
.narration .unchecked { color: #777; font-style: italic; }
.narration .counts { color: #666; font-size: 0.85rem; }
"""

#: (column, header, how to show it) of a summary table.
_COLUMNS = (
    ("group", "", "text"),
    ("jobs", "jobs", "int"),
    ("node_hours", "node-hours", "hours"),
    ("cpu_hours", "cpu-hours", "hours"),
    ("median_wait", "median wait", "duration"),
    ("mean_wait", "mean wait", "duration"),
    ("p95_wait", "p95 wait", "duration"),
    ("median_runtime", "median runtime", "duration"),
    ("backfilled_share", "backfilled", "share"),
    ("walltime_accuracy", "runtime / limit (median)", "share"),
)


def cell_text(value: object, how: str) -> str:
    """A summary or consumers cell as shown: durations, shares, hours, counts; text escaped."""
    if value is None or (isinstance(value, float) and value != value):
        return "—"
    if how == "duration":
        return duration_text(float(value))  # type: ignore[arg-type]
    if how == "share":
        return pct(float(value))  # type: ignore[arg-type]
    if how == "hours":
        return f"{float(value):,.1f}"  # type: ignore[arg-type]
    if how == "core":  # a small site's core-hours: 0.012, not 0.0
        number = float(value)  # type: ignore[arg-type]
        return f"{number:,.1f}" if number >= 10 else f"{number:.2g}"
    if how == "int":
        return f"{int(value):,}"  # type: ignore[call-overload]
    return html.escape(str(value))


def summary_html(rows: pl.DataFrame, by: str) -> str:
    """A summary table (:func:`hpcsched.analytics.summaries.summary_table`) as HTML."""
    if rows.is_empty():
        return f'<p class="note">No {html.escape(by)} in this table (the source has none).</p>'
    shown = [c for c in _COLUMNS if c[0] == "group" or rows[c[0]].null_count() < rows.height]
    head = "".join(f"<th>{html.escape(h or by)}</th>" for _, h, _ in shown)
    body = "".join(
        "<tr>" + "".join(f"<td>{cell_text(row[c], how)}</td>" for c, _, how in shown) + "</tr>"
        for row in rows.iter_rows(named=True)
    )
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    return f'<div class="table-wrap">{table}</div>'


def consumers_html(rows: pl.DataFrame, by: str) -> str:
    """A top-consumers table (:func:`hpcsched.analytics.usage.core_hours_table`) as HTML."""
    if rows.is_empty():
        return f'<p class="note">No {html.escape(by)} with cpus and a run time in this table.</p>'
    head = f"<th>{html.escape(by)}</th><th>jobs</th><th>core-hours</th><th>share</th>"
    body = "".join(
        f"<tr><td>{cell_text(r['group'], 'text')}</td><td>{cell_text(r['jobs'], 'int')}</td>"
        f"<td>{cell_text(r['core_hours'], 'core')}</td>"
        f"<td>{cell_text(r['share'], 'share')}</td></tr>"
        for r in rows.iter_rows(named=True)
    )
    table = f'<table data-by="{html.escape(by)}"><thead><tr>{head}</tr></thead>'
    return f'<div class="table-wrap">{table}<tbody>{body}</tbody></table></div>'


def insights_html(items: Sequence[Insight]) -> str:
    if not items:
        return '<p class="note">No insight: the table has too little data.</p>'
    lines = "".join(
        f'<li data-key="{html.escape(i.key)}">{html.escape(i.text)}</li>' for i in items
    )
    return f'<ul class="insights">{lines}</ul>'


def figure_html(fig: go.Figure, div_id: str) -> str:
    """A plot div and its ``Plotly.newPlot`` call; plotly.js itself is in the page head."""
    inner = pio.to_html(
        fig,
        include_plotlyjs=False,
        full_html=False,
        div_id=div_id,
        default_height="460px",
        config={"displaylogo": False, "responsive": True},
    )
    return f'<div class="chart" data-key="{html.escape(div_id)}">{inner}</div>'


def row_html(cells: Sequence[str]) -> str:
    """Cells side by side (one per compared table)."""
    return f'<div class="row" style="--cols: {len(cells)}">{"".join(cells)}</div>'


def page(title: str, subtitle: str, sections: Sequence[tuple[str, str]]) -> str:
    """The whole page: plotly.js once in the head, then ``(heading, html)`` sections."""
    from plotly.offline import get_plotlyjs

    body = "".join(f"<h2>{html.escape(h)}</h2>\n{content}\n" for h, content in sections)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style>"
        f'<script type="text/javascript">{get_plotlyjs()}</script></head><body>'
        f'<h1>{html.escape(title)}</h1><p class="sub">{html.escape(subtitle)}</p>\n'
        f"{body}</body></html>\n"
    )


def narration_html(narration: Narration | None) -> str:
    """The narration's one-line summary (counts, model, tolerance) and the summary view."""
    if narration is None:
        return ""
    from hpcsched.analytics.narrate import TOLERANCE_TEXT

    line = html.escape(narration.summary())
    tolerance = html.escape(f"Checked: {TOLERANCE_TEXT}.") if narration.views else ""
    head = f'<p class="note" data-key="narration-summary">{line} {tolerance}</p>'
    return head + view_html(narration, "summary")


def view_html(narration: Narration | None, key: str) -> str:
    """One view's checked sentences: verified ones as text, unverifiable ones marked."""
    view = narration.views.get(key) if narration is not None else None
    if view is None or not view.checks:
        return ""
    items = []
    for check in view.shown():
        if check.status == "verified":
            items.append(f'<li data-status="verified">{html.escape(check.text)}</li>')
        else:
            items.append(
                f'<li data-status="unverifiable" class="unchecked">{html.escape(check.text)} '
                "(not checked: no number)</li>"
            )
    counts = view.counts()
    tally = (
        f"{view.kind}: {counts['verified']} verified, {counts['unverifiable']} unverifiable, "
        f"{counts['dropped']} dropped"
    )
    return (
        f'<div class="narration" data-key="narration-{html.escape(key)}">'
        f'<ul>{"".join(items)}</ul><p class="counts">{html.escape(tally)}</p></div>'
    )
