"""Terminal presentation of live runs (Rich): progress, summary, status, provenance."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from hpcsched.cli.render import make_console
from hpcsched.core.durations import duration_text


@contextmanager
def run_progress(total: int) -> Iterator[Callable[[Any, int, int], None]]:
    """A live bar: finished of known tasks, with running/queued/failed counts."""
    columns = (
        TextColumn("[bold]run"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task("run", total=total, detail="")

        def update(counts: Any, running: int, queued: int) -> None:
            finished = counts.succeeded + counts.failed + counts.cancelled
            detail = f"{running} running · {queued} queued · {counts.failed} failed"
            bar.update(task, completed=finished, total=max(total, counts.submitted), detail=detail)

        yield update


def run_summary(summary: dict[str, Any]) -> None:
    console = make_console()
    ok = summary["failed"] == 0 and not summary.get("cancelled")
    colour = "green" if ok else "red"
    console.print(
        f"[{colour}]{summary['succeeded']}/{summary['tasks']} succeeded[/{colour}], "
        f"{summary['failed']} failed, "
        + (f"{summary['blocked']} blocked, " if summary.get("blocked") else "")
        + f"{summary['retried']} retried"
        + (f", {summary['cancelled']} cancelled" if summary.get("cancelled") else "")
        + (f", {summary['replayed']} already done" if summary.get("replayed") else "")
        + (f", {summary['cleaned']} intermediate file(s) cleaned" if summary.get("cleaned") else "")
        + f" in {summary['wall_seconds']:.1f} s ({summary['policy']}, {summary['executor']})"
    )
    for root in summary.get("root_causes") or ():
        blocks = root.get("blocks") or 0
        blocked = f"; blocks {blocks} task{'s' if blocks != 1 else ''}" if blocks else ""
        console.print(f"  {root['task']} failed ({root['reason']}): {root['message']}{blocked}")
    if not ok:
        console.print(f"see why: hpcsched why {summary['run_dir']}")


def run_status(info: dict[str, Any]) -> None:
    console = make_console()
    table = Table(title=f"{info['run_dir']}: {info['tasks']} tasks", show_header=False)
    for key in ("succeeded", "failed", "blocked", "cancelled", "unfinished", "retried", "starts"):
        if key in info:
            table.add_row(key, str(info[key]))
    table.add_row("ended", "yes" if info["ended"] else "no (running, or killed: run it again)")
    console.print(table)
    if info["running"]:
        console.print("running: " + ", ".join(info["running"][:20]))
    attempts = info.get("attempts") or {}
    if attempts:
        # most tried first: a task that keeps failing or getting lost is what to look at
        ranked = sorted(attempts.items(), key=lambda item: (-item[1], item[0]))
        shown = ", ".join(f"{tid} {n}" for tid, n in ranked[:20])
        more = f" (and {len(ranked) - 20} more)" if len(ranked) > 20 else ""
        console.print(f"attempts per task: {shown}{more}")


def _when(epoch: float | None) -> str:
    if not epoch:
        return "—"
    return dt.datetime.fromtimestamp(epoch, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def run_provenance(task_id: str, attempts: list[dict[str, Any]]) -> None:
    console = make_console()
    if not attempts:
        console.print(f"{task_id}: never started")
        return
    for item in attempts:
        start, end = item.get("start"), item.get("end")
        took = f" ({duration_text(end - start)})" if start and end else ""
        outcome = "ok" if item.get("ok") else (item.get("reason") or "unfinished")
        console.print(f"[bold]{task_id} attempt {item['number']}[/bold]: {outcome}{took}")
        console.print(f"  ran   {item.get('action')}")
        console.print(f"  on    {item.get('host') or '—'} from {_when(start)} to {_when(end)}")
        if item.get("exit_code") is not None:
            console.print(f"  exit  {item['exit_code']} {item.get('message') or ''}")
        for kind in ("inputs", "outputs"):
            for f in item.get(kind) or []:
                console.print(
                    f"  {kind[:-1]:<7}{f['path']} sha256:{f['sha256'][:16]}… {f['size']} B"
                )
        if item.get("stderr_tail"):
            console.print("  stderr: " + item["stderr_tail"].strip().replace("\n", "\n          "))
