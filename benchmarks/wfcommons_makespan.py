"""Simulated makespans of real WfCommons workflows against the bound no schedule beats.

For each WfFormat instance in FOLDER, the workflow is replayed on ``--cpus`` processors with its
recorded runtimes and cores (``hpcsched simulate INSTANCE --cpus N``'s path) under FCFS, EASY and
PriorityBF, then with the DAG-aware queue orders (bottom level, HEFT's upward rank) and with
PriorityBF's classes by bottom-level quartile. Each cell is the makespan in seconds and, in
brackets, its ratio to max(critical path, work / N).

Usage::

    python benchmarks/wfcommons_makespan.py ../shared/data/wfcommons --cpus 48
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hpcsched.core.pool import Pool
from hpcsched.policies.registry import get_policy
from hpcsched.runtime.wfformat import is_wfformat, read_instance
from hpcsched.sim.workflow import simulate_workflow

#: column label -> (preset, queue order, class rule)
CASES: dict[str, tuple[str, str | None, str | None]] = {
    "fcfs": ("fcfs", None, None),
    "easy": ("easy", None, None),
    "prioritybf": ("prioritybf", None, None),
    "fcfs+bl": ("fcfs", "bottom-level", None),
    "easy+bl": ("easy", "bottom-level", None),
    "easy+rank_u": ("easy", "upward-rank", None),
    "pbf+bl-classes": ("prioritybf", None, "bottom-level"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--cpus", default="48", help="machine sizes, comma-separated: 48,8")
    args = parser.parse_args(argv)
    instances = sorted(p for p in args.folder.glob("*.json") if is_wfformat(p))
    if not instances:
        print(f"{args.folder}: no WfFormat instances (*.json)", file=sys.stderr)
        return 2
    for cpus in (int(n) for n in args.cpus.split(",")):
        table(instances, cpus)
    return 0


def table(instances: list[Path], cpus: int) -> None:
    """One row per instance on a machine of ``cpus`` processors."""
    pool = Pool.uniform(1, cpus)
    head = f"{'instance':<40} {'tasks':>5} {'CP s':>8} {'work/N s':>9}"
    print(f"\nmachine: {cpus} cpus; cells: makespan s (makespan / max(CP, work/N))")
    print(head + "".join(f" {label:>16}" for label in CASES))
    for path in instances:
        dag = read_instance(path)
        if max(task.cpus for task in dag.tasks) > cpus:
            print(f"{path.stem:<40} skipped: a task needs more than {cpus} cpus")
            continue
        cells = []
        bound = None
        for preset, order, classes in CASES.values():
            run = simulate_workflow(
                dag.tasks,
                get_policy(preset, order=order),
                pool,
                dag.runtimes,
                transfers=dag.transfers,
                classes=classes,
            )
            bound = run.bound
            cells.append(f" {run.makespan:>8.1f} ({run.ratio:.3f})")
        assert bound is not None
        row = f"{path.stem[:40]:<40} {len(dag.tasks):>5} {bound.critical_path:>8.1f}"
        print(row + f" {bound.work / cpus:>9.1f}" + "".join(cells))


if __name__ == "__main__":
    raise SystemExit(main())
