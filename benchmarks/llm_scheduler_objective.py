"""What do the user's words change? ``--policy llm`` with and without ``--objective``.

One instance built to reward fairness: user ``a`` submits six half-machine jobs at t=0, users
``b`` and ``c`` three small ones just after; in arrival order ``b`` and ``c`` wait behind all of
``a``. Each time a start is free to choose, the model may pick any job that fits, so a model
that heeds "favour fairness" can start ``b`` and ``c`` first. The policy is run with the default
objectives and with ``--objective`` (default "favour fairness"), next to EASY; printed per run:
the order of starts (job:user@time), the mean wait, Jain's index of per-user mean waits (the
definition of :mod:`hpcsched.sim.metrics`), the makespan, and the policy's counts (decisions,
fallbacks, how often the model chose the menu's first action) and the reasons it gave. A long
deadline (``--deadline``, 30 s) lets the model decide rather than EASY.

Usage: ``python benchmarks/llm_scheduler_objective.py [--url URL] [--objective TEXT]
[--deadline 30] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

import numpy as np

from hpcsched.llm import load_settings
from hpcsched.llmsched.policy import LlmPolicy
from hpcsched.policies.presets import PRESETS
from hpcsched.policies.view import Policy
from hpcsched.sim.instance import SchedulingInstance
from hpcsched.sim.replay import Schedule, replay

USERS = ("a", "a", "a", "a", "a", "a", "b", "b", "c")


def fairness_instance() -> SchedulingInstance:
    demand = [[4, 16, 0]] * 6 + [[2, 8, 1], [2, 8, 1], [1, 4, 0]]
    n = len(demand)
    return SchedulingInstance(
        name="fairness",
        release=np.array([0, 0, 0, 0, 0, 0, 1, 1, 2]),
        duration=np.array([20, 20, 20, 20, 20, 20, 10, 10, 30]),
        demand=np.array(demand),
        capacity=(8, 32, 2),
        resources=("nodes", "mem_gb", "gpus"),
        weight=np.ones(n, dtype=np.int64),
        user=USERS,
        group=("",) * n,
    )


def summary(instance: SchedulingInstance, schedule: Schedule) -> dict[str, Any]:
    wait = schedule.start - instance.release
    users = sorted(set(USERS))
    per_user = [float(wait[[u == user for u in USERS]].mean()) for user in users]
    squares = len(per_user) * sum(x * x for x in per_user)
    order = sorted(range(len(instance)), key=lambda i: (schedule.start[i], i))
    return {
        "order": " ".join(f"{i}:{USERS[i]}@{schedule.start[i]:g}" for i in order),
        "mean_wait": round(float(wait.mean()), 2),
        "mean_wait_by_user": {u: round(x, 2) for u, x in zip(users, per_user, strict=True)},
        "jain": round(sum(per_user) ** 2 / squares, 3) if squares else 1.0,
        "makespan": float(np.nanmax(schedule.end) - instance.release.min()),
    }


def run(instance: SchedulingInstance, policy: Policy) -> dict[str, Any]:
    schedule = replay(instance.job_arrays(), policy, instance.capacity, strict=True, cycle=0)
    return summary(instance, schedule)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=os.environ.get("HPCSCHED_LLM_URL"))
    parser.add_argument("--objective", default="favour fairness")
    parser.add_argument("--deadline", type=float, default=30.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not args.url:
        print("no model endpoint: pass --url or set HPCSCHED_LLM_URL", file=sys.stderr)
        return 2
    instance = fairness_instance()
    settings = load_settings({"url": args.url, "timeout": 120.0, "deadline": 120.0})
    rows: dict[str, dict[str, Any]] = {"easy": run(instance, PRESETS["easy"])}
    for label, objective in (("llm", None), (f"llm + {args.objective!r}", args.objective)):
        with LlmPolicy(
            instance.resources,
            instance.capacity,
            settings=settings,
            objective=objective,
            deadline=args.deadline,
        ) as policy:
            rows[label] = run(instance, policy)
            stats = policy.stats()
        rows[label]["decisions"] = stats["decisions"]
        rows[label]["fallbacks"] = stats["fallbacks"]
        rows[label]["model_chose_first_action"] = stats["model_chose_first_action"]
        rows[label]["seconds_per_decision"] = stats["seconds_per_decision"]["mean"]
        rows[label]["reasons"] = sorted({n.reason for n in policy.history if n.source == "model"})
    if args.json:
        print(json.dumps(rows))
        return 0
    for label, row in rows.items():
        print(f"{label}:")
        for key, value in row.items():
            print(f"  {key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
