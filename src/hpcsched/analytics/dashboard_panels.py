"""The dashboard's words and tables, as Dash components: headline, filter choices, insights,
core-hours by account and user, and (comparing) the Δ table.

Each is computed by the report's own functions (:func:`hpcsched.analytics.insights.insights`,
:func:`hpcsched.analytics.usage.core_hours_table`,
:func:`hpcsched.analytics.report_compare.delta_rows`) and shown with its cell formats, so a
view of the dashboard and the report of the same jobs say the same thing. Dash escapes text
itself, so names go in as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import polars as pl
from dash import html

from hpcsched.analytics.dashboard_filters import FILTER_COLUMNS, SubmitAxis
from hpcsched.analytics.derive import Prepared
from hpcsched.analytics.insights import Insight
from hpcsched.analytics.report_compare import DELTA_MEASURES, delta_cell, delta_rows, service_class
from hpcsched.analytics.report_html import cell_text
from hpcsched.analytics.usage import TOP_CONSUMERS, core_hours_table

_NOUNS: Final = {"user": "user", "partition": "partition", "qos": "QoS", "state": "state"}
#: The label of the empty string in a filter (SWF has no QoS: the reader writes "").
NONE_LABEL: Final = "(none)"
_TABLE: Final = {"borderCollapse": "collapse", "fontSize": "0.9rem", "margin": "4px 0 12px"}
_CELL: Final = {"padding": "2px 10px", "borderBottom": "1px solid #eee", "textAlign": "right"}
_FIRST: Final = {**_CELL, "textAlign": "left"}
_ROW: Final = {"display": "grid", "gridTemplateColumns": "repeat(auto-fit, minmax(420px, 1fr))"}


def filter_options(tables: Sequence[pl.DataFrame], column: str) -> list[dict[str, str]]:
    """The values of ``column`` in any of ``tables``, most jobs first, labelled with their job
    counts (one per table, ``a / b``, when comparing)."""
    counts = [
        t.select(pl.col(column).cast(pl.String)).drop_nulls().group_by(column).len()
        for t in tables
        if column in t.columns
    ]
    if not counts:
        return []
    both = counts[0]
    for i, other in enumerate(counts[1:], start=1):
        both = both.join(other, on=column, how="full", coalesce=True, suffix=f"_{i}")
    lens = [c for c in both.columns if c != column]
    both = both.with_columns(pl.col(lens).fill_null(0))
    both = both.with_columns(pl.sum_horizontal(lens).alias("total"))
    both = both.sort(["total", column], descending=[True, False])
    return [
        {
            "label": f"{row[column] or NONE_LABEL} ({' / '.join(f'{row[n]:,}' for n in lens)})",
            "value": row[column],
        }
        for row in both.iter_rows(named=True)
    ]


def headline(
    tables: Sequence[pl.DataFrame], labels: Sequence[str], axis: SubmitAxis, title: str
) -> list[Any]:
    """The page title and one line per table: jobs, distinct values per filter, submit span."""
    lines = []
    for table, label in zip(tables, labels, strict=True):
        distinct = {
            c: table[c].drop_nulls().n_unique() for c in FILTER_COLUMNS if c in table.columns
        }
        counts = ", ".join(
            f"{n:,} {_NOUNS[c]}{'s' if n != 1 and c != 'qos' else ''}" for c, n in distinct.items()
        )
        lines.append(f"{f'{label}: ' if label else ''}{table.height:,} jobs; {counts}")
    jobs = sum(t.height for t in tables)
    span = f"submitted {axis.label(0)} to {axis.label(axis.last)}" if jobs else ""
    unit = f" (UTC{' days' if axis.unit >= 86400 else ''})" if axis.calendar and jobs else ""
    text = "; ".join(lines) + (f"; {span}{unit}" if span else "")
    return [html.H2(title, style={"margin": "0 0 4px 0"}), html.Div(text, id="headline")]


def insights_panel(
    found: Sequence[Sequence[Insight]], labels: Sequence[str], contrast: Sequence[Insight] = ()
) -> list[Any]:
    """The plain-language insights of each table's selected jobs (and their contrasts)."""
    blocks: list[Any] = []
    if contrast:
        blocks.append(_sentences(contrast, "insights-compare", " vs ".join(labels)))
    for i, (items, label) in enumerate(zip(found, labels, strict=True)):
        blocks.append(_sentences(items, f"insights-{i}", label))
    return blocks


def _sentences(items: Sequence[Insight], block_id: str, label: str) -> html.Div:
    heading = [html.H4(label, style={"margin": "6px 0 2px"})] if label else []
    return html.Div(
        [*heading, html.Ul([html.Li(i.text, id=f"{block_id}-{i.key}") for i in items])],
        id=block_id,
    )


def consumers_panel(preps: Sequence[Prepared], labels: Sequence[str]) -> list[Any]:
    """Core-hours by account and by user (top :data:`TOP_CONSUMERS` and "others")."""
    blocks: list[Any] = []
    for by in ("account", "user"):
        cells = [
            html.Div(
                [html.H4(label, style={"margin": "4px 0"})] * bool(label)
                + [_consumers(core_hours_table(p, by), by)]
            )
            for p, label in zip(preps, labels, strict=True)
        ]
        heading = html.H3(f"Core-hours by {by} (top {TOP_CONSUMERS})")
        blocks.append(html.Div([heading, html.Div(cells, style=_ROW)], id=f"core-hours-{by}"))
    return blocks


def _consumers(rows: pl.DataFrame, by: str) -> Any:
    if rows.is_empty():
        return html.P(f"No {by} with cpus and a run time among these jobs.")
    head = html.Tr([html.Th(by, style=_FIRST)] + [html.Th(h, style=_CELL) for h in _HEADS])
    body = [
        html.Tr(
            [html.Td(str(r["group"]), style=_FIRST)]
            + [html.Td(cell_text(r[c], how), style=_CELL) for c, how in _FORMATS]
        )
        for r in rows.iter_rows(named=True)
    ]
    return html.Table([html.Thead(head), html.Tbody(body)], style=_TABLE)


_HEADS: Final = ("jobs", "core-hours", "share")
_FORMATS: Final = (("jobs", "int"), ("core_hours", "core"), ("share", "share"))


def delta_panel(a: Prepared, b: Prepared, names: Sequence[str]) -> list[Any]:
    """The Δ tables (B − A) by size class and by class of service, as the report has them."""
    note = (
        f"Δ = {names[1]} − {names[0]}; waits are start − submit; "
        "jobs that never started have no wait."
    )
    blocks: list[Any] = [html.P(note)]
    by = service_class(a) or service_class(b)
    for grouping in ["size_class"] + ([by] if by is not None else []):
        blocks.append(_delta_table(delta_rows(a, b, grouping), grouping, names))
    return blocks


def _delta_table(rows: pl.DataFrame, by: str, names: Sequence[str]) -> Any:
    top = html.Tr(
        [html.Th(by.replace("_", " "), rowSpan=2, style=_FIRST)]
        + [
            html.Th(h, colSpan=3, style={**_CELL, "textAlign": "center"})
            for _, h, _ in DELTA_MEASURES
        ]
    )
    sub = html.Tr([html.Th(t, style=_CELL) for _ in DELTA_MEASURES for t in (*names, "Δ")])
    body = [
        html.Tr(
            [html.Td(str(row["group"]), style=_FIRST)]
            + [
                html.Td(
                    delta_cell(row[f"{m}_{side}"], kind, delta=side == "delta"),
                    style={**_CELL, "fontWeight": 600} if side == "delta" else _CELL,
                )
                for m, _, kind in DELTA_MEASURES
                for side in ("a", "b", "delta")
            ]
        )
        for row in rows.iter_rows(named=True)
    ]
    return html.Table([html.Thead([top, sub]), html.Tbody(body)], style=_TABLE, id=f"delta-{by}")
