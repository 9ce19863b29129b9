"""Issue 4's speed target: a 1M-job, 60-field ``sacct -P`` file → job table + full report.

Target: ≤ 10 s and ≤ 2 GB on a 2-core machine (the Frontier/Andes study's public pipeline took
139 s and 1.4 GB on such a file, and dropped every ``CANCELLED by <uid>`` job).

The file is made by the project's own generator (``hpcsched trace synth``: a Lublin workload
written as realistic ``sacct -a -P -D`` text with steps and the pitfalls); it is not timed. Then,
each in a child process whose wall time and peak resident memory are measured (``os.wait4``):

- the reference: Polars' CSV reader tokenising the same file into 60 string columns (no parsing,
  no steps folded), the fastest a reader of this file could be with a well-kept library;
- ``hpcsched report FILE --save-table TABLE.parquet --out DIR``: read and parse every field, fold
  the steps, write the job table, and build every chart, the summaries and the insights.

Usage: ``python benchmarks/analytics_speed.py [--jobs 1000000] [--seed 1] [--workdir DIR]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HPCSCHED = str(Path(sys.executable).with_name("hpcsched"))
TARGET_SECONDS = 10.0
TARGET_BYTES = 2 * 1024**3
STUDY = (139.0, 1.4 * 1024**3)

REFERENCE = """
import sys, polars as pl
frame = pl.read_csv(sys.argv[1], separator="|", infer_schema=False, quote_char=None,
                    truncate_ragged_lines=True)
print(frame.height)
"""


def measured(argv: list[str]) -> tuple[float, int, str]:
    """(wall seconds, peak RSS in bytes, stdout) of one child process."""
    began = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - began
    out, err = proc.stdout.read(), proc.stderr.read()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(argv[:3])} failed ({proc.returncode}): {err.strip()[-500:]}")
    return wall, usage.ru_maxrss * 1024, out


def gib(n: float) -> str:
    return f"{n / 1024**3:.2f} GB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=None, help="keep the files here")
    parser.add_argument("--trace", type=Path, default=None, help="an existing sacct -P file")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="hpcsched-analytics-"))
    work.mkdir(parents=True, exist_ok=True)
    trace = args.trace or work / f"sacct-{args.jobs}-{args.seed}.txt"
    if not trace.exists():
        print(f"generating {args.jobs:,} jobs of sacct -P text (not timed) ...", flush=True)
        began = time.perf_counter()
        gen = [HPCSCHED, "trace", "synth", "--jobs", str(args.jobs), "--format", "sacct"]
        subprocess.run([*gen, "--seed", str(args.seed), "--out", str(trace)], check=True)
        os.sync()  # the new file's 2 GB are written back now, not while the reader is timed
        print(f"  {time.perf_counter() - began:.1f} s")
    size = trace.stat().st_size
    with trace.open("rb") as fh:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 24), b""))
    print(f"file: {trace} ({size / 1e6:,.0f} MB, {lines:,} lines)")

    ref_s, ref_rss, ref_out = measured([sys.executable, "-c", REFERENCE, str(trace)])
    table, report_dir = work / "jobs.parquet", work / "report"
    argv = [HPCSCHED, "report", str(trace), "--save-table", str(table), "--out", str(report_dir)]
    total, peak, out = measured([*argv, "--json"])
    jobs = json.loads(out.strip().splitlines()[-1])
    print(
        f"reference (polars.read_csv, {ref_out.strip()} rows, strings only): "
        f"{ref_s:.2f} s, {gib(ref_rss)}"
    )
    print(
        f"hpcsched report FILE --save-table jobs.parquet: {total:.2f} s, peak {gib(peak)} "
        f"({table.stat().st_size / 1e6:.0f} MB table, "
        f"{(report_dir / 'report.html').stat().st_size / 1e6:.1f} MB HTML, "
        f"{len(jobs.get('insights', []))} insights)"
    )
    ratio = f"{total / ref_s:.2f}x time, {peak / ref_rss:.2f}x memory"
    print(f"ratio to the reference tokeniser: {ratio}")
    print(f"vs the study's pipeline (139 s, 1.4 GB): {STUDY[0] / total:.1f}x faster")
    ok = total <= TARGET_SECONDS and peak <= TARGET_BYTES
    print(
        f"target ≤ {TARGET_SECONDS:.0f} s and ≤ {gib(TARGET_BYTES)}: {'met' if ok else 'NOT met'}"
    )
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
