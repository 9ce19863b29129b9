"""The materials campaign's report on a terminal (Rich), for ``hpcsched campaign materials``."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from hpcsched.cli.render import make_console


def campaign_summary(report: dict[str, Any], steps: tuple[str, ...]) -> None:
    """The plan's steps, then what the campaign achieved, one metric a row."""
    console = make_console()
    planner = report.get("planner", {})
    if planner.get("requested") == "llm":
        console.print(_planner_line(planner), style="bold", markup=False)
        for problem in planner.get("problems", []):
            console.print(f"  refused by the validator: {problem}", markup=False)
    console.print("[bold]plan[/bold]: " + "; ".join(steps))
    table = Table(title=f"materials campaign {report['goal']} under {report['policy']}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    window = report["window"]
    rows = [
        ("clock", report["clock"]),
        ("window", "to the end" if window is None else f"{window:,.0f} s"),
        ("cpus", str(report["cpus"])),
        ("materials investigated", f"{report['materials_investigated']:,}"),
        ("prediction tasks", f"{report['prediction_tasks']:,}"),
        ("drift checks run", f"{report['drift_checks']:,}"),
        ("drift detections", _per_method(report["drift_detections"])),
        ("continual-learning delay (structures)", _per_method(report["continual_learning_delay"])),
        ("low-priority misses", str(report["low_priority_misses"])),
        ("tasks made obsolete", _per_method(report["obsolete_removed"]) or "0"),
        ("utilisation", f"{report['utilisation']:.1%}"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    for entry in report["best"]:
        console.print(f"  {entry['label']}: {entry['enthalpy_per_atom']:.4f} eV/atom (predicted)")
    if "work_dir" in report:
        console.print(f"files written to {report['work_dir']}")


def _per_method(values: dict[str, Any]) -> str:
    return ", ".join(f"{k} {'—' if v is None else v}" for k, v in values.items())


def _planner_line(p: dict[str, Any]) -> str:
    """Who planned: the model's plan (validated), or the rule-based one and why."""
    if p.get("used") == "llm":
        first = "first reply valid" if p.get("first_valid") else "valid after one refusal"
        tokens = p.get("prompt_tokens", 0) + p.get("completion_tokens", 0)
        return (
            f"planner: llm ({p.get('model')}, {first}; {p.get('granularity')} predict tools; "
            f"{tokens:,} tokens, {p.get('seconds', 0):.1f} s)"
        )
    return f"planner: llm requested, the rule-based plan is used ({p.get('reason')})"
