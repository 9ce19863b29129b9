"""Crash safety of `hpcsched run`: SIGKILL the runtime at random moments, restart, check the end.

    python scripts/crash_safety.py [--tasks 500] [--kills 20] [--seed 1] [--dir DIR] [--json]

Builds a workflow of TASKS shell tasks, each reading the outputs of up to two earlier tasks and
writing its own output, with a line appended to executions.log every time a task body runs. Runs
`hpcsched run` in its own process, kills it with SIGKILL at a random moment (0-0.5 s) after a
task body of that start began, KILLS times, then lets it finish. At the end it checks, from the
files and the journal: every task succeeded exactly once, every output exists with the right
content and was committed once, no attempt is left unfinished, and the journal folds without
error. Prints the figures; exits 1 if a check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any


def write_workflow(folder: Path, tasks: int, seed: int) -> Path:
    rng = random.Random(seed)
    lines = ["jobs:"]
    for i in range(tasks):
        parents = sorted(rng.sample(range(i), k=min(i, rng.choice((0, 1, 2)))))
        inputs = [f"out/t{p}.txt" for p in parents]
        reads = " ".join(inputs)
        body = (
            f"echo t{i} >> {folder}/executions.log; sleep 0.0{rng.randint(5, 9)}; "
            + (f"cat {reads} > /dev/null; " if reads else "")
            + f"mkdir -p out && echo t{i} > out/t{i}.txt"
        )
        lines += [
            f"  - id: t{i}",
            f"    command: {json.dumps(body)}",
            f"    inputs: {json.dumps(inputs)}",
            f"    outputs: [out/t{i}.txt]",
            "    runtime: 0.05",
            "    retries: 1",
        ]
    path = folder / "wf.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def hpcsched() -> list[str]:
    return [sys.executable, "-c", "from hpcsched.cli import main; main()"]


def _first_body(proc: subprocess.Popen[str], log: Path, limit: float = 60.0) -> None:
    """Wait until a task body of this start appends to ``log`` (or the process ends)."""
    before = log.stat().st_size if log.exists() else 0
    deadline = time.monotonic() + limit
    while proc.poll() is None and time.monotonic() < deadline:
        if log.exists() and log.stat().st_size > before:
            return
        time.sleep(0.002)


def trial(folder: Path, tasks: int, kills: int, seed: int, cpus: int) -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    workflow = write_workflow(folder, tasks, seed)
    rng = random.Random(seed + 1)
    argv = [*hpcsched(), "run", str(workflow), "--cpus", str(cpus), "--json"]
    killed = 0
    restarts = 0
    started = time.perf_counter()
    final: dict[str, Any] | None = None
    while final is None:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if killed < kills:
            # kill while tasks run: a random moment after this start's first task body began.
            # (A delay counted from the process start lands, under load, where start-up ends,
            # so every kill interrupted the same first tasks and spent their restart budget.)
            _first_body(proc, folder / "executions.log")
            delay = rng.uniform(0.0, 0.5)
            try:
                out, err = proc.communicate(timeout=delay)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.communicate()
                killed += 1
                restarts += 1
                continue
        else:
            out, err = proc.communicate(timeout=300)
        if proc.returncode != 0:
            raise SystemExit(
                f"hpcsched run exited {proc.returncode} after {killed} kills: "
                f"stderr {err.strip()[-500:]!r}; stdout {out.strip()[-1500:]!r}"
            )
        final = json.loads(out.strip().splitlines()[-1])
    elapsed = time.perf_counter() - started
    return check(folder, tasks, kills=killed, restarts=restarts, elapsed=elapsed, final=final)


def check(
    folder: Path, tasks: int, *, kills: int, restarts: int, elapsed: float, final: dict[str, Any]
) -> dict[str, Any]:
    from hpcsched.runtime.journal import read_journal

    record = read_journal(folder / "wf.run")
    successes: Counter[str] = Counter()
    commits: Counter[str] = Counter()
    for tid, rec in record.tasks.items():
        for attempt in rec.attempts:
            if attempt.result is not None and attempt.result.ok:
                successes[tid] += 1
                for f in attempt.result.outputs:
                    commits[f.path] += 1
    wrong = [
        f"t{i}"
        for i in range(tasks)
        if not (folder / "out" / f"t{i}.txt").is_file()
        or (folder / "out" / f"t{i}.txt").read_text().strip() != f"t{i}"
    ]
    executions = Counter((folder / "executions.log").read_text().split())
    unfinished = record.unfinished_attempts()
    report = {
        "tasks": tasks,
        "kills": kills,
        "restarts": restarts,
        "runs_in_journal": len(record.runs),
        "succeeded_exactly_once": sum(1 for i in range(tasks) if successes[f"t{i}"] == 1),
        "outputs_committed_once": sum(1 for i in range(tasks) if commits[f"out/t{i}.txt"] == 1),
        "outputs_wrong_or_missing": len(wrong),
        "unfinished_attempts": len(unfinished),
        "task_bodies_run": sum(executions.values()),
        "tasks_run_more_than_once": sum(1 for n in executions.values() if n > 1),
        "interrupted_attempts": sum(
            1 for rec in record.tasks.values() for a in rec.attempts if a.interrupted
        ),
        "final_run": final,
        "wall_seconds": round(elapsed, 2),
    }
    report["ok"] = (
        report["succeeded_exactly_once"] == tasks
        and report["outputs_committed_once"] == tasks
        and not wrong
        and not unfinished
        and final["succeeded"] == tasks
        and final["failed"] == 0
    )
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cpus", type=int, default=4)
    parser.add_argument("--dir", type=Path, default=None, help="work folder (default: a temp dir)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.dir is None:
        import tempfile

        args.dir = Path(tempfile.mkdtemp(prefix="hpcsched-crash-"))
    report = trial(args.dir, args.tasks, args.kills, args.seed, args.cpus)
    if args.json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            print(f"{key:>26}: {value}")
    raise SystemExit(0 if report["ok"] else 1)


if __name__ == "__main__":
    main()
