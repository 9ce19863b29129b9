"""The ``split`` pieces: a job whose time limit exceeds its partition's MaxTime, cut into a
chain of pieces that each fit. Journaled as a proposal, or carried out by
:mod:`hpcsched.agents.splitter` for a rule with ``checkpointed: true`` (see
:class:`hpcsched.agents.rules.Propose` for why only then). No I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) and value > 0 else None


def suggest_split(event: Mapping[str, Any], max_times: Mapping[str, float]) -> dict[str, Any]:
    """The pieces of the event's job: ``timelimit`` (s) over the partition's MaxTime (the
    event's ``max_time``, else the site's), each piece whole minutes (Slurm's ``--time`` unit)
    and chained ``afterok`` so each starts when the one before it succeeded (sbatch(1)
    ``--dependency=afterok``). Without both numbers, says what is missing."""
    limit = _number(event.get("timelimit"))
    partition = str(event.get("partition") or "")
    max_time = _number(event.get("max_time")) or _number(max_times.get(partition))
    proposal: dict[str, Any] = {"proposed": "split", "job_id": str(event.get("job_id", ""))}
    if limit is None or max_time is None:
        missing = "timelimit" if limit is None else f"the MaxTime of partition {partition!r}"
        return {**proposal, "note": f"no suggestion: the event has no {missing}"}
    minutes = math.floor(max_time / 60)
    if minutes < 1:
        return {**proposal, "note": f"no suggestion: MaxTime {max_time:g} s is under a minute"}
    pieces = max(1, math.ceil(limit / (minutes * 60)))
    piece = math.ceil(limit / pieces / 60) * 60
    return {
        **proposal,
        "pieces": pieces,
        "piece_limit": float(min(piece, minutes * 60)),
        "max_time": max_time,
        "dependency": "afterok",
    }
