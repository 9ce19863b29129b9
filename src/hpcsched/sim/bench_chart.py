"""The scheduling benchmark's Pareto chart: makespan against mean wait, one panel per scenario
and size, Jain fairness as colour, one marker symbol per policy.

Each point is a policy's mean over seeds (:func:`hpcsched.sim.bench_metrics.mean_over_seeds`).
In each panel the points no other point dominates (none has both a makespan and a mean wait at
least as small, one of them smaller) are circled in black and joined by a dashed line: the
Pareto front of that scenario and size. Hovering a point shows every metric of its row.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

SYMBOLS = (
    "circle",
    "square",
    "diamond",
    "triangle-up",
    "cross",
    "star",
    "x",
    "pentagon",
    "hexagon",
    "triangle-down",
)
X, Y, COLOUR = "makespan_s", "mean_wait_s", "fairness_jain"


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point dominates (both coordinates minimised), sorted by
    the first coordinate."""
    front = [
        i
        for i, (x, y) in enumerate(points)
        if not any(
            (qx <= x and qy <= y) and (qx < x or qy < y)
            for j, (qx, qy) in enumerate(points)
            if j != i
        )
    ]
    return sorted(front, key=lambda i: points[i])


def _hover(row: dict[str, Any]) -> str:
    def shown(value: Any) -> str:
        return f"{value:,.4g}" if isinstance(value, float) else str(value)

    return "<br>".join(f"{k}: {shown(v)}" for k, v in row.items() if v is not None)


def pareto_figure(summary: pl.DataFrame, *, title: str = "") -> go.Figure:
    """The chart of ``summary`` (one row per scenario, jobs and policy): a panel per scenario
    (columns) and size (rows)."""
    ok = summary.filter(pl.col(X).is_not_null() & pl.col(Y).is_not_null())
    scenarios = list(dict.fromkeys(ok["scenario"].to_list()))
    sizes = sorted(set(ok["jobs"].to_list()))
    policies = list(dict.fromkeys(ok["policy"].to_list()))
    symbol = {p: SYMBOLS[i % len(SYMBOLS)] for i, p in enumerate(policies)}
    fig = make_subplots(
        rows=max(len(sizes), 1),
        cols=max(len(scenarios), 1),
        subplot_titles=[f"{s}, {n} jobs" for n in sizes for s in scenarios],
        horizontal_spacing=0.04,
        vertical_spacing=0.12 if len(sizes) > 1 else 0.2,
    )
    shown: set[str] = set()
    for r, size in enumerate(sizes, start=1):
        for c, scenario in enumerate(scenarios, start=1):
            panel = ok.filter((pl.col("scenario") == scenario) & (pl.col("jobs") == size))
            rows = panel.to_dicts()
            if not rows:
                continue
            points = [(float(row[X]), float(row[Y])) for row in rows]
            front = pareto_front(points)
            fig.add_trace(
                go.Scatter(
                    x=[points[i][0] for i in front],
                    y=[points[i][1] for i in front],
                    mode="lines",
                    line={"color": "black", "dash": "dash", "width": 1},
                    hoverinfo="skip",
                    showlegend=False,
                ),
                row=r,
                col=c,
            )
            for i, row in enumerate(rows):
                policy = row["policy"]
                fig.add_trace(
                    go.Scatter(
                        x=[points[i][0]],
                        y=[points[i][1]],
                        mode="markers",
                        name=policy,
                        legendgroup=policy,
                        showlegend=policy not in shown,
                        marker={
                            "symbol": symbol[policy],
                            "size": 12,
                            "color": [row.get(COLOUR)],
                            "coloraxis": "coloraxis",
                            "line": {"color": "black", "width": 2.5 if i in front else 0.5},
                        },
                        hovertext=[_hover(row)],
                        hoverinfo="text",
                    ),
                    row=r,
                    col=c,
                )
                shown.add(policy)
            fig.update_xaxes(title_text="makespan (s)", row=r, col=c)
            fig.update_yaxes(title_text="mean wait (s)" if c == 1 else None, row=r, col=c)
    width = max(420 * len(scenarios), 700) + 200
    fig.update_layout(
        title=title or "Makespan against mean wait; colour: Jain fairness; front: dashed",
        coloraxis={
            "colorscale": "Viridis",
            "cmin": 0.0,
            "cmax": 1.0,
            "colorbar": {"title": "Jain", "x": 1.0 + 150 / (width - 360), "xanchor": "left"},
        },
        # the legend beside the panels and the colour bar beyond it (they overlapped when both
        # took plotly's default place): the bar sits 150 px right of the plotting area
        legend={"title": "policy", "itemsizing": "constant", "x": 1.01, "xanchor": "left"},
        margin={"l": 80, "r": 280},
        width=width,
        height=max(380 * len(sizes), 450),
        template="plotly_white",
    )
    return fig


def write_chart(fig: go.Figure, folder: Path) -> dict[str, str]:
    """``pareto.html`` (plotly.js inside, opens offline) and ``pareto.png`` when Kaleido can
    draw it here; the paths written, or the reason the PNG is missing under ``png_error``."""
    html = folder / "pareto.html"
    fig.write_html(html, include_plotlyjs=True, full_html=True)
    written = {"html": str(html)}
    png = folder / "pareto.png"
    try:
        fig.write_image(png)
        written["png"] = str(png)
    except Exception as exc:  # Kaleido needs a browser; without one the HTML is the chart
        written["png_error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    return written
