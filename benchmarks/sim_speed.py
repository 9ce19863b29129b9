"""Simulator speed: `hpcsched simulate` on full traces, against AccaSim 1.1.3 in the same run.

    python benchmarks/sim_speed.py [--no-accasim] [--repeat N]

Each case runs the real command in its own process; we report the whole-process wall time, the
jobs/s inside the simulation (from its --json), and the process's peak RSS (wait4 rusage). AccaSim
replays the same strong-filtered SDSC-SP2 jobs with its EASY scheduler (see
accasim_reference.py); the ratio is AccaSim's wall time over ours. Targets (issue 2): EASY
>= 50,000 jobs/s inside the simulation, conservative and PriorityBF >= 10,000 jobs/s, the whole
process >= 20x faster than AccaSim, peak memory <= 1 GB on CEA-Curie.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TRACES = ROOT.parent / "shared" / "data" / "traces"
SDSC = TRACES / "SDSC-SP2-1998-4.2-cln.swf.gz"
CURIE = TRACES / "CEA-Curie-2011-2.1-cln.swf.gz"

CASES = [
    ("SDSC-SP2 easy", SDSC, ["--policy", "easy"], 50_000),
    ("SDSC-SP2 conservative", SDSC, ["--policy", "conservative"], 10_000),
    ("SDSC-SP2 prioritybf", SDSC, ["--policy", "prioritybf", "--classes", "size"], 10_000),
    ("CEA-Curie easy", CURIE, ["--policy", "easy"], 50_000),
]


def run_process(argv: list[str]) -> tuple[float, int, str]:
    """Wall seconds, peak RSS in bytes and stdout of one process."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        out.seek(0)
        text = out.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(argv)} failed")
    return wall, usage.ru_maxrss * 1024, text


def simulate_case(trace: Path, extra: list[str], repeat: int) -> dict[str, Any]:
    argv = [
        sys.executable,
        "-m",
        "hpcsched.cli",
        "simulate",
        str(trace),
        "--filter",
        "strong",
        "--json",
        *extra,
    ]
    best: dict[str, Any] = {}
    for _ in range(repeat):
        wall, rss, text = run_process(argv)
        metrics = json.loads(text)
        if not best or wall < best["wall_seconds"]:
            best = {"wall_seconds": wall, "peak_rss_mb": rss / 2**20, **metrics}
    return best


def accasim_case() -> dict[str, Any]:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from hpcsched.workloads.filters import apply_filter
    from hpcsched.workloads.swf import read_swf, write_swf

    from accasim_reference import run_accasim

    trace = apply_filter(read_swf(SDSC), "strong")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sdsc-strong.swf"
        write_swf(trace, path)
        return run_accasim(path, system_procs=trace.machine_procs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-accasim", action="store_true", help="skip the AccaSim reference")
    parser.add_argument("--repeat", type=int, default=3, help="runs per case (best is kept)")
    args = parser.parse_args()
    from rich.console import Console
    from rich.table import Table

    console = Console(width=120)
    rows = []
    for name, trace, extra, target in CASES:
        with console.status(f"{name} ..."):
            result = simulate_case(trace, extra, args.repeat)
        rows.append((name, target, result))
    accasim = None if args.no_accasim else accasim_case()
    table = Table(title=f"hpcsched simulate, strong filter (best of {args.repeat} runs)")
    for col in (
        "case",
        "jobs",
        "engine",
        "sim jobs/s",
        "target",
        "process s",
        "peak MB",
        "avg bsld",
    ):
        table.add_column(col, justify="right")
    failures = []
    for name, target, r in rows:
        ok = r["jobs_per_second"] >= target
        failures += [] if ok else [f"{name}: {r['jobs_per_second']:,.0f} jobs/s < {target:,}"]
        table.add_row(
            name,
            f"{r['jobs']:,}",
            r["engine"],
            f"{r['jobs_per_second']:,.0f}",
            f"{target:,} {'ok' if ok else 'MISSED'}",
            f"{r['wall_seconds']:.2f}",
            f"{r['peak_rss_mb']:.0f}",
            f"{r['avg_bsld']:.2f}",
        )
    console.print(table)
    curie = rows[3][2]
    if curie["peak_rss_mb"] > 1024:
        failures.append(f"CEA-Curie peak memory {curie['peak_rss_mb']:.0f} MB > 1024 MB")
    summary: dict[str, Any] = {"cases": {name: r for name, _, r in rows}}
    if accasim is not None:
        ours = rows[0][2]["wall_seconds"]
        ratio = accasim["wall_seconds"] / ours
        summary["accasim"] = accasim
        summary["ratio_vs_accasim"] = ratio
        console.print(
            f"AccaSim 1.1.3 EASY on the same {accasim['jobs']:,} SDSC-SP2 jobs: "
            f"{accasim['wall_seconds']:.2f} s; hpcsched simulate: {ours:.2f} s; "
            f"ratio {ratio:.1f}x (target >= 20x)"
        )
        if ratio < 20:
            failures.append(f"ratio vs AccaSim {ratio:.1f}x < 20x")
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / "sim_speed.json").write_text(json.dumps(summary, indent=2))
    for failure in failures:
        console.print(f"[red]target missed: {failure}[/red]")
    console.print("all targets met" if not failures else f"{len(failures)} target(s) missed")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
