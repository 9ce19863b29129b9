"""The what-if table on a terminal (Rich) and as JSON, for ``hpcsched advise``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich.console import JustifyMethod
from rich.table import Table

from hpcsched.advise import Advice
from hpcsched.advise.sbatch_script import MB
from hpcsched.advise.whatif import WhatIf
from hpcsched.cli.render import make_console
from hpcsched.core.durations import duration_text


def _when(epoch: float, now: float) -> str:
    return f"+{duration_text(epoch - now)}" if epoch > now else "now"


def _limit(row: WhatIf) -> str:
    parts = row.option.parts
    if len(set(parts)) == 1:
        return (
            duration_text(parts[0])
            if len(parts) == 1
            else f"{len(parts)} × {duration_text(parts[0])}"
        )
    return " + ".join(duration_text(p) for p in parts)


def _marks(row: WhatIf, chosen: WhatIf) -> str:
    marks = [m for m, on in (("fastest", row.fastest), ("cheapest", row.cheapest)) if on]
    if row is chosen:
        marks.insert(0, "ADVISED")
    return ", ".join(marks)


def memory_text(size: float) -> str:
    """Bytes as Slurm counts them (binary units): 500 MiB, 1.0 GiB, 2.0 TiB."""
    for unit, scale in (("TiB", 1024**4), ("GiB", 1024**3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size / MB:.0f} MiB"


def print_advice(advice: Advice, now: float, files: list[str], charge_unit: str = "SU") -> None:
    """The what-if table (a unit on every number), the refused options and what was written."""
    console = make_console()
    p = advice.prediction
    memory = memory_text(advice.request.mem) if advice.request.mem else "site default memory"
    runtime = (
        f"run time {p.coverage:.0%} bound {duration_text(p.runtime_upper)}, "
        f"expected {duration_text(p.runtime_point)}"
        if p.runtime_learnt
        else f"run time: the script's {duration_text(p.runtime_upper)} (not learnt)"
    )
    title = (
        f"what if: {advice.request.nodes} node(s), {advice.request.cpus} CPU(s), {memory}; "
        + runtime
    )
    clock = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d %H:%M UTC")
    caption = (
        f"start and expected end counted from now = {clock}; "
        "max: the charge if it runs to its limit"
    )
    table = Table(title=title, caption=caption)
    costs = (f"cost ({charge_unit})", f"max ({charge_unit})")
    for header in ("partition", "QoS", "time limit", "start", "end", *costs):
        justify: JustifyMethod = "left" if header in ("partition", "QoS") else "right"
        table.add_column(header, justify=justify, no_wrap=True)  # the marks wrap instead
    table.add_column("", style="bold")
    for row in advice.rows:
        o = row.option
        table.add_row(
            o.partition,
            o.qos,
            _limit(row),
            _when(row.start, now),
            _when(row.end, now),
            f"{o.cost_expected:,.2f}",
            f"{o.cost_at_limit:,.2f}",
            _marks(row, advice.chosen),
            style="green" if row is advice.chosen else None,
        )
    console.print(table)
    for (partition, qos), rule in advice.found.refused.items():
        console.print(f"[dim]not valid: {partition}/{qos}: {rule}[/dim]")
    for note in ([p.note] if p.note else []) + advice.notes:
        console.print(f"[yellow]note: {note}[/yellow]")
    for path in files:
        console.print(f"wrote {path}")


def advice_json(
    advice: Advice, now: float, files: list[str], charge_unit: str = "SU"
) -> dict[str, Any]:
    """Everything the table shows, in SI units and epoch seconds (costs in ``charge_unit``)."""
    r, p = advice.request, advice.prediction
    return {
        "now": now,
        "charge_unit": charge_unit,
        "request": {"nodes": r.nodes, "cpus": r.cpus, "gpus": r.gpus, "mem": r.mem},
        "prediction": {
            "runtime_upper": p.runtime_upper,
            "runtime_point": p.runtime_point,
            "mem_upper": p.mem_upper,
            "coverage": p.coverage,
            "note": p.note,
            "mem_note": p.mem_note,
        },
        "advised": {
            "partition": advice.chosen.option.partition,
            "qos": advice.chosen.option.qos,
            "parts": list(advice.chosen.option.parts),
        },
        "what_if": [
            {
                "partition": row.option.partition,
                "qos": row.option.qos,
                "parts": list(row.option.parts),
                "start": row.start,
                "end": row.end,
                "cost": row.option.cost_expected,
                "cost_at_limit": row.option.cost_at_limit,
                "fastest": row.fastest,
                "cheapest": row.cheapest,
                "advised": row is advice.chosen,
            }
            for row in advice.rows
        ],
        "not_valid": [
            {"partition": part, "qos": qos, "rule": rule}
            for (part, qos), rule in advice.found.refused.items()
        ],
        "notes": ([p.note] if p.note else []) + advice.notes,
        "files": files,
    }
