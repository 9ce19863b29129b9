"""Sentences that contrast two job tables (two policies on one trace, or two periods of a site).

The numbers are :func:`hpcsched.sim.metrics.summarize`'s (wait, bounded slowdown with τ = 10 s,
utilisation) so a report says exactly what ``hpcsched simulate``/``compare`` print; the median
wait is the study's headline (Borch et al., WISDOM 2025 report medians: waits are heavy-tailed).
"""

from __future__ import annotations

from typing import Any

import polars as pl

from hpcsched.analytics.derive import Prepared, prepare
from hpcsched.analytics.insights import Insight, pct
from hpcsched.core.durations import duration_text
from hpcsched.sim.metrics import job_metrics, summarize


def _ratio_words(a: float, b: float, bigger: str, smaller: str) -> str:
    if a <= 0 or b <= 0 or a == b:
        return ""
    return f" ({b / a:.1f}× {bigger})" if b > a else f" ({a / b:.1f}× {smaller})"


def compare_insights(
    a: pl.DataFrame | Prepared,
    b: pl.DataFrame | Prepared,
    *,
    names: tuple[str, str] = ("A", "B"),
    capacity: tuple[float | None, float | None] = (None, None),
) -> list[Insight]:
    """Contrasting sentences; the ratio in brackets is B relative to A."""
    na, nb = names
    tables = [t.jobs if isinstance(t, Prepared) else prepare(t).jobs for t in (a, b)]
    if not all(capacity):  # a fraction for one and busy processors for the other would mislead
        capacity = (None, None)
    # without a machine size, capacity 1 makes summarize's "utilization" the mean busy cpus
    stats = [summarize(t, c or 1.0) for t, c in zip(tables, capacity, strict=True)]
    out = [
        Insight(
            "compare_jobs",
            f"{na} has {tables[0].height:,} jobs ({stats[0]['jobs']:,} ran) and {nb} "
            f"{tables[1].height:,} ({stats[1]['jobs']:,} ran).",
            {"jobs": [t.height for t in tables], "ran": [s["jobs"] for s in stats]},
        )
    ]
    if stats[0]["jobs"] == 0 or stats[1]["jobs"] == 0:
        return out
    medians = [float(job_metrics(t)["wait"].median()) for t in tables]  # type: ignore[arg-type]
    out.append(
        Insight(
            "compare_wait",
            f"Median wait was {duration_text(medians[0])} under {na} vs "
            f"{duration_text(medians[1])} under {nb}"
            f"{_ratio_words(medians[0], medians[1], 'longer', 'shorter')}; mean "
            f"{duration_text(stats[0]['avg_wait'])} vs {duration_text(stats[1]['avg_wait'])}.",
            {"median_wait": medians, "mean_wait": [s["avg_wait"] for s in stats]},
        )
    )
    bsld = [float(s["avg_bsld"]) for s in stats]
    out.append(
        Insight(
            "compare_bsld",
            f"Mean bounded slowdown (τ = 10 s) was {bsld[0]:,.2f} under {na} vs {bsld[1]:,.2f} "
            f"under {nb}.",
            {"avg_bsld": bsld, "tau": 10.0},
        )
    )
    out.append(_utilisation(stats, names, capacity))
    flags = [t["backfilled"].drop_nulls() for t in tables]
    if all(len(f) for f in flags):
        shares = [float(f.mean()) for f in flags]  # type: ignore[arg-type]
        out.append(
            Insight(
                "compare_backfill",
                f"{pct(shares[0])} of jobs were backfilled under {na} vs {pct(shares[1])} "
                f"under {nb}.",
                {"backfilled_share": shares},
            )
        )
    return out


def _utilisation(
    stats: list[dict[str, Any]], names: tuple[str, str], capacity: tuple[float | None, float | None]
) -> Insight:
    values = [float(s["utilization"]) for s in stats]
    if all(capacity):
        text = (
            f"Utilisation was {pct(values[0])} under {names[0]} vs {pct(values[1])} under "
            f"{names[1]} (makespan {duration_text(stats[0]['makespan'])} vs "
            f"{duration_text(stats[1]['makespan'])})."
        )
        return Insight("compare_utilisation", text, {"utilisation": values, "capacity": capacity})
    text = (
        f"On average {values[0]:,.1f} processors were busy under {names[0]} vs {values[1]:,.1f} "
        f"under {names[1]} (machine size unknown, so not a fraction)."
    )
    return Insight("compare_utilisation", text, {"mean_busy_cpus": values})
