"""A run's DAG as one self-contained HTML page: ``hpcsched status RUN_DIR --html FILE``.

Tasks are laid out by level, the longest path from a root (x = level, y = place within the
level, in submission order), the layered drawing of Sugiyama et al. (1981) without its
crossing-reduction pass: a run's DAG is drawn to see where a failure sits and what it blocked,
and a level is exactly what ``run --dry-run`` lists. Each node is coloured by the state every
command shows (:mod:`hpcsched.runtime.task_states`); its hover text gives id, state, attempts
and duration. Everything comes from the journal's record, so a running or crashed run draws too.
"""

from __future__ import annotations

import graphlib
import html
from dataclasses import dataclass
from typing import Final

import plotly.graph_objects as go

from hpcsched.core.durations import duration_text
from hpcsched.runtime.dry_run import levels_of
from hpcsched.runtime.journal import RunRecord
from hpcsched.runtime.task_states import TASK_STATES, task_rows

#: One colour per state of :data:`~hpcsched.runtime.task_states.TASK_STATES` (Tableau 10, the
#: report's palette: succeeded green and failed red as its completed and failed).
TASK_STATE_COLOURS: Final = {
    "succeeded": "#2ca02c",
    "failed": "#d62728",
    "blocked": "#ff7f0e",
    "cancelled": "#7f7f7f",
    "running": "#1f77b4",
    "waiting": "#aec7e8",
}


#: Task ids are written beside their nodes up to this many tasks in a level (beyond, the labels
#: overlap and hover alone names a task); the page grows by _ROW_PX per task of the widest level.
_LABELLED_WIDTH: Final = 25
_ROW_PX: Final = 22
_MAX_HEIGHT: Final = 4000


@dataclass(frozen=True)
class DagNode:
    task: str
    state: str  #: one of TASK_STATES
    attempts: int
    duration: float | None  #: seconds, first start to last end; None if it never ended
    level: int  #: longest path (in edges) from a root
    row: int  #: place within its level, submission order


def dag_layout(record: RunRecord) -> tuple[list[DagNode], list[tuple[str, str]]]:
    """The nodes (submission order) and the edges ``(dependency, task)`` of a run's DAG; a
    dependency the journal does not hold (a task of an earlier, other workflow) is left out."""
    tasks = {task_id: rec.task for task_id, rec in record.tasks.items()}
    graph = {tid: [d for d in task.depends if d in tasks] for tid, task in tasks.items()}
    # submission order is topological for every run the pilot writes; sort anyway so that a
    # hand-edited or merged journal still gets levels right
    order = list(graphlib.TopologicalSorter(graph).static_order())
    rank = {tid: i for i, tid in enumerate(tasks)}
    place: dict[str, tuple[int, int]] = {}
    for level, ids in enumerate(levels_of([tasks[tid] for tid in order])):
        for row, tid in enumerate(sorted(ids, key=rank.__getitem__)):
            place[tid] = (level, row)
    nodes = [
        DagNode(r["task"], r["state"], r["attempts"], r["duration"], *place[r["task"]])
        for r in task_rows(record)
    ]
    edges = [(dep, tid) for tid, deps in graph.items() for dep in deps]
    return nodes, edges


def _hover(node: DagNode) -> str:
    took = "—" if node.duration is None else duration_text(node.duration)
    return (
        f"<b>{html.escape(node.task)}</b><br>state: {node.state}<br>"
        f"attempts: {node.attempts}<br>duration: {took}"
    )


def dag_figure(record: RunRecord) -> go.Figure:
    """Edges as one line trace, then one marker trace per state present (the legend)."""
    nodes, edges = dag_layout(record)
    # rows centred on 0 so that a level of one task sits level with a wide one's middle
    width = {n.level: 0 for n in nodes}
    for n in nodes:
        width[n.level] += 1
    widest = max(width.values(), default=0)
    xy = {n.task: (float(n.level), n.row - (width[n.level] - 1) / 2) for n in nodes}
    xs: list[float | None] = []
    ys: list[float | None] = []
    for dep, tid in edges:
        xs += [xy[dep][0], xy[tid][0], None]
        ys += [xy[dep][1], xy[tid][1], None]
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=ys,
            mode="lines",
            name="dependencies",
            line={"color": "#999", "width": 1},
            hoverinfo="skip",
            showlegend=False,
        )
    )
    for state in TASK_STATES:
        group = [n for n in nodes if n.state == state]
        if not group:
            continue
        fig.add_trace(
            go.Scatter(
                x=[xy[n.task][0] for n in group],
                y=[xy[n.task][1] for n in group],
                mode="markers+text" if widest <= _LABELLED_WIDTH else "markers",
                name=f"{state} ({len(group)})",
                ids=[n.task for n in group],
                text=[n.task for n in group],
                textposition="top center",
                hovertext=[_hover(n) for n in group],
                hoverinfo="text",
                marker={
                    "color": TASK_STATE_COLOURS[state],
                    "size": 14,
                    "line": {"color": "#333", "width": 1},
                },
            )
        )
    levels = 1 + max((n.level for n in nodes), default=0)
    fig.update_layout(
        template="plotly_white",
        height=min(_MAX_HEIGHT, max(460, 120 + _ROW_PX * widest)),
        xaxis={
            "title": "level (longest path from a root)",
            "dtick": 1,
            "range": [-0.5, levels - 0.5],
        },
        yaxis={"visible": False},
        hovermode="closest",
        legend={"title": {"text": "state"}},
        margin={"l": 20, "r": 20, "t": 30, "b": 40},
    )
    return fig


def dag_page(record: RunRecord) -> str:
    """The whole page: a title, the state counts, the figure (plotly.js inlined once)."""
    from hpcsched.analytics.report_html import figure_html, page
    from hpcsched.runtime.task_states import state_counts

    counts = ", ".join(f"{n} {state}" for state, n in state_counts(record).items() if n)
    title = f"DAG of {record.run_dir}"
    subtitle = f"{len(record.tasks)} tasks: {counts or 'none'}"
    return page(title, subtitle, [("Tasks by level", figure_html(dag_figure(record), "dag"))])
