"""The embedded default: a Lublin–Feitelson workload under FCFS, EASY, conservative, PriorityBF."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hpcsched.policies.classes import describe_classes
from hpcsched.sim.compare import Case, compare
from hpcsched.workloads.load import write_table
from hpcsched.workloads.lublin import generate

DEMO_POLICIES = ("fcfs", "easy", "conservative", "prioritybf")
DEMO_MACHINE = 256
# Lublin's arrival process offers about 0.42 load on 256 processors; 1.5x the arrival rate gives
# a machine FCFS cannot keep up with (fragmentation) while backfilling can: the policies differ.
DEMO_LOAD_SCALE = 1.5


def run_demo(out_dir: Path, *, jobs: int = 5000, seed: int = 1) -> list[dict[str, Any]]:
    """Generate the workload, simulate every demo policy, write the job tables to ``out_dir``."""
    table = generate(jobs, machine_procs=DEMO_MACHINE, seed=seed, load_scale=DEMO_LOAD_SCALE)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_table(table, out_dir / "workload.parquet", machine_procs=DEMO_MACHINE)
    cases = [Case(name, DEMO_MACHINE, classes="size") for name in DEMO_POLICIES]
    rows, results = compare(table, cases)
    described = describe_classes(table, "size")  # what the per-class table's classes are
    for row in rows:
        row["classes"] = described
    for name, result in results.items():
        write_table(result.table, out_dir / f"{name}.parquet", machine_procs=DEMO_MACHINE)
    return rows
