"""Scale of the materials campaign under the ``sim`` clock (issue 7).

    python benchmarks/materials_scale.py [--materials 1000000] [--batch 100] [--cpus 64]
                                         [--per-structure 20000] [--json]

Runs the U–Si campaign (PriorityBF, no window: to the end) on ``--materials`` structures in
batches of ``--batch`` per prediction task, with real surrogates, drift tests and refits computed
in-process, and prints the wall time, materials/s, and how long 9.5 million would take at that
rate. The reference, measured in the same run, is the same number of plain tasks (as many as the
campaign ran) through ``simulate_campaign`` with a StaticWorkflow: the ratio says how much the
campaign's own work (models, drift tests, bookkeeping) costs over the shared dispatcher. With
``--per-structure N`` it also runs N materials at one structure per task (the fine granularity),
whose rate bounds what per-structure tasks can reach.
Target: 1 million materials within 10 minutes on this 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from hpcsched.campaigns import Task
from hpcsched.campaigns.api import StaticWorkflow
from hpcsched.campaigns.materials.planner import GOALS, RuleBasedPlanner
from hpcsched.campaigns.materials.run import run_sim
from hpcsched.core.pool import Pool
from hpcsched.policies.registry import get_policy
from hpcsched.sim.campaign import simulate_campaign

TARGET_SECONDS = 600.0
TALK_MATERIALS = 9_500_000


def campaign_run(materials: int, batch: int, cpus: int) -> dict[str, Any]:
    plan = RuleBasedPlanner().plan(GOALS["usi"], materials=materials, batch=batch)
    t0 = time.perf_counter()
    outcome = run_sim(plan, "prioritybf", cpus)
    seconds = time.perf_counter() - t0
    report = outcome.report
    return {
        "materials": report["materials_investigated"],
        "batch": batch,
        "tasks": len(outcome.order),
        "seconds": round(seconds, 2),
        "materials_per_second": round(report["materials_investigated"] / seconds, 1),
        "drift_detections": report["drift_detections"]["total"],
        "refits": sum(report["continual_learning"].values()),
        "misses": report["low_priority_misses"],
    }


def reference_run(tasks: int, cpus: int) -> float:
    """Seconds for ``tasks`` plain one-cpu tasks through the same simulator and policy."""
    plain = [Task(id=f"t{i}", callable="m:f", runtime=1.0, priority=i % 3) for i in range(tasks)]
    t0 = time.perf_counter()
    simulate_campaign(StaticWorkflow(plain), get_policy("prioritybf"), Pool.uniform(1, cpus))
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--materials", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--cpus", type=int, default=64)
    parser.add_argument("--per-structure", type=int, default=0, metavar="N")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = campaign_run(args.materials, args.batch, args.cpus)
    reference = reference_run(result["tasks"], args.cpus)
    result["reference_seconds"] = round(reference, 2)
    result["ratio_vs_plain_tasks"] = round(result["seconds"] / reference, 2)
    result["within_target"] = result["seconds"] <= TARGET_SECONDS
    result["seconds_for_9_5M"] = round(TALK_MATERIALS / result["materials_per_second"])
    if args.per_structure:
        fine = campaign_run(args.per_structure, 1, args.cpus)
        fine["reference_seconds"] = round(reference_run(fine["tasks"], args.cpus), 2)
        result["per_structure"] = fine
        result["per_structure_seconds_for_1M"] = round(1e6 / fine["materials_per_second"])
    if args.json:
        print(json.dumps(result))
        return
    print(
        f"{result['materials']:,} materials in batches of {args.batch} on {args.cpus} cpus: "
        f"{result['seconds']:.1f} s ({result['materials_per_second']:,.0f} materials/s, "
        f"{result['tasks']:,} tasks, {result['refits']} refits, {result['misses']} misses)"
    )
    print(
        f"reference: {result['tasks']:,} plain tasks through simulate_campaign: "
        f"{reference:.1f} s; campaign / reference = {result['ratio_vs_plain_tasks']:.2f}"
    )
    verdict = "within" if result["within_target"] else "OVER"
    print(f"target 1M in {TARGET_SECONDS:.0f} s: {verdict}")
    print(f"9.5 million at this rate: {result['seconds_for_9_5M'] / 60:.1f} min")
    if args.per_structure:
        fine = result["per_structure"]
        print(
            f"one structure per task: {fine['materials']:,} materials in {fine['seconds']:.1f} s "
            f"({fine['materials_per_second']:,.0f}/s, {fine['tasks']:,} tasks; plain-task "
            f"reference {fine['reference_seconds']:.1f} s); 1M would take "
            f"{result['per_structure_seconds_for_1M'] / 60:.1f} min"
        )


if __name__ == "__main__":
    main()
