"""The interactive dashboard: the report's figures, recomputed for the jobs a user filters to.

The filters (submit-day range, user, partition, QoS, state) become one Polars predicate over the
job table (:func:`selection`); the jobs that pass go through the very same
:func:`hpcsched.analytics.figures.build_figures` as the static report, so dashboard and report
never disagree about what a chart shows. Filtering a million rows is a vectorised scan (tens of
milliseconds); the figures aggregate, so what travels to the browser does not grow with the table.

Two operational choices, both about where the dashboard runs (a login node, a laptop):

- Dash serves its JavaScript bundles itself (``serve_locally=True``), so the page works on a
  machine with no route to a CDN.
- The server binds ``127.0.0.1`` by default: a job table names users, their jobs and their
  failures (personal data); reach it from elsewhere through an SSH tunnel.

Submit days are UTC days when ``submit`` holds epoch seconds (sacct, the runtime) and days since
the trace's start for trace-relative times (SWF; see :mod:`hpcsched.core.schema`).
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

import dash
import polars as pl
from dash import Input, Output, dcc, html
from werkzeug.serving import BaseWSGIServer, make_server

from hpcsched.analytics.derive import EPOCH_THRESHOLD
from hpcsched.analytics.figures import build_figures

#: The columns a user filters on with a multi-select (empty selection = every value).
FILTER_COLUMNS: Final = ("user", "partition", "qos", "state")
FILTER_LABELS: Final = {"user": "User", "partition": "Partition", "qos": "QoS", "state": "State"}
_NOUNS: Final = {"user": "user", "partition": "partition", "qos": "QoS", "state": "state"}
DAY: Final = 86400.0
#: The label of the empty string in a filter (SWF has no QoS: the reader writes "").
NONE_LABEL: Final = "(none)"
MAX_MARKS: Final = 8


def selection(
    *,
    submit_between: tuple[float, float] | None = None,
    user: Sequence[str] = (),
    partition: Sequence[str] = (),
    qos: Sequence[str] = (),
    state: Sequence[str] = (),
) -> pl.Expr:
    """The predicate the filters stand for: ``submit`` in ``[from, to)`` and each column in its
    chosen values; an empty choice (or no range) keeps every row, including nulls."""
    expr = pl.lit(True)
    if submit_between is not None:
        low, high = submit_between
        expr &= (pl.col("submit") >= low) & (pl.col("submit") < high)
    for column, chosen in zip(FILTER_COLUMNS, (user, partition, qos, state), strict=True):
        if chosen:
            expr &= pl.col(column).is_in(list(chosen))
    return expr


def filter_jobs(
    table: pl.DataFrame,
    *,
    submit_between: tuple[float, float] | None = None,
    user: Sequence[str] = (),
    partition: Sequence[str] = (),
    qos: Sequence[str] = (),
    state: Sequence[str] = (),
) -> pl.DataFrame:
    """The jobs of ``table`` that pass :func:`selection` (rows with a null in a filtered column
    pass only while nothing is chosen in it: there is no value to choose for them)."""
    chosen = selection(
        submit_between=submit_between, user=user, partition=partition, qos=qos, state=state
    )
    return table.filter(chosen)


class SubmitDays:
    """The submit-day axis of the range slider: day ``i`` is ``[origin + i*86400, +86400)`` s.

    ``origin`` is the UTC midnight before the first submission (epoch times) or the start of the
    first trace day (trace-relative times); ``last`` is the index of the last submission's day.
    """

    def __init__(self, submit: pl.Series) -> None:
        times = submit.cast(pl.Float64).drop_nulls().drop_nans().to_numpy()
        first, final = (float(times.min()), float(times.max())) if times.size else (0.0, 0.0)
        self.calendar = first > EPOCH_THRESHOLD  # the figures' rule: epoch, else SWF-relative
        self.origin = (first // DAY) * DAY
        self.last = int((final - self.origin) // DAY)

    def label(self, day: int) -> str:
        if self.calendar:
            return datetime.fromtimestamp(self.origin + day * DAY, UTC).strftime("%Y-%m-%d")
        return f"day {day}"

    def marks(self) -> dict[int, str]:
        step = max(1, -(-self.last // (MAX_MARKS - 1)))
        days = [*range(0, self.last, step), self.last]
        return {day: self.label(day) for day in days}

    def between(self, value: Sequence[int] | None) -> tuple[float, float] | None:
        """Seconds ``[from, to)`` for slider days ``[a, b]``; ``None`` when all days are chosen."""
        if not value or (int(value[0]) <= 0 and int(value[1]) >= self.last):
            return None
        return self.origin + int(value[0]) * DAY, self.origin + (int(value[1]) + 1) * DAY


def _options(table: pl.DataFrame, column: str) -> list[dict[str, str]]:
    """The values of ``column``, most jobs first, labelled with their job counts."""
    if column not in table.columns:
        return []
    counts = (
        table.select(pl.col(column).cast(pl.String))
        .drop_nulls()
        .group_by(column)
        .len()
        .sort(["len", column], descending=[True, False])
    )
    return [
        {"label": f"{value or NONE_LABEL} ({n:,})", "value": value}
        for value, n in counts.iter_rows()
    ]


def _headline(table: pl.DataFrame, days: SubmitDays, title: str) -> list[Any]:
    distinct = {c: table[c].drop_nulls().n_unique() for c in FILTER_COLUMNS if c in table.columns}
    counts = ", ".join(
        f"{n:,} {_NOUNS[c]}{'s' if n != 1 and c != 'qos' else ''}" for c, n in distinct.items()
    )
    span = f"submitted {days.label(0)} to {days.label(days.last)}" if table.height else ""
    unit = " (UTC days)" if days.calendar and table.height else ""
    return [
        html.H2(title, style={"margin": "0 0 4px 0"}),
        html.Div(f"{table.height:,} jobs; {counts}; {span}{unit}", id="headline"),
    ]


def make_app(
    table: pl.DataFrame, *, title: str | None = None, capacity: float | None = None
) -> dash.Dash:
    """A Dash app over ``table`` (the canonical job table): filters driving the report's figures.

    ``capacity`` is the machine size in processors, for utilisation (see ``build_figures``).

    Graph ids are ``fig-<key>`` for each key of ``build_figures``; the filter ids are
    ``submit-days`` (a range slider over submit days) and ``filter-<column>``; ``shown`` says how
    many jobs pass.
    """
    title = title or "Job table"
    days = SubmitDays(table["submit"])
    initial = build_figures(table, capacity=capacity)
    keys = list(initial)
    app = dash.Dash(__name__, serve_locally=True, title=f"{title} · hpcsched", update_title="")
    filters = [
        html.Div(
            [
                html.Label(FILTER_LABELS[column], htmlFor=f"filter-{column}"),
                dcc.Dropdown(
                    id=f"filter-{column}",
                    options=_options(table, column),
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
            html.Label("Submit day", htmlFor="submit-days"),
            dcc.RangeSlider(
                id="submit-days",
                min=0,
                max=max(days.last, 1),
                step=1,
                value=[0, max(days.last, 1)],
                marks=days.marks(),
                allowCross=False,
                allow_direct_input=False,  # raw day numbers mean nothing to a reader
                disabled=days.last == 0,  # all jobs were submitted on one day
                updatemode="mouseup",
            ),
        ],
        style={"margin": "12px 0"},
    )
    graphs = [
        dcc.Graph(id=f"fig-{key}", figure=initial[key], style={"minHeight": "380px"})
        for key in keys
    ]
    app.layout = html.Div(
        [
            html.Div(_headline(table, days, title)),
            slider,
            html.Div(filters, style={"display": "flex", "flexWrap": "wrap", "gap": "12px"}),
            html.Div(f"showing {table.height:,} of {table.height:,} jobs", id="shown"),
            html.Div(
                graphs,
                style={
                    "display": "grid",
                    "gridTemplateColumns": "repeat(auto-fit, minmax(520px, 1fr))",
                    "gap": "8px",
                },
            ),
        ],
        style={"fontFamily": "sans-serif", "margin": "12px 20px"},
    )

    @app.callback(
        [Output(f"fig-{key}", "figure") for key in keys] + [Output("shown", "children")],
        [Input("submit-days", "value")] + [Input(f"filter-{c}", "value") for c in FILTER_COLUMNS],
        prevent_initial_call=True,
    )
    def _refresh(day_range: list[int] | None, *chosen: list[str] | None) -> list[Any]:
        picked = dict(zip(FILTER_COLUMNS, (tuple(c or ()) for c in chosen), strict=True))
        between = days.between(day_range)
        shown = filter_jobs(table, submit_between=between, **picked)
        share = f" ({shown.height / table.height:.1%})" if table.height else ""
        line = f"showing {shown.height:,} of {table.height:,} jobs{share}"
        if between is not None and day_range:
            line += f" submitted {days.label(day_range[0])} to {days.label(day_range[1])}"
        # every key is always present: a chart the selection cannot support says why
        figures = build_figures(shown, capacity=capacity)
        return [figures[key] for key in keys] + [line]

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
