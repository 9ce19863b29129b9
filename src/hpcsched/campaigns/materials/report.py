"""The campaign's metrics, the same keys for both clocks (and for ``--json``).

- ``materials_investigated``: structures whose three predictions all finished inside the window;
- ``prediction_tasks``: prediction tasks finished inside the window;
- ``drift_checks`` / ``drift_detections``: drift-check tasks finished, and those that found drift
  in the current version of a surrogate (per method and in total);
- ``continual_learning_delay``: per method, the mean number of structures investigated between
  the point a detecting check was due and the end of the refit it released (the talk's
  "continual learning postponed by N structures");
- ``low_priority_misses``: periodic low-priority tasks not started within their period (counted
  by :class:`~hpcsched.campaigns.periodic.Periodic`), per kind and in total;
- ``utilisation``: cpu-seconds of work inside the window (the part of an attempt still running at
  its end included) over cpus x the window (or over the time to the last task when the campaign
  ends earlier);
- ``cpu_seconds_by_kind``: that work per task kind (where the window went: issue 7 compares the
  policies with it).
"""

from __future__ import annotations

import math
from typing import Any

from hpcsched.campaigns.materials.campaign import MaterialsCampaign

KEYS = (
    "goal",
    "clock",
    "policy",
    "window",
    "cpus",
    "structures",
    "batch",
    "materials_investigated",
    "prediction_tasks",
    "drift_checks",
    "drift_detections",
    "continual_learning",
    "continual_learning_delay",
    "low_priority_misses",
    "misses_by_kind",
    "obsolete_removed",
    "utilisation",
    "cpu_seconds_by_kind",
    "best",
    "wall_seconds",
)


def campaign_report(
    campaign: MaterialsCampaign,
    *,
    clock: str,
    policy: str,
    cpus: int,
    wall_seconds: float,
    label: Any = None,
) -> dict[str, Any]:
    tally, plan = campaign.tally, campaign.plan
    span = campaign.window if tally.stopped_at is not None else tally.last
    misses: dict[str, int] = {}
    for name, series in campaign.periodic.items():
        kind = name.split("-", 1)[0]
        misses[kind] = misses.get(kind, 0) + series.misses
    detections = {m: tally.detections.get(m, 0) for m in plan.methods}
    delay = {
        m: round(sum(v) / len(v), 1) if (v := tally.cl_delay.get(m)) else None for m in plan.methods
    }
    report = {
        "goal": plan.goal,
        "clock": clock,
        "policy": policy,
        "window": None if math.isinf(campaign.window) else campaign.window,
        "cpus": cpus,
        "structures": plan.structures,
        "batch": plan.batch,
        "materials_investigated": tally.materials,
        "prediction_tasks": tally.completed.get("predict", 0),
        "drift_checks": tally.completed.get("drift", 0),
        "drift_detections": {**detections, "total": sum(detections.values())},
        "continual_learning": {m: tally.refits.get(m, 0) for m in plan.methods},
        "continual_learning_delay": delay,
        "low_priority_misses": sum(misses.values()),
        "misses_by_kind": misses,
        "obsolete_removed": dict(sorted(tally.obsolete.items())),
        "utilisation": round(tally.busy / (cpus * span), 4) if span > 0 else 0.0,
        "cpu_seconds_by_kind": {k: round(v, 1) for k, v in sorted(tally.busy_by_kind.items())},
        "best": campaign.answer(label)[:5],
        "wall_seconds": round(wall_seconds, 3),
    }
    assert tuple(report) == KEYS
    return report
