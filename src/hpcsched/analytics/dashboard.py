"""The interactive dashboard: the report's views, recomputed for the jobs a user filters to.

The filters (a submit-time range, user, partition, QoS, state;
:mod:`hpcsched.analytics.dashboard_filters`) select jobs; the jobs that pass go through the very
same functions as the static report: :func:`hpcsched.analytics.figures.build_figures`, the usage
charts of :mod:`hpcsched.analytics.usage`, the insights and the core-hours tables
(:mod:`hpcsched.analytics.dashboard_panels`), so dashboard and report never disagree about what a
view shows. Filtering a million rows is a vectorised scan (tens of milliseconds); the figures
aggregate, so what travels to the browser does not grow with the table.

With a second table (``compare``) the filters apply to both; each chart is drawn for each, side
by side on one y scale (:func:`hpcsched.analytics.report_compare.share_y_axes`), with the Δ table
and the contrasting insights, as in ``report --compare``.

The selection lives in the URL's query string (``dcc.Location``, ``refresh=False``): choosing a
filter rewrites it, opening a URL restores it, so a view can be bookmarked or sent. Both
directions are one callback, the form of a two-way link Dash allows (a cycle of two callbacks
is refused).

Two operational choices, both about where the dashboard runs (a login node, a laptop):

- Dash serves its JavaScript bundles itself (``serve_locally=True``), so the page works on a
  machine with no route to a CDN.
- The server binds ``127.0.0.1`` by default: a job table names users, their jobs and their
  failures (personal data); reach it from elsewhere through an SSH tunnel.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from typing import Any, Final

import dash
import plotly.graph_objects as go
import polars as pl
from dash import Input, Output, ctx, dcc, html
from werkzeug.serving import BaseWSGIServer, make_server

from hpcsched.analytics import dashboard_panels as panels
from hpcsched.analytics.dashboard_filters import (
    FILTER_COLUMNS,
    SubmitAxis,
    filter_jobs,
    from_search,
    to_search,
)
from hpcsched.analytics.derive import prepare
from hpcsched.analytics.figures import FIGURE_TITLES, build_figures
from hpcsched.analytics.insights import insights
from hpcsched.analytics.insights_compare import compare_insights
from hpcsched.analytics.report_compare import share_y_axes
from hpcsched.analytics.usage import USAGE_TITLES, usage_figures

FILTER_LABELS: Final = {"user": "User", "partition": "Partition", "qos": "QoS", "state": "State"}
#: Every chart of the page, in order: the report's figures, then its usage charts.
CHART_KEYS: Final = (*FIGURE_TITLES, *USAGE_TITLES)
#: The graph id suffix of each table: ``fig-<key>`` for the first, ``fig-<key>-b`` compared.
_SUFFIXES: Final = ("", "-b")
_GRID: Final = {
    "display": "grid",
    "gridTemplateColumns": "repeat(auto-fit, minmax(520px, 1fr))",
    "gap": "8px",
}
_PAIRS: Final = {"display": "grid", "gridTemplateColumns": "1fr 1fr", "gap": "8px"}


def _charts(
    tables: Sequence[pl.DataFrame], labels: Sequence[str], capacity: Sequence[float | None]
) -> list[dict[str, go.Figure]]:
    """Every chart of each table, named by its table when comparing, on shared y scales."""
    charts = []
    for table, cap in zip(tables, capacity, strict=True):
        prep = prepare(table)
        charts.append({**build_figures(prep, capacity=cap), **usage_figures(prep)})
    if len(charts) == 2:  # one y scale per pair of charts: heights compare across the row
        share_y_axes(charts[0], charts[1])
    for figures, label in zip(charts, labels, strict=True):
        for fig in figures.values() if label else ():
            fig.update_layout(title_text=f"{label}: {fig.layout.title.text}")
    return charts


def _words(
    tables: Sequence[pl.DataFrame],
    labels: Sequence[str],
    capacity: Sequence[float | None],
) -> tuple[list[Any], list[Any], list[Any]]:
    """The insights, core-hours and (comparing) Δ panels of the selected jobs."""
    preps = [prepare(t) for t in tables]
    found = [insights(p, capacity=c) for p, c in zip(preps, capacity, strict=True)]
    contrast, delta = [], []
    if len(preps) == 2:
        names = (labels[0], labels[1])
        caps = (capacity[0], capacity[1])
        contrast = compare_insights(preps[0], preps[1], names=names, capacity=caps)
        delta = panels.delta_panel(preps[0], preps[1], names)
    words = panels.insights_panel(found, labels, contrast)
    return words, panels.consumers_panel(preps, labels), delta


def make_app(
    table: pl.DataFrame,
    *,
    title: str | None = None,
    capacity: float | None = None,
    compare: pl.DataFrame | None = None,
    names: tuple[str, str] = ("A", "B"),
    compare_capacity: float | None = None,
) -> dash.Dash:
    """A Dash app over ``table`` (the canonical job table): filters driving the report's views.

    ``capacity`` is the machine size in processors, for utilisation (see ``build_figures``);
    ``compare`` a second table shown beside the first (``names`` label them; its machine size is
    ``compare_capacity``).

    Graph ids are ``fig-<key>`` for each key of :data:`CHART_KEYS` (``fig-<key>-b`` for the
    compared table); the filter ids are ``submit-days`` (a range slider over submit-time steps)
    and ``filter-<column>``; ``shown`` says how many jobs pass, ``insights`` what they say,
    ``core-hours`` who used the machine, ``delta`` (comparing) B − A; ``url`` holds the query.
    """
    title = title or "Job table"
    tables = [table] if compare is None else [table, compare]
    labels = [""] if compare is None else list(names)
    caps = [capacity] if compare is None else [capacity, compare_capacity]
    axis = SubmitAxis(pl.concat([t["submit"].cast(pl.Float64) for t in tables]))
    top = max(axis.last, 1)
    options = {c: panels.filter_options(tables, c) for c in FILTER_COLUMNS}
    known = {c: [o["value"] for o in choices] for c, choices in options.items()}
    step = axis.unit_name if axis.unit_name[0].isdigit() else f"a {axis.unit_name}"
    app = dash.Dash(__name__, serve_locally=True, title=f"{title} · hpcsched", update_title="")
    filters = [
        html.Div(
            [
                html.Label(FILTER_LABELS[column], htmlFor=f"filter-{column}"),
                dcc.Dropdown(
                    id=f"filter-{column}",
                    options=options[column],
                    value=[],
                    multi=True,
                    placeholder="all",
                ),
            ],
            style={"flex": "1 1 200px", "minWidth": "180px"},
        )
        for column in FILTER_COLUMNS
    ]
    slider = html.Div(
        [
            html.Label(f"Submitted (one step: {step})", htmlFor="submit-days"),
            dcc.RangeSlider(
                id="submit-days",
                min=0,
                max=top,
                step=1,
                value=[0, top],
                marks=axis.marks(),
                allowCross=False,
                allow_direct_input=False,  # raw step numbers mean nothing to a reader
                disabled=axis.last == 0,  # every job was submitted in the same second
                updatemode="mouseup",
            ),
        ],
        style={"margin": "12px 0"},
    )
    charts = _charts(tables, labels, caps)
    graph_ids = [f"fig-{key}{_SUFFIXES[i]}" for key in CHART_KEYS for i in range(len(tables))]
    graphs = [
        dcc.Graph(id=gid, figure=charts[i][key], style={"minHeight": "380px"})
        for key in CHART_KEYS
        for i in range(len(tables))
        for gid in [f"fig-{key}{_SUFFIXES[i]}"]
    ]
    words, consumers, delta = _words(tables, labels, caps)
    total = sum(t.height for t in tables)
    app.layout = html.Div(
        [
            dcc.Location(id="url", refresh=False),
            html.Div(panels.headline(tables, labels, axis, title)),
            slider,
            html.Div(filters, style={"display": "flex", "flexWrap": "wrap", "gap": "12px"}),
            html.Div(f"showing {total:,} of {total:,} jobs", id="shown"),
            html.H3("Insights"),
            html.Div(words, id="insights"),
            *([html.H3(f"Δ {names[1]} − {names[0]}"), html.Div(delta, id="delta")] * bool(delta)),
            html.Div(graphs, style=_PAIRS if compare is not None else _GRID),
            html.Div(consumers, id="core-hours"),
        ],
        style={"fontFamily": "sans-serif", "margin": "12px 20px"},
    )
    controls = ["submit-days", *(f"filter-{c}" for c in FILTER_COLUMNS)]

    @app.callback(
        [Output("url", "search")] + [Output(c, "value") for c in controls],
        [Input("url", "search")] + [Input(c, "value") for c in controls],
    )
    def _sync_url(search: str | None, steps: list[int] | None, *chosen: list[str] | None) -> Any:
        values = [list(c or []) for c in chosen]
        current: list[Any] = [steps or [0, top], *values]
        if ctx.triggered_id in controls:  # the user chose: write the selection in the URL
            picked = dict(zip(FILTER_COLUMNS, values, strict=True))
            return [to_search(axis, steps, picked)] + [dash.no_update] * len(controls)
        # the page was opened (or went back): the URL's selection, where it differs
        wanted_steps, wanted = from_search(axis, search, known)
        restored = [wanted_steps, *(wanted[c] for c in FILTER_COLUMNS)]
        return [dash.no_update] + [
            want if want != have else dash.no_update
            for want, have in zip(restored, current, strict=True)
        ]

    @app.callback(
        [Output(gid, "figure") for gid in graph_ids]
        + [Output("shown", "children"), Output("insights", "children")]
        + [Output("core-hours", "children")]
        + ([Output("delta", "children")] if compare is not None else []),
        [Input(c, "value") for c in controls],
        prevent_initial_call=True,
    )
    def _refresh(steps: list[int] | None, *chosen: list[str] | None) -> list[Any]:
        picked = dict(zip(FILTER_COLUMNS, (tuple(c or ()) for c in chosen), strict=True))
        between = axis.between(steps)
        shown = [filter_jobs(t, submit_between=between, **picked) for t in tables]
        count = sum(s.height for s in shown)
        share = f" ({count / total:.1%})" if total else ""
        line = f"showing {count:,} of {total:,} jobs{share}"
        if len(tables) == 2:
            each = (f"{s.height:,} {n}" for s, n in zip(shown, names, strict=True))
            line += f" ({', '.join(each)})"
        if between is not None and steps:
            line += f" submitted {axis.label(steps[0])} to {axis.label(steps[1])}"
        # every key is always present: a chart the selection cannot support says why
        figures = _charts(shown, labels, caps)
        words, consumers, delta = _words(shown, labels, caps)
        drawn = [figures[i][key] for key in CHART_KEYS for i in range(len(tables))]
        return drawn + [line, words, consumers] + ([delta] if compare is not None else [])

    return app


def listen(host: str = "127.0.0.1", port: int = 8050) -> socket.socket:
    """A TCP socket bound to ``host:port`` and listening (``port=0``: any free port).

    Bound here, not in Werkzeug, so that a busy port raises :class:`OSError` before any work
    (Werkzeug's own bind prints and exits), and the command can fail in one line.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def wsgi_server(app: dash.Dash, sock: socket.socket) -> BaseWSGIServer:
    """A threaded Werkzeug server for ``app`` on the listening ``sock`` (which it takes over).

    Call ``serve_forever()`` on the result; ``shutdown()`` stops it from another thread.
    """
    host, port = sock.getsockname()[:2]
    try:
        return make_server(host, port, app.server, threaded=True, fd=sock.fileno())
    finally:
        sock.close()  # the server holds its own duplicate of the descriptor


def run_dashboard(
    table: pl.DataFrame,
    host: str = "127.0.0.1",
    port: int = 8050,
    debug: bool = False,
    *,
    title: str | None = None,
    capacity: float | None = None,
) -> None:
    """Serve the dashboard of ``table`` until interrupted (``debug``: Dash's dev tools and
    reloader, for working on the dashboard itself)."""
    if debug:
        make_app(table, title=title, capacity=capacity).run(host=host, port=port, debug=True)
        return
    sock = listen(host, port)  # a busy port fails before the figures are built
    wsgi_server(make_app(table, title=title, capacity=capacity), sock).serve_forever()
