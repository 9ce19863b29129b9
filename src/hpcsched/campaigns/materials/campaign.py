"""The materials-discovery campaign on the Campaign API: one object for both clocks.

The rules (issue 7, after the talk):

- first the three surrogates are trained (high priority); then ``lookahead`` structures (or
  batches) have their three predictions in flight (high priority, class 0);
- when all predictions for structure S finish: release the predictions for the next structure
  and the processing tasks for S: its analysis (class 1) when it may still enter the answer, that
  is when its optimistic enthalpy (ensemble mean minus ``Z`` times the spread of the three
  surrogates, a lower confidence bound as in Bayesian optimisation) beats the current ``top``-th
  best, and the periodic tasks S makes due (drift detection per surrogate every 10 materials,
  validation every 10, logging every 5, visualisation every 100; low priority, class 2, each
  must start
  within its period: :class:`~hpcsched.campaigns.periodic.Periodic`, whose deadline guard keeps
  them from starving); and remove from the queue every task made obsolete by S: the analysis of a
  structure whose optimistic enthalpy no longer beats the ``top``-th best, a snapshot task
  (log, validation, visualisation) that a newer one of the same kind supersedes, and a drift check
  of a surrogate version that has since been replaced or whose refit is running (the campaign
  ignores its verdict: issue 7 measured 43 % of PriorityBF's drift checks spent so on UO2);
- when a drift check finds drift in the current version of a model: release its continual-learning
  refit at high priority (a refit still queued is replaced by one with more data); predictions
  released after the refit use the new version; queued checks of the old version are obsolete;
- at the end of the window, nothing new is released and everything queued is cancelled.

Decisions depend only on task results and on the order of completions, never on a clock's
absolute values, so the simulator and the live runtime take the same decisions for the same
completions (``tests/test_materials_campaign.py`` checks the task sequence).
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from hpcsched.campaigns.api import Context
from hpcsched.campaigns.materials.durations import DurationModel
from hpcsched.campaigns.materials.planner import HIGH, LOW, MEDIUM, Plan
from hpcsched.campaigns.materials.tasks import CALLABLES
from hpcsched.campaigns.periodic import Periodic
from hpcsched.campaigns.task import Task, TaskResult

Z = 2.0  # spreads below the mean a structure may still be (its lower confidence bound)
DRIFT_WINDOW = 40  # most recent structures a drift check tests
VALIDATE_WINDOW = 40
MODULE = "hpcsched.campaigns.materials.tasks"
QUEUED = ("waiting", "held", "retrying")


@dataclass
class Tally:
    """What happened, for :mod:`.report` (counts are of tasks that ended inside the window)."""

    materials: int = 0  # structures whose three predictions finished inside the window
    materials_total: int = 0
    completed: dict[str, int] = field(default_factory=dict)  # kind -> tasks finished in window
    failed: dict[str, int] = field(default_factory=dict)
    detections: dict[str, int] = field(default_factory=dict)  # method -> drift found
    refits: dict[str, int] = field(default_factory=dict)
    cl_delay: dict[str, list[int]] = field(default_factory=dict)  # structures, detection -> refit
    obsolete: dict[str, int] = field(default_factory=dict)  # kind -> removed from the queue
    busy: float = 0.0  # cpu-seconds of work inside the window (of tasks ending after it too)
    busy_by_kind: dict[str, float] = field(default_factory=dict)
    last: float = 0.0  # when the last task inside the window ended
    stopped_at: float | None = None


@dataclass
class _Group:
    stop: int
    values: dict[str, list[float]] = field(default_factory=dict)


class MaterialsCampaign:
    """A :class:`~hpcsched.campaigns.api.Campaign` for a :class:`~.planner.Plan`."""

    def __init__(
        self,
        plan: Plan,
        *,
        work_dir: str = "",
        window: float = math.inf,
        lookahead: int = 2,
        fit_cpus: int = 1,
        durations: DurationModel | None = None,
    ) -> None:
        self.plan = plan
        self.work_dir = work_dir
        self.window = window
        self.lookahead = max(1, lookahead)
        self.fit_cpus = fit_cpus
        self.durations = durations or DurationModel()
        self.tally = Tally()
        self.versions = dict.fromkeys(plan.methods, 0)
        self.model_task = {m: f"train-{m}" for m in plan.methods}
        self.best: list[tuple[float, int]] = []  # max-heap of (-enthalpy, structure)
        self.stopped = False
        self._next = 0
        self._groups: dict[int, _Group] = {}
        self._recent: deque[int] = deque(maxlen=max(DRIFT_WINDOW, VALIDATE_WINDOW))
        self._log_lines: list[str] = []
        self._log_queued: dict[str, list[str]] = {}  # the newest log task -> the lines it writes
        self._ctx: Context | None = None
        self._due_at: dict[str, int] = {}  # drift check id -> materials when it was due
        self._drift_version: dict[str, int] = {}  # drift check id -> the version it tests
        self._refit: dict[str, tuple[str, int]] = {}  # method -> (pending refit id, due at)
        self._refits_made = 0
        self._snapshots: dict[str, list[str]] = {}  # periodic series -> instance ids
        self._analyses: list[tuple[float, str]] = []  # heap of (-optimistic bound, analysis id)
        self._marker = Task(id="material", callable=f"{MODULE}:log", kind="material")
        self._ok = TaskResult(task_id="material", attempt=1, ok=True)
        self.periodic = {f"drift-{m}": self._series("drift", m) for m in plan.methods}
        for kind in ("validate", "log", "visualise"):
            self.periodic[kind] = self._series(kind)

    # -- tasks -----------------------------------------------------------------------------

    def _task(self, kind: str, tid: str, priority: int, runtime: float, **kwargs: Any) -> Task:
        depends = kwargs.pop("depends", [])
        cpus = kwargs.pop("cpus", 1)
        return Task(
            id=tid,
            callable=f"{MODULE}:{CALLABLES[kind]}",
            kwargs={"work_dir": self.work_dir, "spec": self.plan.spec, **kwargs},
            kind=kind,
            priority=priority,
            runtime=runtime,
            cpus=cpus,
            depends=depends,
        )

    def _series(self, kind: str, method: str = "") -> Periodic:
        every = self.plan.every(kind)
        name = f"{kind}-{method}" if method else kind

        def make(number: int) -> Task:
            tid = f"{name}-{number}"
            self._snapshots.setdefault(name, []).append(tid)
            runtime = self.durations.expected(kind)
            if kind == "drift":
                self._due_at[tid] = self.tally.materials_total
                self._drift_version[tid] = self.versions[method]
                window = list(self._recent)[-DRIFT_WINDOW:]
                args = {"method": method, "version": self.versions[method], "window": window}
            elif kind == "validate":
                window = list(self._recent)[-VALIDATE_WINDOW:]
                args = {"versions": dict(self.versions), "window": window}
            elif kind == "log":
                # an older log still queued is dropped as superseded (_remove_obsolete): this
                # one writes its lines too, or they would be lost
                lines = [
                    line
                    for older, written in self._log_queued.items()
                    if self._ctx is not None and self._ctx.state(older) in QUEUED
                    for line in written
                ]
                lines += self._log_lines
                self._log_queued, self._log_lines = {tid: lines}, []
                args = {"lines": lines}
            else:
                args = {"best": [[i, -h] for h, i in sorted(self.best, reverse=True)]}
            return self._task(kind, tid, LOW, runtime, number=number, **args)

        # "must start within its period"; with batches a period can be shorter than the groups
        # in flight, and completions that arrive together cannot all be met: then the deadline
        # is one more than the groups in flight (Periodic's own rule for its guard)
        within = max(every, self.lookahead + 1)
        return Periodic(
            every=every,
            of_kind="material",
            make=make,
            within=within,
            expedite_after=max(1, min(every // 2, within - 1)),
        )

    def _release(self, ctx: Context) -> None:
        plan = self.plan
        while (
            not self.stopped and len(self._groups) < self.lookahead and self._next < plan.structures
        ):
            start, stop = self._next, min(self._next + plan.batch, plan.structures)
            self._next = stop
            self._groups[start] = _Group(stop)
            for method in plan.methods:
                runtime = self.durations.expected("predict", method, stop - start)
                ctx.submit(
                    self._task(
                        "predict",
                        f"predict-{method}-{start}",
                        HIGH,
                        runtime,
                        method=method,
                        version=self.versions[method],
                        start=start,
                        stop=stop,
                        depends=[self.model_task[method]],
                    )
                )

    # -- the Campaign protocol -------------------------------------------------------------

    def start(self, ctx: Context) -> None:
        self._ctx = ctx
        for method in self.plan.methods:
            runtime = self.durations.expected("train")
            ctx.submit(
                self._task(
                    "train", f"train-{method}", HIGH, runtime, method=method, cpus=self.fit_cpus
                )
            )
        self._release(ctx)

    def on_result(self, task: Task, result: TaskResult, ctx: Context) -> None:
        now, tally = ctx.now, self.tally
        inside = now <= self.window
        # the part of the attempt inside the window, also when it ends after it (a refit
        # running at the window's end held its cpus until then)
        began = max(0.0, now - result.elapsed)
        work = max(0.0, min(now, self.window) - began) * task.cpus
        if work > 0:
            tally.busy += work
            tally.busy_by_kind[task.kind] = tally.busy_by_kind.get(task.kind, 0.0) + work
        if result.ok and inside:
            tally.completed[task.kind] = tally.completed.get(task.kind, 0) + 1
            tally.last = now
        elif not result.ok and result.reason != "cancelled":
            tally.failed[task.kind] = tally.failed.get(task.kind, 0) + 1
        if not inside and not self.stopped:
            self._stop(ctx)
        if task.kind == "predict":
            self._on_prediction(task, result, ctx, inside)
        elif task.kind == "drift" and result.ok:
            self._on_drift(task, result.value, ctx)
        elif task.kind == "refit":
            self._on_refit(task, result, ctx)

    # -- reactions --------------------------------------------------------------------------

    def _on_prediction(self, task: Task, result: TaskResult, ctx: Context, inside: bool) -> None:
        start = int(task.kwargs["start"])
        group = self._groups.get(start)
        if group is None:
            return
        if not result.ok:  # a failed prediction abandons its structures (counted in failed)
            del self._groups[start]
            self._release(ctx)
            return
        group.values[str(task.kwargs["method"])] = list(result.value)
        if len(group.values) < len(self.plan.methods):
            return
        del self._groups[start]
        count = group.stop - start
        self.tally.materials_total += count
        if inside:
            self.tally.materials += count
        columns = list(zip(*group.values.values(), strict=True))
        ensemble = [sum(v) / len(v) for v in columns]
        promising: list[list[float]] = []
        for k, (h, values) in enumerate(zip(ensemble, columns, strict=True)):
            spread = (sum((v - h) ** 2 for v in values) / len(values)) ** 0.5
            if self._may_enter(h - Z * spread):
                promising.append([start + k, h, spread])
            self._remember(start + k, h)
        low = min(range(count), key=ensemble.__getitem__)
        self._log_lines.append(
            f"structures {start}-{group.stop - 1}: lowest ensemble enthalpy "
            f"{ensemble[low]:.4f} eV/atom at {start + low}"
        )
        if self.stopped:
            return
        self._release(ctx)
        if promising:
            tid = f"analyse-{start}"
            heapq.heappush(self._analyses, (-min(p[1] - Z * p[2] for p in promising), tid))
            runtime = self.durations.expected("analyse")
            ctx.submit(
                self._task("analyse", tid, MEDIUM, runtime, start=start, structures=promising)
            )
        for series in self.periodic.values():
            series.on_result(self._marker, self._ok, ctx)
        self._remove_obsolete(ctx)

    def _may_enter(self, optimistic: float) -> bool:
        return len(self.best) < self.plan.top or optimistic < -self.best[0][0]

    def _remember(self, structure: int, enthalpy: float) -> None:
        self._recent.append(structure)
        item = (-enthalpy, structure)
        if len(self.best) < self.plan.top:
            heapq.heappush(self.best, item)
        elif item > self.best[0]:
            heapq.heapreplace(self.best, item)

    def _on_drift(self, task: Task, value: dict[str, Any], ctx: Context) -> None:
        method = str(value["method"])
        if not value["drift"] or value["version"] != self.versions[method] or self.stopped:
            return
        tally = self.tally
        due = self._due_at.get(task.id, tally.materials_total)
        pending = self._refit.get(method)
        if pending is not None:  # the same drift episode: no new detection
            if ctx.state(pending[0]) not in QUEUED:
                return  # a refit is running: it already answers this drift
            ctx.cancel(lambda t: t.id == pending[0])  # replaced by one with more data
            tally.obsolete["refit"] = tally.obsolete.get("refit", 0) + 1
            due = pending[1]
        else:
            tally.detections[method] = tally.detections.get(method, 0) + 1
        self._refits_made += 1
        version = self.versions[method] + 1
        tid = f"refit-{method}-v{version}-{self._refits_made}"
        self._refit[method] = (tid, due)
        runtime = self.durations.expected("refit")
        upto = max(self._recent, default=0) + 1
        ctx.submit(
            self._task(
                "refit",
                tid,
                HIGH,
                runtime,
                method=method,
                version=version,
                upto=upto,
                cpus=self.fit_cpus,
            )
        )

    def _on_refit(self, task: Task, result: TaskResult, ctx: Context) -> None:
        method = str(task.kwargs["method"])
        pending = self._refit.get(method)
        if pending is None or pending[0] != task.id:
            return
        del self._refit[method]
        if not result.ok:
            return
        self.versions[method] = int(result.value["version"])
        self.model_task[method] = task.id
        tally = self.tally
        tally.refits[method] = tally.refits.get(method, 0) + 1
        tally.cl_delay.setdefault(method, []).append(tally.materials_total - pending[1])
        self._remove_obsolete(ctx)

    def _remove_obsolete(self, ctx: Context) -> None:
        doomed: set[str] = set()
        # the worst optimistic bound first: pop while it can no longer enter the answer
        while self._analyses and not self._may_enter(-self._analyses[0][0]):
            _, tid = heapq.heappop(self._analyses)
            if ctx.state(tid) in QUEUED:
                doomed.add(tid)
        # a check of a model whose refit is running can change nothing (_on_drift ignores it)
        # and the refit's end makes it one of a replaced version: obsolete already
        refitting = {m for m, (tid, _) in self._refit.items() if ctx.state(tid) == "running"}
        for name, ids in self._snapshots.items():
            queued = [tid for tid in ids if ctx.state(tid) in QUEUED]
            if name.startswith("drift-"):
                method = name.removeprefix("drift-")
                current = self.versions[method] + (method in refitting)
                doomed.update(t for t in queued if self._drift_version[t] < current)
            else:
                doomed.update(queued[:-1])  # the newest snapshot covers what the older would
            self._snapshots[name] = queued
        if doomed:
            ctx.cancel(lambda t: t.id in doomed)
            for tid in doomed:
                kind = tid.split("-", 1)[0]
                self.tally.obsolete[kind] = self.tally.obsolete.get(kind, 0) + 1

    def _stop(self, ctx: Context) -> None:
        """The window is over: release nothing more, cancel everything still queued."""
        self.stopped = True
        self.tally.stopped_at = ctx.now
        ctx.cancel(lambda t: ctx.state(t.id) in QUEUED)

    def answer(self, source_label: Any = None) -> list[dict[str, Any]]:
        """The lowest-enthalpy entries found, best first."""
        rows = sorted(((-h, i) for h, i in self.best))
        return [
            {
                "structure": i,
                "label": source_label(i) if source_label else str(i),
                "enthalpy_per_atom": round(h, 5),
            }
            for h, i in rows
        ]
