"""hpcsched report: one self-contained HTML page of charts, tables and insights of a job table."""

from __future__ import annotations

import json
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hpcsched.cli.config import from_file
from hpcsched.cli.errors import checked_output, fail
from hpcsched.cli.inputs import open_job_table
from hpcsched.cli.llm import DeadlineOpt, LedgerOpt, ModelOpt, NarrateOpt, Narrating, UrlOpt
from hpcsched.cli.options import JsonOpt, flag

if TYPE_CHECKING:
    from hpcsched.workloads.load import LoadedTable


def _start_saving(table: Any, path: Path, machine: float | None) -> Future[None]:
    """Write ``table`` to ``path`` as Parquet (``write_table``: the machine size goes in its
    metadata) on a thread, while the report is built.

    For 1M jobs × 60 sacct fields the write takes ~2 s; Arrow's Parquet writer and most of the
    report (Polars, NumPy) release the GIL, so on two cores the two overlap instead of adding."""
    from concurrent.futures import ThreadPoolExecutor

    from hpcsched.workloads.load import write_table

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="save-table")
    saving = pool.submit(
        write_table, table, path, machine_procs=round(machine) if machine else None
    )
    pool.shutdown(wait=False)  # the write goes on; the interpreter waits for it at exit
    return saving


def _finish_saving(saving: Future[None], path: Path) -> None:
    """Wait for :func:`_start_saving`; a failed write is one line (what, where, what to do)."""
    try:
        saving.result()
    except OSError as exc:
        fail(f"cannot write the job table to {path}: {exc.strerror or exc} (check the folder)")


def _size(opened: LoadedTable) -> float | None:
    """The machine size the file records, as the analytics take it (processors, a float)."""
    return float(opened.machine_procs) if opened.machine_procs else None


def _sinfo_procs(path: Path) -> float:
    """The processors of a ``sinfo --json`` file; a bad file is one line."""
    from hpcsched.workloads.sinfo import read_sinfo

    try:
        machine = read_sinfo(path)
    except ValueError as exc:
        fail(str(exc))
    return float(machine.cpus)


def short_name(path: Path) -> str:
    """The file name without the suffixes the readers know (``KTH.swf.gz`` -> ``KTH``)."""
    name = path.name
    for suffix in (".gz", ".parquet", ".swf", ".json", ".txt", ".csv"):
        name = name.removesuffix(suffix)
    return name or path.name


def report(
    ctx: typer.Context,
    table: Annotated[
        Path,
        typer.Argument(
            help="job table: Parquet (e.g. from `hpcsched simulate --out`), SWF (.swf/.swf.gz), "
            "sacct -P text or sacct --json; the format is detected from the content"
        ),
    ],
    compare: Annotated[
        Path | None,
        typer.Option(help="a second table (same formats) shown side by side, with contrasts"),
    ] = None,
    out: Annotated[Path, typer.Option(help="folder for report.html (and png/)")] = Path(
        "hpcsched-report"
    ),
    png: Annotated[
        bool, flag(help="also write every chart as out/png/<key>.png (headless Chromium)")
    ] = False,
    title: Annotated[
        str | None, typer.Option(help="page title (default: from the file names)")
    ] = None,
    procs: Annotated[
        float | None,
        typer.Option(
            help="machine size in processors, for utilisation (default: the file's; when "
            "comparing, the other table's if only one knows it)"
        ),
    ] = None,
    sinfo: Annotated[
        Path | None,
        typer.Option(
            help="`sinfo --json` of the cluster: its processors are the machine size of both "
            "tables (unless --procs); without it a sacct dump's size is the nodes its NodeList "
            "names"
        ),
    ] = None,
    as_json: JsonOpt = False,
    save_table: Annotated[
        Path | None,
        typer.Option(
            "--save-table",
            help="also write the job table read from TABLE to this .parquet file (with the "
            "machine size: --procs or the file's), so a sacct dump is parsed once; later "
            "commands read the Parquet",
        ),
    ] = None,
    narrate: NarrateOpt = False,
    llm_url: UrlOpt = None,
    llm_model: ModelOpt = None,
    llm_deadline: DeadlineOpt = None,
    ledger: LedgerOpt = None,
) -> None:
    """Write one self-contained report.html: charts, summary tables and plain-language insights."""
    from hpcsched.analytics.report import INSIGHTS_FILE, REPORT_STEPS, write_report
    from hpcsched.cli.render import make_console, progress_bar, status

    if save_table is not None:  # the other commands recognise job tables by .parquet
        checked_output(save_table, ".parquet")
    checked_output(out, folder=True)
    if ledger is not None:  # appended to (an append log, not replaced), so not atomic
        checked_output(ledger, option="--ledger")
    if sinfo is not None and (procs is None or from_file(ctx, "procs")):
        procs = _sinfo_procs(sinfo)  # a --sinfo given here says more than the config file
    steps = [name for name in REPORT_STEPS if narrate or name != "narration"]
    total = 1 + len(steps)  # reading, then write_report's steps
    with progress_bar(f"report: reading {table.name}", total=total) as advance:
        first = open_job_table(table)
        saving = None
        if save_table is not None:
            saving = _start_saving(first.table, save_table, procs or _size(first))
        other = open_job_table(compare) if compare is not None else None
        names = (short_name(table), short_name(compare) if compare is not None else "")
        if other is not None and names[0] == names[1]:
            names = (str(table), str(compare))
        capacity = (procs or _size(first), (procs or _size(other)) if other is not None else None)
        if other is not None and not all(capacity):  # e.g. a real dump beside its simulation on
            known = capacity[0] or capacity[1]  # `simulate --procs`: both on that machine, so
            capacity = (known, known)  # utilisation is one measure in both
        what = f"{first.table.height:,} jobs" + (f" vs {other.table.height:,}" if other else "")
        doing = f"report of {what}" + (" and its PNGs" if png else "")
        if save_table is not None:
            doing += f" (saving the table to {save_table})"
        narrating = Narrating.start(llm_url, llm_model, llm_deadline, "report") if narrate else None

        def step(name: str) -> None:
            advance(1 + steps.index(name), total, f"{doing}: {name}")

        try:
            path = write_report(
                first.table,
                out,
                compare=other.table if other is not None else None,
                names=names,
                title=title or (f"{names[0]} vs {names[1]}" if other is not None else names[0]),
                png=png,
                capacity=capacity,
                narrator=narrating.narrator(names, capacity) if narrating else None,
                progress=step,
            )
            advance(total, total)
        except OSError as exc:
            fail(f"cannot write the report to {out}: {exc.strerror or exc} (check the folder)")
        except RuntimeError as exc:  # kaleido: no browser
            fail(f"cannot write PNGs: {exc}".splitlines()[0] + " (set BROWSER_PATH to chromium)")
    if saving is not None and save_table is not None:
        with status(f"saving the job table to {save_table}"):
            _finish_saving(saving, save_table)
    narrated = narrating.finish(path.parent, ledger) if narrating is not None else ""
    data = json.loads((path.parent / INSIGHTS_FILE).read_text("utf-8"))
    texts = [i["text"] for t in data["tables"] for i in t["insights"]]
    contrasts = [i["text"] for i in data["compare"]]
    if as_json:
        payload = {
            "report": str(path),
            "insights": texts,
            "compare_insights": contrasts,
            "charts": data["charts"],
        }
        if png:
            payload["png"] = str(path.parent / "png")
        if save_table is not None:
            payload["table"] = str(save_table)
        if narrating is not None:
            payload["narration"] = data["narration"]["summary"]
        typer.echo(json.dumps(payload))
        return
    console = make_console()
    for text in contrasts or texts:
        console.print(f"• {text}", highlight=False)
    if narrated:
        console.print(narrated, highlight=False)
    if save_table is not None:
        console.print(f"job table written to [bold]{save_table}[/bold]")
    console.print(f"report written to [bold]{path}[/bold]")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command()(report)
