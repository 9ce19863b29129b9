"""``bench scheduling``'s terminal table: per scenario, one row per size and policy (the mean over
seeds), each header with its unit."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from hpcsched.cli.render import make_console

#: (column, header, format); a column no row has is left out
COLUMNS = (
    ("jobs", "jobs", "{:,.0f}"),
    ("policy", "policy", "{}"),
    ("makespan_s", "makespan (s)", "{:,.0f}"),
    ("mean_wait_s", "mean wait (s)", "{:,.1f}"),
    ("p95_wait_s", "P95 wait (s)", "{:,.0f}"),
    ("util_nodes", "util nodes (%)", "pct"),
    ("util_mem_gb", "util mem (%)", "pct"),
    ("util_gpus", "util GPUs (%)", "pct"),
    ("fairness_jain", "Jain", "{:.2f}"),
    ("gap_lb_makespan_pct", "makespan vs LB (%)", "{:+.1f}"),
    ("gap_cpsat_makespan_pct", "makespan vs CP-SAT (%)", "{:+.1f}"),
    ("gap_cpsat_wc_pct", "Σw·C vs CP-SAT (%)", "{:+.1f}"),
    ("violations", "violations", "{:.0f}"),
    ("decisions", "decisions", "{:,.0f}"),
    ("fallback_share", "fallback (%)", "pct"),
    ("llm_first_action_share", "first action (%)", "pct"),
    ("seconds_per_decision", "ms/decision", "ms"),
    ("tokens_per_decision", "tokens/decision", "{:,.0f}"),
)


def _cell(value: Any, fmt: str) -> str:
    if value is None or value != value:  # None or NaN: not measured (no CP-SAT, no bound)
        return "—"
    if fmt == "pct":
        return f"{100 * float(value):.1f}"
    if fmt == "ms":
        return f"{1000 * float(value):,.2f}"
    return fmt.format(value)


#: columns only a language model fills: left out unless one ran (or a row has a value there)
MODEL_ONLY = ("fallback_share", "tokens_per_decision", "llm_first_action_share")


def _shown(key: str, summary: list[dict[str, Any]]) -> bool:
    values = [row.get(key) for row in summary]
    if key in MODEL_ONLY:
        return any(v for v in values) or any(row["policy"] == "llm" for row in summary)
    return any(v is not None for v in values)


def bench_tables(summary: list[dict[str, Any]], *, seeds: int) -> None:
    """One Rich table per scenario of ``summary`` (rows of ``mean_over_seeds``) on stdout."""
    console = make_console()
    if not console.is_terminal:
        console.width = 240  # a log keeps every column readable
    present = [c for c in COLUMNS if _shown(c[0], summary)]
    scenarios = list(dict.fromkeys(row["scenario"] for row in summary))
    over = f"mean over {seeds} seeds" if seeds > 1 else "one seed"
    for scenario in scenarios:
        table = Table(title=f"{scenario} ({over})")
        for key, header, _ in present:
            # a header wraps between words, never inside one, and a policy's name is whole
            widest = max(len(word) for word in header.split())
            table.add_column(
                header,
                justify="left" if key == "policy" else "right",
                min_width=max(widest, 12 if key == "policy" else 0),
                no_wrap=key == "policy",
            )
        rows = [row for row in summary if row["scenario"] == scenario]
        for i, row in enumerate(rows):
            if i and row["jobs"] != rows[i - 1]["jobs"]:
                table.add_section()
            table.add_row(*[_cell(row.get(key), fmt) for key, _, fmt in present])
        console.print(table)
        proofs = [
            f"{row['jobs']:,} jobs: makespan {row.get('cpsat_makespan_proven', 0):.0f}/"
            f"{row['seeds']}, {row.get('cpsat_objective') or 'its objective'} "
            f"{row.get('cpsat_proven', 0):.0f}/{row['seeds']}"
            for row in rows
            if row["policy"] == "cpsat" and "cpsat_proven" in row
        ]
        if proofs:
            console.print(
                "CP-SAT proven optimal on: " + "; ".join(proofs) + " (otherwise its best "
                "schedule in the time limit; 'makespan vs LB' is the gap to the lower bound)"
            )
        for row in rows:
            if row.get("errors"):
                console.print(
                    f"[yellow]{row['policy']} at {row['jobs']} jobs failed on "
                    f"{row['errors']} of {row['seeds']} seeds (see the error column)[/yellow]"
                )
