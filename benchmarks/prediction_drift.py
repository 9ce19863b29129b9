"""Prediction drift on a real trace: what ``watch --observe --model`` would have reported, and
what the refit it triggers buys, replayed offline.

    python benchmarks/prediction_drift.py TRACE [--train-share 0.2] [--window 50]
        [--threshold 0.15] [--batch 50] [--max-refits 10] [--no-refit]

A model is fitted (``predict.saved.fit_model``, as ``predict fit``) on the jobs of TRACE that
ended before the submission of the first ``--train-share`` of its jobs, and saved in a model
folder. The later jobs are then given, in the order they ended, ``--batch`` at a time (one watch
pass each), to :class:`hpcsched.advise.drift.ModelDrift`, the code ``watch --observe --model``
runs. At each ``prediction-drift`` the agents' refit action (``agents.refit.refit_model``, as
``agents run`` does) fits again on every job ended so far and swaps the folder, and the next pass
reads the new model (``ModelDrift.refresh``), at most ``--max-refits`` times; ``--no-refit``
keeps the first model throughout. Printed: the coverage of the bound over the replayed jobs
(target: the model's, 0.95), the drift reports and refits, and the cost of a pass.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from hpcsched import __version__
from hpcsched.advise.drift import ModelDrift, is_miss
from hpcsched.agents.journal import Intent
from hpcsched.agents.refit import refit_model
from hpcsched.agents.rules import Refit
from hpcsched.predict.saved import fit_model, load_model, save_model
from hpcsched.workloads.load import load_jobs


def misses(drift: ModelDrift, jobs: pl.DataFrame) -> list[bool]:
    """The jobs of a pass the model in use misses (those that count, as the window counts)."""
    bound = drift.model.runtime.upper(jobs, capped=False)
    states = jobs["state"].to_list()
    runtimes = jobs["runtime"].cast(pl.Float64).to_list()
    scored = [is_miss(s, r, float(b)) for s, r, b in zip(states, runtimes, bound, strict=True)]
    return [m for m in scored if m is not None]


def replay(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    table = load_jobs(args.trace).table
    table = table.filter(
        pl.col("runtime").is_not_null()
        & pl.col("end").is_not_null()
        & pl.col("start").is_not_null()
    ).sort("submit", maintain_order=True)
    cut = float(table["submit"][int(table.height * args.train_share)])
    train = table.filter(pl.col("end") < cut)
    rest = table.filter(pl.col("submit") >= cut).sort("end", maintain_order=True)
    started = time.perf_counter()
    first = fit_model(train, args.trace, coverage=0.95, version=__version__)
    save_model(work / "model", first.runtime, first.memory, first.meta)
    fit_seconds = time.perf_counter() - started
    drift = ModelDrift(
        work / "model", load_model(work / "model"), window=args.window, threshold=args.threshold
    )
    events: list[tuple[str, dict[str, Any]]] = []

    def emit(event: str, fields: dict[str, Any]) -> None:
        events.append((event, fields))

    scored: list[bool] = []
    refits: list[dict[str, Any]] = []
    observe_seconds = refresh_seconds = 0.0
    for offset in range(0, rest.height, args.batch):
        t0 = time.perf_counter()
        drift.refresh(emit)
        refresh_seconds += time.perf_counter() - t0
        jobs = rest.slice(offset, args.batch)
        scored += misses(drift, jobs)
        t0 = time.perf_counter()
        reports = drift.observe(jobs, emit)
        observe_seconds += time.perf_counter() - t0
        if reports and not args.no_refit and len(refits) < args.max_refits:
            now = float(jobs["end"][-1])
            table.filter(pl.col("end") <= now).write_parquet(work / "history.parquet")
            rule = Refit(
                name="refit",
                when={"event": "prediction-drift"},
                action="refit",
                table=work / "history.parquet",
                out=work / "model",
            )
            key = f"replay-{len(refits)}"
            t0 = time.perf_counter()
            result = refit_model(rule, Intent(key, key, "refit", "refit", None, {}, {}, 0.0))
            refits.append(
                {
                    "after_job": len(scored),
                    "jobs": result["jobs"],
                    "seconds": time.perf_counter() - t0,
                }
            )
    passes = -(-rest.height // args.batch)
    drifts = [f for e, f in events if e == "prediction-drift"]
    return {
        "trained": train.height,
        "replayed": rest.height,
        "counted": len(scored),
        "coverage": 1.0 - float(np.mean(scored)) if scored else float("nan"),
        "drifts": drifts,
        "reloads": sum(e == "model-reloaded" for e, _ in events),
        "refits": refits,
        "fit_seconds": fit_seconds,
        "observe_ms_per_pass": 1000 * observe_seconds / passes,
        "refresh_us_per_pass": 1e6 * refresh_seconds / passes,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trace", type=Path)
    parser.add_argument("--train-share", type=float, default=0.2)
    parser.add_argument("--window", type=int, default=50)
    parser.add_argument("--threshold", type=float, default=0.15)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--max-refits", type=int, default=10)
    parser.add_argument("--no-refit", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hpcsched-drift-") as tmp:
        result = replay(args, Path(tmp))
    mode = "first model throughout" if args.no_refit else f"refit at drift (<= {args.max_refits})"
    print(f"{args.trace.name}: {mode}; window {args.window}, threshold {args.threshold}")
    print(
        f"  fitted on {result['trained']:,} jobs in {result['fit_seconds']:.1f} s; replayed "
        f"{result['replayed']:,}, counted {result['counted']:,} (censored within bound left out)"
    )
    print(f"  coverage of the bound over the replayed jobs: {result['coverage']:.3f} (target 0.95)")
    errors = [d["error"] for d in result["drifts"]]
    print(
        f"  prediction-drift reports: {len(errors)}"
        + (f" (error {min(errors):.2f}-{max(errors):.2f})" if errors else "")
    )
    for refit in result["refits"]:
        print(
            f"  refit after {refit['after_job']:,} counted jobs: {refit['jobs']:,} jobs, "
            f"{refit['seconds']:.1f} s"
        )
    print(
        f"  model-reloaded: {result['reloads']}; a pass: observe "
        f"{result['observe_ms_per_pass']:.1f} ms ({args.batch} jobs), "
        f"refresh {result['refresh_us_per_pass']:.0f} us"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
