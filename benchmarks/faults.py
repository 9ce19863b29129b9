"""The runtime's fault table: many seeded trials of every fault, as issue 22 asks to show it.

    python benchmarks/faults.py [--trials 10] [--seed 1] [--only NAME] [--json]

Faults (``tests/fault_harness.py``, also run once each by ``tests/test_run_faults.py``): SIGKILL
of the runtime at random moments (twice per trial, then run to the end), SIGKILL of a random
process the run started (a command's shell or a pool worker), a task that kills its parent (the
runtime) once, two runs on one directory, a deleted or corrupted ``-wal`` after a SIGKILL, and a
journal that may not grow past a random size (``RLIMIT_FSIZE``: the disk is full). Each trial runs
12 shell tasks that append their id to a ledger outside the run folder after their work.

Per fault: trials, ``hpcsched run`` processes started, runs refused in one line (a held lock, a
damaged journal, a full disk), tasks lost (never completed; goal 0) and tasks run twice after the
journal recorded them finished (goal 0).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

# the harness lives beside the tests, which run one trial of each fault
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fault_harness import TRIALS


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only", choices=list(TRIALS), action="append")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = []
    for name in args.only or list(TRIALS):
        rng = random.Random(f"{args.seed}:{name}")
        row = {"fault": name, "trials": 0, "runs": 0, "refused": 0, "lost": 0, "run_twice": 0}
        started = time.monotonic()
        for _ in range(args.trials):
            with tempfile.TemporaryDirectory(prefix="hpcsched-fault-") as folder:
                outcome = TRIALS[name](Path(folder), rng)
            row["trials"] += 1
            for key in ("runs", "refused", "lost", "run_twice"):
                row[key] += outcome[key]
        row["seconds"] = round(time.monotonic() - started, 1)
        rows.append(row)
        if not args.json:
            if len(rows) == 1:
                print(_header())
            print(_line(row), flush=True)
    if args.json:
        print(json.dumps(rows))
    return 0 if all(row["lost"] == 0 and row["run_twice"] == 0 for row in rows) else 1


def _header() -> str:
    names = ("fault", "trials", "runs", "refused", "lost", "run twice", "s")
    return f"{names[0]:<22}" + "".join(f"{n:>10}" for n in names[1:]) + "\n" + "-" * 82


def _line(row: dict[str, object]) -> str:
    keys = ("trials", "runs", "refused", "lost", "run_twice", "seconds")
    return f"{row['fault']!s:<22}" + "".join(f"{row[k]!s:>10}" for k in keys)


if __name__ == "__main__":
    raise SystemExit(main())
