"""Every model against the users' own requests: the rows of ``predict eval --model all`` and
its one-line verdict.

The baseline is ``requested`` (the timelimit as the prediction, what a scheduler uses when it
knows nothing better). Models are ranked by their median absolute error, the figure least moved
by the few jobs that crash at once or run into their limit (Tsafrir et al. 2007 show both are
common); the verdict says how many times smaller it is than the requested walltimes' error.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hpcsched.core.durations import hours_minutes

BASELINE = "requested"


def error_text(value: float | None, target: str) -> str:
    """An error in the target's unit as people read it: 1 h 12 min, or 512 MiB / 1.5 GiB."""
    if value is None:
        return "—"
    if target == "runtime":
        return hours_minutes(value)
    for unit, scale in (("TiB", 1024**4), ("GiB", 1024**3)):
        if value >= scale:
            return f"{value / scale:.1f} {unit}"
    return f"{value / 1024**2:.0f} MiB"


def verdict(rows: Sequence[dict[str, Any]], target: str) -> str:
    """One plain line: the model with the smallest median error and how it compares with the
    requested walltimes (or memory)."""
    requested = "walltimes" if target == "runtime" else "memory"
    ranked = [r for r in rows if r["model"] != BASELINE and r.get("medae") is not None]
    if not ranked:
        return "no model could be scored on this trace"
    best = min(ranked, key=lambda r: float(r["medae"]))

    def text(value: float) -> str:
        return error_text(value, target)

    base = next((r.get("medae") for r in rows if r["model"] == BASELINE), None)
    if base is None:
        return (
            f"{best['model']} is best: its median error is {text(best['medae'])} "
            f"(no requested {requested} to compare with)"
        )
    if best["medae"] >= base:
        return (
            f"no model beats the requested {requested} (median error {text(base)}); "
            f"the best, {best['model']}, has {text(best['medae'])}"
        )
    ratio = base / best["medae"] if best["medae"] > 0 else float("inf")
    line = (
        f"{best['model']} is best: its median error is {text(best['medae'])}, "
        f"{ratio:.1f}× smaller than requested {requested}"
    )
    by_mean = [r for r in rows if r.get("mae") is not None]
    lowest = min(by_mean, key=lambda r: float(r["mae"])) if by_mean else best
    if lowest is not best and lowest["mae"] < best.get("mae", float("inf")):
        line += f" (the lowest mean error is {lowest['model']}'s, {text(lowest['mae'])})"
    return line
