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
from hpcsched.policies.slurm_sched import SlurmScheduler
from hpcsched.policies.view import Policy

GROUP = "hpcsched.policies"


def registered_policies() -> dict[str, Policy]:
    """Every policy reachable by name: presets plus whatever entry points provide."""
    found: dict[str, Policy] = dict(PRESETS)
    found["slurm"] = SlurmScheduler()  # sched/backfill's main and backfill loops
    for entry in entry_points(group=GROUP):
        loaded: Any = entry.load()
        if isinstance(loaded, dict):
            found.update(loaded)
        elif isinstance(loaded, Policy):
            found[loaded.name] = loaded
    return found


#: how a replay treats the queue head and freed processors: ``default`` (pyss: EASY's head moves
#: with the order, processors are free at a job's expected end) or ``rlscheduler`` (Zhang et al.
#: SC'20's environment: a blocked head keeps its place, processors come back at end events)
PROTOCOLS = ("default", "rlscheduler")


def get_policy(
    name: str = "easy",
    *,
    order: str | None = None,
    backfill: str | None = None,
    protocol: str | None = None,
) -> Policy:
    """The policy called ``name``, with its queue order or backfill variant overridden if given.

    ``ORDER:BACKFILL`` (e.g. ``sjf:none``, ``f1:rlscheduler``) names the backfilling engine with
    that queue order and variant. ``protocol`` (see :data:`PROTOCOLS`) sets the replay
    environment; ``backfill="rlscheduler"`` implies the ``rlscheduler`` protocol.
    """
    if protocol is not None and protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")
    if ":" in name and name not in PRESETS:
        first, _, second = name.partition(":")
        order = order or first.strip()
        backfill = backfill or second.strip()
        name = "easy"
        label = f"{order}:{backfill}"
    else:
        label = ""
    policy: Policy | None = PRESETS.get(name)
    if policy is None:
        policy = registered_policies().get(name)
    if policy is None:
        known = ", ".join(sorted(registered_policies()))
        raise ValueError(
            f"unknown policy {name!r}; known policies: {known} (or ORDER:BACKFILL, e.g. sjf:none)"
        )
    if backfill == "rlscheduler" and protocol is None:
        protocol = "rlscheduler"
    if order is None and backfill is None and protocol in (None, "default"):
        return policy
    if not isinstance(policy, BackfillPolicy):
        raise ValueError(
            f"policy {name!r} is not a backfilling preset: --order/--backfill/--protocol do not "
            "apply"
        )
    changes: dict[str, Any] = {}
    if order is not None:
        changes["order"] = order
    if backfill is not None:
        changes["backfill"] = backfill
    if protocol == "rlscheduler":
        # RLScheduler's environment: the blocked head keeps its place and processors come
        # back only at end events (VALIDATION.md rung 2)
        changes["sticky_head"] = True
        changes["release"] = "event"
    parts = [label or name]
    if not label:
        parts += [f"{k}={v}" for k, v in changes.items() if k in ("order", "backfill")]
    if protocol == "rlscheduler":
        parts.append("protocol=rlscheduler")
    return replace(policy, name=",".join(parts), **changes)
