"""The tables of ``hpcsched plan tools`` and ``plan ledger`` on a terminal (Rich)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.table import Table

from hpcsched.cli.render import make_console

if TYPE_CHECKING:
    from hpcsched.plan.ledger import Comparison


def selection_table(result: dict[str, Any], title: str) -> None:
    """The task chosen for each output, and the totals (``plan tools``)."""
    table = Table(title=title)
    for header in (
        "output",
        "chosen task",
        "utility",
        "tokens",
        f"compute ({result['compute_unit']})",
    ):
        table.add_column(header, justify="left" if header in ("output", "chosen task") else "right")
    for row in result["outputs"]:
        table.add_row(
            row["output"],
            row["option"],
            f"{row['utility']:g}",
            f"{row['tokens']:,}",
            f"{row['compute']:,}",
        )
    table.add_section()
    table.add_row(
        "total", "", f"{result['utility']:.6g}", f"{result['tokens']:,}", f"{result['compute']:,}"
    )
    console = make_console()
    console.print(table)
    bound = result["lp_bound"]
    note = f"; LP bound {bound:,.4g}" if bound is not None else ""
    console.print(f"{result['method']} in {result['seconds'] * 1e3:.2f} ms{note}")
    if "note" in result:
        console.print(f"note: {result['note']}")


def ledger_table(comparison: Comparison) -> None:
    """Fine against coarse granularity, tokens by kind (``plan ledger``)."""
    table = Table(
        title=f"{comparison.structures:,} structures × {comparison.methods} methods (coarse "
        f"batch {comparison.batch:,}; context {comparison.context_tokens:,} tokens per call)"
    )
    table.add_column("granularity")
    for header in ("calls", "prompt", "reasoning", "output", "total"):
        table.add_column(header, justify="right")
    for label, row in (
        ("fine: propose 1 → check → read 1", comparison.fine),
        ("coarse: propose N → check all → read N", comparison.coarse),
    ):
        table.add_row(
            label, *(f"{row[k]:,}" for k in ("calls", "prompt", "reasoning", "output", "total"))
        )
    console = make_console()
    console.print(table)
    console.print(
        f"coarse saves {comparison.saving_pct:.1f}% of the tokens (estimated: 4 chars/token)"
    )
