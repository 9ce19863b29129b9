"""Simulated makespans of real WfCommons workflows against the bound no schedule beats.

For each WfFormat instance in FOLDER, the workflow is replayed on ``--cpus`` processors with its
recorded runtimes and cores (``hpcsched simulate INSTANCE --cpus N``'s path) under FCFS, EASY and
PriorityBF, then with the DAG-aware queue orders (bottom level, HEFT's upward rank) and with
PriorityBF's classes by bottom-level quartile. Each cell is the makespan in seconds and, in
brackets, its ratio to max(critical path, work / N).

With ``--live SCALE`` each instance is also run for real under FCFS, EASY, PriorityBF and EASY in
bottom-level order (``hpcsched run INSTANCE --scale SCALE --cpus N``: every task a process that
sleeps its runtime times SCALE), and the live makespan (last end minus first start, the times
``hpcsched tasks`` and ``export`` show) is printed beside the simulated makespan times SCALE and
the bound times SCALE: what the live clock adds over the model is process start-up and the
pilot's loop, a fixed cost per task that grows in relative terms as SCALE shrinks.

Usage::

    python benchmarks/wfcommons_makespan.py ../shared/data/wfcommons --cpus 48
    python benchmarks/wfcommons_makespan.py ../shared/data/wfcommons --cpus 2,8 --smallest 5 \
        --live 0.001
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from hpcsched.core.pool import Pool
from hpcsched.policies.registry import get_policy
from hpcsched.runtime.journal import read_journal
from hpcsched.runtime.task_states import task_rows
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
#: the cases --live runs for real: the three presets and the bottom-level queue order
LIVE_CASES = ("fcfs", "easy", "prioritybf", "easy+bl")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--cpus", default="48", help="machine sizes, comma-separated: 48,8")
    parser.add_argument("--smallest", type=int, help="only the K instances with fewest tasks")
    parser.add_argument(
        "--live", type=float, metavar="SCALE", help="also run each instance live, runtimes × SCALE"
    )
    args = parser.parse_args(argv)
    instances = sorted(p for p in args.folder.glob("*.json") if is_wfformat(p))
    if not instances:
        print(f"{args.folder}: no WfFormat instances (*.json)", file=sys.stderr)
        return 2
    if args.smallest:
        sizes = {path: len(read_instance(path).tasks) for path in instances}
        instances = sorted(sorted(instances, key=sizes.__getitem__)[: args.smallest])
    for cpus in (int(n) for n in args.cpus.split(",")):
        simulated = table(instances, cpus)
        if args.live:
            live_table(simulated, cpus, args.live)
    return 0


#: per instance: (its bound, the simulated makespan of each case)
Simulated = dict[Path, tuple[float, dict[str, float]]]


def table(instances: list[Path], cpus: int) -> Simulated:
    """One row per instance on a machine of ``cpus`` processors; returns what it printed."""
    pool = Pool.uniform(1, cpus)
    simulated: Simulated = {}
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
        makespans = {}
        for label, (preset, order, classes) in CASES.items():
            run = simulate_workflow(
                dag.tasks,
                get_policy(preset, order=order),
                pool,
                dag.runtimes,
                transfers=dag.transfers,
                classes=classes,
            )
            bound = run.bound
            makespans[label] = run.makespan
            cells.append(f" {run.makespan:>8.1f} ({run.ratio:.3f})")
        assert bound is not None
        row = f"{path.stem[:40]:<40} {len(dag.tasks):>5} {bound.critical_path:>8.1f}"
        print(row + f" {bound.work / cpus:>9.1f}" + "".join(cells))
        simulated[path] = (max(bound.critical_path, bound.work / cpus), makespans)
    return simulated


def live_makespan(path: Path, cpus: int, scale: float, preset: str, order: str | None) -> float:
    """``hpcsched run`` of one instance in a scratch folder: last task end - first task start."""
    with tempfile.TemporaryDirectory(prefix="wfcommons-live-") as scratch:
        run_dir = Path(scratch) / "run"
        command = [sys.executable, "-m", "hpcsched.cli", "run", str(path), "--scale", str(scale)]
        command += ["--cpus", str(cpus), "--policy", preset, "--json"]
        command += ["--run-dir", str(run_dir), "--work-dir", scratch]
        command += ["--order", order] if order else []
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = done.stderr.strip().splitlines()[-1:] or ["no stderr"]
            raise SystemExit(f"{' '.join(command)}: exit {done.returncode}: {tail[0]}")
        rows = task_rows(read_journal(run_dir))
    starts = [r["start"] for r in rows if r["start"] is not None]
    ends = [r["end"] for r in rows if r["end"] is not None]
    return float(max(ends) - min(starts))


def live_table(simulated: Simulated, cpus: int, scale: float) -> None:
    """Each instance run live under :data:`LIVE_CASES`: live s, simulated × SCALE s, and their
    ratio; the bound × SCALE first."""
    print(f"\nlive at --scale {scale:g} on {cpus} cpus; cells: live s / simulated×scale s (ratio)")
    head = f"{'instance':<40} {'bound×scale':>11}"
    print(head + "".join(f" {label:>24}" for label in LIVE_CASES))
    for path, (bound, makespans) in simulated.items():
        cells = []
        for label in LIVE_CASES:
            preset, order, _ = CASES[label]
            live = live_makespan(path, cpus, scale, preset, order)
            model = makespans[label] * scale
            cells.append(f" {live:>8.3f} / {model:>7.3f} ({live / model:>4.2f})")
        print(f"{path.stem[:40]:<40} {bound * scale:>11.3f}" + "".join(cells), flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
