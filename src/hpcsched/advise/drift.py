"""Prediction drift for ``hpcsched watch --observe --model DIR``: is the saved run-time bound
still as good as it claims, on the jobs that end now?

A model folder of ``predict fit`` holds a split-conformal upper bound with a target
``coverage`` (``model.json``; 0.95 by default): for jobs like its history, at least that share
run no longer than the bound (Vovk et al. 2005; Angelopoulos & Bates 2021). That guarantee only
holds while new jobs are exchangeable with the calibration jobs, so the drift signal is the
guarantee itself, checked on a rolling window of the last ``window`` jobs that ended:

    error = coverage - observed coverage = misses / window - (1 - coverage)

the **coverage shortfall** (:data:`MEASURE`): how far the share of jobs inside the bound fell
below the target. 0 (or below) is a model that keeps its promise, 0.5 one whose bound now holds
for only 45 % of jobs instead of 95 %. A job is a *miss* when its run time exceeds the bound
the model gives it at its submission (:meth:`FittedBound.upper`, without the cap at its own
timelimit, on the features its submission had: the bound ``advise --model`` would have given).

Which ended jobs count (:func:`is_miss`):

- ``completed``, ``failed``, ``out_of_memory``: the job ended on its own, so its run time is
  exact: a miss when above the bound, else covered;
- ``timeout``, ``cancelled``, ``node_fail``, ``preempted``, ``deadline``, ``boot_fail``: the job
  was stopped (by its limit, a person, a node), so its run time is only a lower bound of what
  it needed (a censored observation): above the bound it is a certain miss and counts; within
  it, whether the job would have stayed inside is unknown, and it is left out of the window
  (counting it as covered would hide a drift that makes jobs run into their limits);
- a job that never started is left out.

If misses were independent, a calibrated model's misses in a window would be Binomial(window,
1 - coverage), and a window of 50 past 0.15 (10 misses) would come by chance with probability
1.6e-4. Real misses come in bursts (one user's many similar jobs all run long together):
replayed on KTH-SP2 (``benchmarks/prediction_drift.py``), a model fitted on the first 20 % of
the jobs kept 0.938 coverage over the other 22,781, yet windows of 50 reported drift 40 times,
windows of 200 twice. Hence the default window of 200: a drift is a shortfall sustained over
many jobs, not one burst.

One ``prediction-drift`` event is published when the window is full and ``error >= threshold``;
then none until the window has renewed entirely (``window`` more jobs) or the model changed, so
one drift starts one refit, not one per job.
When ``model.json`` changes (a ``refit`` swapped the folder), the model is read again and the
window starts empty (``model-reloaded``).

:class:`DriftWindow` is the measure, with no I/O (``shared/STYLE.md`` lesson 3);
:class:`ModelDrift` reads the model folder and scores the jobs; :class:`~.watch.Watcher` only
calls it.
"""

from __future__ import annotations

import hashlib
import math
import os
import statistics
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    import polars as pl

    from hpcsched.predict.saved import SavedModel

Emit = Callable[[str, dict[str, Any]], Any]

#: The name of the drift measure in the event.
MEASURE: Final = "coverage-shortfall"
DEFAULT_WINDOW: Final = 200
DEFAULT_THRESHOLD: Final = 0.15
#: States whose run time is exact: the job ended on its own.
EXACT_STATES: Final = frozenset({"completed", "failed", "out_of_memory"})
#: States whose run time is a lower bound: the job was stopped before it was done.
CENSORED_STATES: Final = frozenset(
    {"timeout", "cancelled", "node_fail", "preempted", "deadline", "boot_fail"}
)


def is_miss(state: str, runtime: float | None, bound: float) -> bool | None:
    """Whether an ended job ran past its bound; None when it says nothing (see the module)."""
    if runtime is None or not math.isfinite(runtime) or math.isnan(bound):
        return None
    if state in EXACT_STATES:
        return runtime > bound
    if state in CENSORED_STATES and runtime > bound:
        return True  # it needed at least its run time, already more than the bound
    return None


class DriftWindow:
    """The last ``size`` scored jobs and the coverage shortfall over them."""

    def __init__(self, size: int, threshold: float, coverage: float) -> None:
        self.size, self.threshold, self.coverage = size, threshold, coverage
        self.jobs: deque[tuple[str, bool, float | None]] = deque(maxlen=size)
        self.quiet = 0  # jobs still to come before another report (the window renewing)

    @property
    def misses(self) -> int:
        return sum(miss for _, miss, _ in self.jobs)

    @property
    def error(self) -> float:
        """The coverage shortfall: target coverage minus the share of jobs within the bound."""
        return self.misses / len(self.jobs) - (1.0 - self.coverage) if self.jobs else 0.0

    def reset(self) -> None:
        self.jobs.clear()
        self.quiet = 0

    def add(self, job_id: str, miss: bool, log_ratio: float | None = None) -> dict[str, Any] | None:
        """Score one more job; the drift report when this one makes the window cross."""
        self.jobs.append((job_id, miss, log_ratio))
        self.quiet = max(0, self.quiet - 1)
        # "at least": 4/20 - (1 - 0.95) is 0.1499999... in binary floating point
        if len(self.jobs) < self.size or self.quiet or self.error < self.threshold - 1e-9:
            return None
        self.quiet = self.size
        ratios = [r for _, _, r in self.jobs if r is not None]
        return {
            "measure": MEASURE,
            "error": round(self.error, 6),
            "threshold": self.threshold,
            "coverage": self.coverage,
            "observed_coverage": round(1.0 - self.misses / len(self.jobs), 6),
            "misses": self.misses,
            "jobs": len(self.jobs),
            "window": self.size,
            "first_job_id": self.jobs[0][0],
            "last_job_id": self.jobs[-1][0],
            "median_log_ratio": round(statistics.median(ratios), 6) if ratios else None,
        }

    def to_state(self) -> dict[str, Any]:
        return {"jobs": [list(j) for j in self.jobs], "quiet": self.quiet}

    def restore(self, state: Mapping[str, Any]) -> None:
        self.reset()
        for job_id, miss, ratio in state.get("jobs", [])[-self.size :]:
            self.jobs.append((str(job_id), bool(miss), ratio))
        self.quiet = min(int(state.get("quiet", 0)), self.size)


def _stat(meta_path: Path) -> tuple[int, ...]:
    """What changes when ``model.json`` is replaced (a refit swaps the folder): the cheap
    per-pass test."""
    st = os.stat(meta_path)
    return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)


def _sha256(meta_path: Path) -> str:
    return hashlib.sha256(meta_path.read_bytes()).hexdigest()


def model_identity(folder: Path, model: SavedModel) -> dict[str, Any]:
    """The fields naming a model in the events: its folder, when it was fitted, the refit key."""
    agent = model.meta.get("agent")
    key = agent.get("key") if isinstance(agent, dict) else None
    return {"model": str(folder), "model_created": model.meta.get("created"), "model_key": key}


class ModelDrift:
    """The drift of the saved model in ``folder`` over the jobs that end, pass after pass."""

    def __init__(
        self,
        folder: Path,
        model: SavedModel,
        *,
        window: int = DEFAULT_WINDOW,
        threshold: float = DEFAULT_THRESHOLD,
    ) -> None:
        self.folder, self.model = folder, model
        self.signature, self.sha = _stat(folder / "model.json"), _sha256(folder / "model.json")
        self.window = DriftWindow(window, threshold, model.runtime.coverage)
        self.failed: tuple[int, ...] | None = None  # the model.json a reload last failed on

    def refresh(self, emit: Emit) -> bool:
        """Read the model again when ``model.json`` changed; True when a new model is in use."""
        from hpcsched.predict.saved import ModelFileError, load_model

        try:
            signature = _stat(self.folder / "model.json")
        except OSError:  # the moment a refit renames the old folder aside: look again next pass
            return False
        if signature in (self.signature, self.failed):
            return False
        try:
            sha = _sha256(self.folder / "model.json")
            if sha == self.sha:  # touched or copied over, not changed
                self.signature = signature
                return False
            model = load_model(self.folder)
        except (OSError, ModelFileError) as exc:  # damaged: keep the model in use
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            emit("model-unreadable", {"model": str(self.folder), "reason": reason})
            self.failed = signature  # reported once; tried again when model.json changes
            return False
        previous = model_identity(self.folder, self.model)["model_created"]
        self.model, self.sha, self.signature, self.failed = model, sha, signature, None
        self.window = DriftWindow(self.window.size, self.window.threshold, model.runtime.coverage)
        fields = {**model_identity(self.folder, model), "previous_created": previous}
        emit("model-reloaded", fields)
        return True

    def observe(self, ended: pl.DataFrame, emit: Emit) -> list[dict[str, Any]]:
        """Score the jobs of ``ended`` (job-table rows) in the order they ended; each report
        crossing the threshold is emitted as ``prediction-drift`` and returned."""
        import numpy as np
        import polars as pl

        if ended.height == 0 or self.model.runtime.model is None:
            return []
        jobs = ended.sort("end", nulls_last=True, maintain_order=True)
        runtime = self.model.runtime
        bound = runtime.upper(jobs, capped=False)
        point = runtime.point(jobs)
        actual = jobs["runtime"].cast(pl.Float64).to_numpy()
        started = jobs["start"].is_not_null().to_numpy()
        reports = []
        for i, row in enumerate(jobs.select("job_id", "state").iter_rows()):
            seconds = float(actual[i]) if started[i] and np.isfinite(actual[i]) else None
            miss = is_miss(str(row[1]), seconds, float(bound[i]))
            if miss is None or seconds is None:
                continue
            ratio = None  # log((1 + point) / (1 + run time)), as the conformal scores
            if row[1] in EXACT_STATES:
                ratio = math.log1p(max(float(point[i]), 0.0)) - math.log1p(max(seconds, 0.0))
            report = self.window.add(str(row[0]), miss, ratio)
            if report is not None:
                fields = {**model_identity(self.folder, self.model), **report}
                emit("prediction-drift", fields)
                reports.append(fields)
        return reports

    def to_state(self) -> dict[str, Any]:
        """The window, for the watch state file (``--once`` passes run as separate processes)."""
        created = model_identity(self.folder, self.model)["model_created"]
        return {"model_sha256": self.sha, "model_created": created, **self.window.to_state()}

    def restore(self, state: Mapping[str, Any] | None, emit: Emit) -> None:
        """The window a previous pass left; measured on another model (a refit between two
        ``--once`` passes), it is dropped and the change reported as ``model-reloaded``."""
        if not state:
            return
        if state.get("model_sha256") == self.sha:
            self.window.restore(state)
            return
        previous = state.get("model_created")
        emit(
            "model-reloaded",
            {**model_identity(self.folder, self.model), "previous_created": previous},
        )
