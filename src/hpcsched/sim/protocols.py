"""Published replay protocols: which windows of a trace are replayed, and how they are averaged.

``rlscheduler`` is Zhang et al. (SC'20), VALIDATION.md rung 2: ten windows of 1,024 consecutive
jobs (the start indices are theirs), each replayed alone on an empty machine; a table cell is the
mean over the ten windows of each window's mean bounded slowdown. With ``--window`` the user's one
window is replayed instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl

from hpcsched.policies.view import Policy
from hpcsched.sim.simulate import SimulationResult, simulate

RLSCHEDULER_STARTS = (1981, 2756, 4299, 8850, 3316, 2714, 5228, 7762, 4022, 7085)
RLSCHEDULER_COUNT = 1024


def windows_of(protocol: str, window: tuple[int, int] | None) -> list[tuple[int, int]] | None:
    """The windows a replay runs: the user's, the protocol's, or ``None`` (the whole trace)."""
    if window is not None:
        return [window]
    if protocol == "rlscheduler":
        return [(start, RLSCHEDULER_COUNT) for start in RLSCHEDULER_STARTS]
    return None


def simulate_windows(
    table: pl.DataFrame,
    policy: Policy,
    capacity: int,
    windows: list[tuple[int, int]] | None,
    progress: Callable[[int, int], None] | None = None,
    **options: Any,
) -> SimulationResult:
    """One replay, or one per window with the numeric metrics averaged over the windows (the
    table is the last window's; ``avg_bsld_per_window`` keeps each window's value).
    ``progress(done, total)`` is told each finished window; it only observes."""
    if not windows or len(windows) == 1:
        return simulate(table, policy, capacity, window=windows[0] if windows else None, **options)
    results = []
    for done, w in enumerate(windows, start=1):
        results.append(simulate(table, policy, capacity, window=w, **options))
        if progress is not None:
            progress(done, len(windows))
    last = results[-1]
    metrics: dict[str, Any] = dict(last.metrics)
    for key, value in last.metrics.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            values = [r.metrics.get(key) for r in results]
            if all(isinstance(v, int | float) for v in values):
                mean = float(np.mean(np.asarray(values, dtype=float)))
                metrics[key] = int(sum(values)) if isinstance(value, int) else mean  # type: ignore[arg-type]
    metrics["windows"] = len(windows)
    metrics["avg_bsld_per_window"] = [r.metrics.get("avg_bsld") for r in results]
    seconds = sum(r.sim_seconds for r in results)
    metrics["sim_seconds"] = seconds
    return SimulationResult(last.table, metrics, last.counts, seconds, last.engine)
