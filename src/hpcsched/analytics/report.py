"""``hpcsched report``: one self-contained HTML page of charts, summary tables and insights.

The Frontier/Andes study's path (sacct → curated table → Plotly charts → insights; Borch et al.,
WISDOM 2025) for any job table: a sacct dump (``-P`` text or ``--json``), an SWF trace, a Parquet
table or a simulator's output. With ``compare`` two tables are shown side by side, chart by
chart, followed by sentences that contrast them. ``png=True`` also writes every chart as
``png/<key>.png`` (kaleido, one browser for the whole batch).
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import plotly.graph_objects as go
import polars as pl

from hpcsched.analytics import report_html as h
from hpcsched.analytics.derive import Prepared, prepare
from hpcsched.analytics.figures import FIGURE_TITLES, build_figures
from hpcsched.analytics.insights import Insight, insights
from hpcsched.analytics.insights_compare import compare_insights
from hpcsched.analytics.summaries import GROUPINGS, summaries
from hpcsched.workloads.swf import Malformed

if TYPE_CHECKING:
    from hpcsched.analytics.narrate import Narration

#: Written beside report.html: the insights as data (for ``--json`` and an LLM narrator).
INSIGHTS_FILE = "insights.json"


class ReportInputError(ValueError):
    """An input the report cannot read; the message is one line: what, where, what to do."""


@dataclass
class OpenedTable:
    """A job table and what came with it: the machine size (if the file says) and bad lines."""

    table: pl.DataFrame
    kind: str  # parquet, swf, sacct, sacct-json
    path: str
    capacity: float | None = None
    malformed: list[Malformed] = field(default_factory=list)


def _head(path: Path, size: int = 65536) -> bytes:
    """The first bytes of the file, gunzipped when it is gzip (trust bytes, not names)."""
    try:
        with path.open("rb") as f:
            raw = f.read(size)
        if raw[:2] == b"\x1f\x8b":
            with gzip.open(path, "rb") as g:
                raw = g.read(size)
    except FileNotFoundError:
        raise ReportInputError(f"cannot read {path}: no such file (check the path)") from None
    except IsADirectoryError:
        raise ReportInputError(f"cannot read {path}: it is a directory (give a file)") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise ReportInputError(f"cannot read {path}: {exc} (check the file)") from None
    return raw


def sniff(path: Path) -> str:
    """What the file holds: ``parquet``, ``sacct-json``, ``swf`` or ``sacct`` (``-P`` text).

    SWF files start with ``;`` header comments or lines of whitespace-separated numbers;
    ``sacct -P`` output with a header of field names joined by ``|``."""
    raw = _head(path)
    if raw[:4] == b"PAR1":
        return "parquet"
    text = raw.decode("utf-8", "replace").lstrip("\ufeff")
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        return "sacct-json"
    first = next((ln.strip() for ln in stripped.splitlines() if ln.strip()), "")
    if first.startswith(";") or (first and all(_number(t) for t in first.split())):
        return "swf"
    if "|" in first:
        return "sacct"
    raise ReportInputError(
        f"cannot tell what {path} is: line 1 is neither an SWF line, a sacct -P header "
        "(Field|Field|...), sacct --json nor Parquet (give one of those)"
    )


def _number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def open_table(path: str | Path) -> OpenedTable:
    """Read a job table from Parquet, SWF (``.swf``/``.swf.gz``), ``sacct -P`` or ``sacct --json``.

    Raises :class:`ReportInputError` (one line) for what cannot be read; malformed lines of a
    readable file are returned in ``malformed`` (file and line), never silently dropped."""
    from hpcsched.workloads.load import InputError, load_jobs
    from hpcsched.workloads.sacct import SacctError, read_sacct
    from hpcsched.workloads.sacct_json import read_sacct_json

    p = Path(path)
    kind = sniff(p)
    try:
        if kind == "parquet":
            return _parquet(p)
        if kind == "swf":
            loaded = load_jobs(p)
            cap = float(loaded.machine_procs) if loaded.machine_procs else None
            return OpenedTable(loaded.table, kind, str(p), cap, list(loaded.malformed))
        read = read_sacct_json(p) if kind == "sacct-json" else read_sacct(p)
    except (InputError, SacctError) as exc:
        raise ReportInputError(str(exc)) from None
    return OpenedTable(read.table, kind, str(p), None, list(read.malformed))


def _parquet(path: Path) -> OpenedTable:
    """A Parquet job table (any file name) and the machine size ``write_table`` recorded.

    Polars' own reader, not pyarrow's: for 1M jobs it takes ~0.3 s instead of ~0.8 s (pyarrow
    read plus the Arrow to Polars conversion, which also held the table twice in memory); the
    machine size is read from the footer alone."""
    from hpcsched.core.schema import conform
    from hpcsched.workloads.load import machine_procs_of

    try:
        procs = machine_procs_of(path)
        frame = pl.read_parquet(path)
    except Exception as exc:  # pyarrow and polars raise many types for a bad file
        raise ReportInputError(f"cannot read {path} as Parquet: {exc}".splitlines()[0]) from None
    return OpenedTable(conform(frame), "parquet", str(path), float(procs) if procs else None)


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
) -> Path:
    """Write ``out_dir/report.html`` (and ``out_dir/png/<key>.png`` with ``png``); its path.

    Beside it, :data:`INSIGHTS_FILE` holds every insight as data (key, text, numbers).
    ``narrator`` (:func:`hpcsched.analytics.narrate.narrate` with its client bound) adds the
    checked narration of each view to the page and to the file, under ``narration``.

    ``capacity`` is the machine size in processors of ``table`` and of ``compare`` (utilisation
    is a fraction only when it is known)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    preps = [prepare(table)] + ([prepare(compare)] if compare is not None else [])
    labels = list(names[: len(preps)]) if compare is not None else [""]
    # the insights are worked out on a second thread while the charts are built: both are
    # mostly Polars (the GIL released), so on two cores they overlap instead of adding
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="insights") as pool:
        finding = pool.submit(
            lambda: [insights(p, capacity=c) for p, c in zip(preps, capacity, strict=False)]
        )
        tables = [summaries(p) for p in preps]
        figures = [
            build_figures(p, capacity=c, summaries=s)
            for p, c, s in zip(preps, capacity, tables, strict=False)
        ]
        found = finding.result()
    narration = narrator(preps) if narrator is not None else None
    sections = [("Insights", _insights_section(found, labels) + h.narration_html(narration))]
    contrast: list[Insight] = []
    if compare is not None:
        contrast = compare_insights(preps[0], preps[1], names=names, capacity=capacity)
        sections.insert(0, (f"{names[0]} vs {names[1]}", h.insights_html(contrast)))
    for key, chart_title in FIGURE_TITLES.items():
        cells = [
            h.figure_html(_labelled(f[key], lab), _div_id(key, i))
            for i, (f, lab) in enumerate(zip(figures, labels, strict=True))
        ]
        sections.append((chart_title, h.view_html(narration, key) + h.row_html(cells)))
    for by in GROUPINGS:
        cells = [h.summary_html(t[by], by) for t in tables]
        heading = "Summary" if by == "overall" else f"Summary by {by.replace('_', ' ')}"
        sections.append((heading, h.row_html(_titled(cells, labels))))
    jobs = " and ".join(
        f"{p.jobs.height:,} jobs{f' ({lab})' if lab else ''}"
        for p, lab in zip(preps, labels, strict=True)
    )
    page_title = title or ("Job report" if compare is None else f"{names[0]} vs {names[1]}")
    path = out / "report.html"
    path.write_text(h.page(page_title, f"{jobs}; generated by hpcsched", sections), "utf-8")
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
    (out / INSIGHTS_FILE).write_text(json.dumps(data, indent=1, default=str), "utf-8")
    if png:
        write_pngs(figures, labels, out / "png")
    return path


def _div_id(key: str, index: int) -> str:
    return key if index == 0 else f"{key}-{index}"


def _labelled(fig: go.Figure, label: str) -> go.Figure:
    """The chart with the table's name in front of its title (side-by-side comparisons)."""
    if label:
        fig.update_layout(title_text=f"{label}: {fig.layout.title.text}")
    return fig


def _titled(cells: list[str], labels: list[str]) -> list[str]:
    return [f"<h3>{lab}</h3>{c}" if lab else c for c, lab in zip(cells, labels, strict=True)]


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
    pio.write_images(figs, paths, format="png", width=1000, height=520)
    return paths


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)
