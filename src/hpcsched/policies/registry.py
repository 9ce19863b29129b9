"""Finding a policy by name: built-in presets first, then the ``hpcsched.policies`` entry points.

A third-party package registers policies in its ``pyproject.toml``::

    [project.entry-points."hpcsched.policies"]
    mysite = "mysite.sched:POLICIES"    # a dict name -> policy, or one policy object

Any object with a ``name`` and a ``decide(view) -> Decision`` method is a policy.
"""

from __future__ import annotations

from dataclasses import replace
from importlib.metadata import entry_points
from typing import Any

from hpcsched.policies.backfilling import BackfillPolicy
from hpcsched.policies.presets import PRESETS
from hpcsched.policies.view import Policy

GROUP = "hpcsched.policies"


def registered_policies() -> dict[str, Policy]:
    """Every policy reachable by name: presets plus whatever entry points provide."""
    found: dict[str, Policy] = dict(PRESETS)
    for entry in entry_points(group=GROUP):
        loaded: Any = entry.load()
        if isinstance(loaded, dict):
            found.update(loaded)
        elif isinstance(loaded, Policy):
            found[loaded.name] = loaded
    return found


def get_policy(
    name: str = "easy",
    *,
    order: str | None = None,
    backfill: str | None = None,
) -> Policy:
    """The policy called ``name``, with its queue order or backfill variant overridden if given."""
    policy: Policy | None = PRESETS.get(name)
    if policy is None:
        policy = registered_policies().get(name)
    if policy is None:
        known = ", ".join(sorted(registered_policies()))
        raise ValueError(f"unknown policy {name!r}; known policies: {known}")
    if order is None and backfill is None:
        return policy
    if not isinstance(policy, BackfillPolicy):
        raise ValueError(
            f"policy {name!r} is not a backfilling preset: --order/--backfill do not apply"
        )
    changes: dict[str, Any] = {}
    if order is not None:
        changes["order"] = order
    if backfill is not None:
        changes["backfill"] = backfill
        if backfill == "rlscheduler":
            # RLScheduler's environment: the blocked head keeps its place and processors come
            # back only at end events (VALIDATION.md rung 2)
            changes["sticky_head"] = True
            changes["release"] = "event"
    parts = [name] + [f"{k}={v}" for k, v in changes.items() if k in ("order", "backfill")]
    return replace(policy, name=",".join(parts), **changes)
