"""Issue 22, build item 8: the long fuzz run. Every reader gets ``--examples`` hostile files from
the strategies of ``tests/fuzz_readers_support.py``; a crash is any exception other than the
reader's own one-line error, or a read that loses lines (read + malformed != total). Crashes are
counted, not stopped at, and the first of each reader is kept under ``--keep`` for a regression
test. Prints per reader: files tried, refused (the project's error), read, crashes (goal 0).

Usage: ``python benchmarks/fuzz_readers.py [--examples 2000] [--seed 1] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from hypothesis import HealthCheck, Phase, given, seed, settings

from fuzz_readers_support import READERS, accounted


def run(reader: str, examples: int, rng_seed: int, keep: Path | None) -> Counter[str]:
    name, strategy, read = READERS[reader]
    counts: Counter[str] = Counter()

    @seed(rng_seed)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(data=strategy)
    def one(data: bytes) -> None:
        counts["tried"] += 1
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / name
            path.write_bytes(data)
            try:
                outcome = read(path, data)
            except Exception:  # a crash: counted, the first kept
                outcome = None
                if keep is not None and not counts["crashes"]:
                    keep.mkdir(parents=True, exist_ok=True)
                    (keep / f"{reader.replace(' ', '-')}-{name}").write_bytes(data)
                    print(traceback.format_exc(limit=3), file=sys.stderr)
        if outcome is None or not accounted(outcome, reader):
            counts["crashes"] += 1
        else:
            counts["refused" if outcome.refused else "read"] += 1

    one()
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2000, help="files per reader")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, default=None, help="save each first crash here")
    parser.add_argument("--readers", default=",".join(READERS), help="comma-separated")
    args = parser.parse_args()
    print(f"{'reader':<14} {'tried':>7} {'refused':>8} {'read':>7} {'crashes':>8} {'seconds':>8}")
    total = 0
    for reader in args.readers.split(","):
        began = time.perf_counter()
        c = run(reader, args.examples, args.seed, args.keep)
        took = time.perf_counter() - began
        total += c["crashes"]
        print(
            f"{reader:<14} {c['tried']:>7} {c['refused']:>8} {c['read']:>7} "
            f"{c['crashes']:>8} {took:>8.1f}",
            flush=True,
        )
    sys.exit(1 if total else 0)


if __name__ == "__main__":
    main()
