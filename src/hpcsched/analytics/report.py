"""``hpcsched report``: one self-contained HTML page of charts, summary tables and insights.

The Frontier/Andes study's path (sacct → curated table → Plotly charts → insights; Borch et al.,
WISDOM 2025) for any job table: a sacct dump (``-P`` text or ``--json``), an SWF trace, a Parquet
table or a simulator's output. With ``compare`` two tables are shown side by side, chart by
chart, followed by sentences that contrast them. ``png=True`` also writes every chart as
``png/<key>.png`` (kaleido, one browser for the whole batch). Files are opened by the one opener
of every command, :func:`hpcsched.workloads.load.load_jobs`.
"""

from __future__ import annotations

import contextlib
import html
import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import plotly.graph_objects as go
import polars as pl

from hpcsched.analytics import report_html as h
from hpcsched.analytics.derive import Prepared, prepare
from hpcsched.analytics.figures import FIGURE_TITLES, build_figures
from hpcsched.analytics.insights import Insight, insights
from hpcsched.analytics.insights_compare import compare_insights
from hpcsched.analytics.report_compare import delta_section, share_y_axes
from hpcsched.analytics.summaries import GROUPINGS, summaries
from hpcsched.analytics.usage import TOP_CONSUMERS, USAGE_TITLES, core_hours_table, usage_figures
from hpcsched.core.outputs import atomic_output

if TYPE_CHECKING:
    from hpcsched.analytics.narrate import Narration

#: Written beside report.html: the insights as data (for ``--json`` and an LLM narrator).
INSIGHTS_FILE = "insights.json"
#: the steps ``write_report`` tells its ``progress``, in order (narration only with a narrator)
REPORT_STEPS = ("preparing", "figures", "insights", "narration", "writing")


def write_report(
    table: pl.DataFrame,
    out_dir: str | Path,
    *,
    compare: pl.DataFrame | None = None,
    names: tuple[str, str] = ("A", "B"),
    title: str | None = None,
    png: bool = False,
    capacity: tuple[float | None, float | None] = (None, None),
    narrator: Callable[[Sequence[Prepared]], Narration] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Write ``out_dir/report.html`` (and ``out_dir/png/<key>.png`` with ``png``); its path.

    Beside it, :data:`INSIGHTS_FILE` holds every insight as data (key, text, numbers).
    ``narrator`` (:func:`hpcsched.analytics.narrate.narrate` with its client bound) adds the
    checked narration of each view to the page and to the file, under ``narration``.

    ``capacity`` is the machine size in processors of ``table`` and of ``compare`` (utilisation
    is a fraction only when it is known). ``progress`` is told each step as it starts
    (:data:`REPORT_STEPS`, ``narration`` only with a narrator); it only observes."""
    step = progress or (lambda name: None)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    step("preparing")
    preps = [prepare(table)] + ([prepare(compare)] if compare is not None else [])
    labels = list(names[: len(preps)]) if compare is not None else [""]
    # the insights are worked out on a second thread while the charts are built: both are
    # mostly Polars (the GIL released), so on two cores they overlap instead of adding
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="insights") as pool:
        finding = pool.submit(
            lambda: [insights(p, capacity=c) for p, c in zip(preps, capacity, strict=False)]
        )
        step("figures")
        tables = [summaries(p) for p in preps]
        figures = [
            build_figures(p, capacity=c, summaries=s)
            for p, c, s in zip(preps, capacity, tables, strict=False)
        ]
        step("insights")
        found = finding.result()
    usage = [usage_figures(p) for p in preps]
    if compare is not None:  # one y scale per pair of charts: heights compare across the row
        share_y_axes(figures[0], figures[1])
        share_y_axes(usage[0], usage[1])
    if narrator is not None:
        step("narration")
    narration = narrator(preps) if narrator is not None else None
    step("writing")
    sections = [("Insights", _insights_section(found, labels) + h.narration_html(narration))]
    contrast: list[Insight] = []
    if compare is not None:
        contrast = compare_insights(preps[0], preps[1], names=names, capacity=capacity)
        sections.insert(0, (f"{names[0]} vs {names[1]}", h.insights_html(contrast)))
        sections.insert(1, (f"Δ {names[1]} − {names[0]}", delta_section(preps[0], preps[1], names)))
    for key, chart_title in FIGURE_TITLES.items():
        cells = [
            h.figure_html(_labelled(f[key], lab), _div_id(key, i))
            for i, (f, lab) in enumerate(zip(figures, labels, strict=True))
        ]
        sections.append((chart_title, h.view_html(narration, key) + h.row_html(cells)))
    sections += _usage_sections(preps, usage, labels)
    for by in GROUPINGS:
        cells = [h.summary_html(t[by], by) for t in tables]
        heading = "Summary" if by == "overall" else f"Summary by {by.replace('_', ' ')}"
        # one above the other: ten columns side by side do not fit half a page
        sections.append((heading, "".join(_titled(cells, labels))))
    jobs = " and ".join(
        f"{p.jobs.height:,} jobs{f' ({lab})' if lab else ''}"
        for p, lab in zip(preps, labels, strict=True)
    )
    page_title = title or ("Job report" if compare is None else f"{names[0]} vs {names[1]}")
    path = out / "report.html"
    with atomic_output(path) as temp:  # an interrupted report never leaves half a page
        temp.write_text(h.page(page_title, f"{jobs}; generated by hpcsched", sections), "utf-8")
    data = {
        "tables": [
            {"name": lab or "table", "insights": [i.as_dict() for i in f]}
            for lab, f in zip(labels, found, strict=True)
        ],
        "compare": [i.as_dict() for i in contrast] if compare is not None else [],
        "charts": list(FIGURE_TITLES),
    }
    if narration is not None:
        data["narration"] = narration.as_dict()
    with atomic_output(out / INSIGHTS_FILE) as temp:
        temp.write_text(json.dumps(data, indent=1, default=str), "utf-8")
    if png:
        write_pngs(figures, labels, out / "png")
    return path


def _usage_sections(
    preps: list[Prepared], usage: list[dict[str, go.Figure]], labels: list[str]
) -> list[tuple[str, str]]:
    """Core-hours by account and by user (top consumers), the weekly wait trend and the
    submissions heatmap, each table or chart pair under one heading."""
    sections = []
    for by in ("account", "user"):
        cells = [h.consumers_html(core_hours_table(p, by), by) for p in preps]
        heading = f"Core-hours by {by} (top {TOP_CONSUMERS})"
        sections.append((heading, "".join(_titled(cells, labels))))
    for key, chart_title in USAGE_TITLES.items():
        cells = [
            h.figure_html(_labelled(u[key], lab), _div_id(key, i))
            for i, (u, lab) in enumerate(zip(usage, labels, strict=True))
        ]
        sections.append((chart_title, h.row_html(cells)))
    return sections


def _div_id(key: str, index: int) -> str:
    return key if index == 0 else f"{key}-{index}"


def _labelled(fig: go.Figure, label: str) -> go.Figure:
    """The chart with the table's name in front of its title (side-by-side comparisons)."""
    if label:
        fig.update_layout(title_text=f"{label}: {fig.layout.title.text}")
    return fig


def _titled(cells: list[str], labels: list[str]) -> list[str]:
    """Each cell under its table's name, in one block (a grid row places blocks, not parts)."""
    return [
        f'<div class="cell">{f"<h3>{html.escape(lab)}</h3>" if lab else ""}{c}</div>'
        for c, lab in zip(cells, labels, strict=True)
    ]


def _insights_section(found: list[list[Insight]], labels: list[str]) -> str:
    return h.row_html(_titled([h.insights_html(i) for i in found], labels))


def write_pngs(figures: list[dict[str, go.Figure]], labels: list[str], folder: Path) -> list[Path]:
    """Every chart as ``<key>.png`` (``<key>-<label>.png`` when comparing), one kaleido batch."""
    import plotly.io as pio

    folder.mkdir(parents=True, exist_ok=True)
    figs: list[go.Figure] = []
    paths: list[Path] = []
    for index, (per, label) in enumerate(zip(figures, labels, strict=True)):
        for key, fig in per.items():
            suffix = f"-{_slug(label) or index}" if len(figures) > 1 else ""
            figs.append(fig)
            paths.append(folder / f"{key}{suffix}.png")
    with contextlib.ExitStack() as stack:  # all renamed into place once the batch has ended
        temps = [stack.enter_context(atomic_output(p)) for p in paths]
        pio.write_images(figs, temps, format="png", width=1000, height=520)
    return paths


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)
