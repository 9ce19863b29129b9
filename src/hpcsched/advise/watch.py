"""The TIMEOUT re-scheduler behind ``hpcsched watch``: resubmit a job Slurm killed at its limit.

Each pass follows the user's jobs (``squeue``); a followed job that left the queue is looked up
in accounting (``sacct``). A job that ended in ``TIMEOUT`` (sacct man page, JOB STATE CODES:
"Job terminated upon reaching its time limit") is resubmitted with the same batch script
(``scontrol write batch_script JOB -``) and the same request (partition, nodes, tasks, CPUs per
task, memory, account, QoS, work directory, output files from ``scontrol show job -o``), with a
longer ``--time``:

- the runtime estimator's bound (:func:`hpcsched.predict.bound.fit_bound`, from ``--history``)
  when it is above the old limit. ``FittedBound.upper`` caps the bound at the job's own
  timelimit, which for a job that hit that limit says nothing, so :func:`uncapped_bound` takes the
  same conformal bound (model point prediction times the calibrated Mondrian margin) without
  the cap;
- else the old limit times :data:`GROWTH` (doubling, as exponential back-off does: the
  runtime is unknown beyond "longer than the limit", and doubling bounds the wasted core-hours
  of a chain to about the useful ones);

rounded up to whole minutes (Slurm's limit unit) and capped at the partition's ``MaxTime``
(from ``--site``, else ``scontrol show partition``). A chain of resubmissions is bounded:
attempt ``k`` of an original job is made only while ``k <= max_attempts``. The chain and the jobs
already decided live in a small JSON state file, so ``--once`` from cron picks up where the
last pass stopped. Every decision is an event (:mod:`hpcsched.runtime.events`). With
``observe`` it acts on nothing and reports instead: each ended job as ``job-ended``, and each
pending job its partition's MaxTime holds back (:mod:`hpcsched.advise.refused`) once as
``job-refused-too-long``.

:func:`decide` is the policy, with no I/O (``shared/STYLE.md`` lesson 3); :class:`Watcher` does the
Slurm commands, all through :meth:`SlurmAdapter.run` (lesson 7). It lives beside ``advise`` (both
apply predictions to a user's jobs), above the ``slurm`` adapter it drives.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from hpcsched.advise.refused import EVENT, is_refused, refused_fields
from hpcsched.core.schema import TERMINAL_STATES
from hpcsched.slurm.adapter import DEFAULT_FIELDS, DELIMITER, SlurmAdapter, SlurmError
from hpcsched.slurm.states import is_terminal

if TYPE_CHECKING:
    import polars as pl

    from hpcsched.advise.drift import ModelDrift
    from hpcsched.predict.bound import FittedBound

#: Limit growth when the estimator gives nothing above the old limit.
GROWTH: Final = 2.0
DEFAULT_MAX_ATTEMPTS: Final = 2
#: A decided job is remembered this long (squeue still lists ended jobs for MinJobAge, 300 s).
FORGET_AFTER: Final = 7 * 86400.0

Emit = Callable[[str, dict[str, Any]], Any]
#: The job-table columns a ``job-ended`` event carries (``--observe``): what rules match on.
ENDED_FIELDS: Final = (
    "user", "account", "partition", "qos", "name", "state", "exit_code",
    "submit", "start", "end", "runtime", "timelimit", "nodes", "cpus", "mem_req", "mem_used",
)  # fmt: skip


@dataclass(frozen=True)
class Decision:
    """What to do with one ended job: resubmit (with ``new_limit`` s), give up, or leave it."""

    action: Literal["resubmit", "give-up", "leave"]
    new_limit: float | None = None
    limit_from: Literal["bound", "growth"] | None = None
    reason: str | None = None


def decide(
    *,
    state: str,
    old_limit: float,
    attempt: int,
    max_attempts: int,
    max_time: float,
    bound: float | None = None,
    growth: float = GROWTH,
) -> Decision:
    """The re-scheduling policy for a job that ended in canonical ``state``.

    ``attempt`` counts the resubmissions already in the chain (0: the job is an original).
    """
    if state != "timeout":
        return Decision("leave")
    if attempt >= max_attempts:
        return Decision("give-up", reason="attempts-exhausted")
    source: Literal["bound", "growth"] = "growth"
    wanted = old_limit * growth
    if bound is not None and math.isfinite(bound) and bound > old_limit:
        wanted, source = bound, "bound"
    # sbatch --time is whole minutes: a MaxTime of 90 s allows 1 min, not a 90 s limit that
    # format_limit would round up past it (found by tests/test_agents.py's Hypothesis test)
    cap = math.floor(max_time / 60) * 60.0 if math.isfinite(max_time) else max_time
    new_limit = min(math.ceil(wanted / 60 - 1e-9) * 60.0, cap)
    if new_limit <= old_limit:
        return Decision("give-up", reason="limit-reached")
    return Decision("resubmit", new_limit, source)


def uncapped_bound(fitted: FittedBound, job: pl.DataFrame) -> float | None:
    """``fitted.upper(job)`` without the cap at the job's own timelimit; None without a model."""
    if fitted.model is None:  # too short a history: its "bound" is the request itself
        return None
    return float(fitted.upper(job, capped=False)[0])


def format_limit(seconds: float) -> str:
    """A whole-minute Slurm time, ``[D-]HH:MM:00``, for ``sbatch --time``."""
    minutes = max(1, math.ceil(seconds / 60 - 1e-9))
    days, rest = divmod(minutes, 1440)
    return (f"{days}-" if days else "") + f"{rest // 60:02d}:{rest % 60:02d}:00"


def partition_max_time(adapter: SlurmAdapter, partition: str) -> float:
    """``MaxTime`` of a partition from ``scontrol show partition -o``; inf when UNLIMITED."""
    from hpcsched.advise.sbatch_script import parse_time
    from hpcsched.slurm.adapter import parse_key_values

    info = parse_key_values(adapter.run(["scontrol", "show", "partition", "-o", partition]))
    value = parse_time(info.get("MaxTime", "UNLIMITED"))
    return math.inf if value is None else value


def resubmit_args(info: Mapping[str, str], job_id: str, new_limit: float, note: str) -> list[str]:
    """``sbatch`` options that repeat the request of ``scontrol show job -o`` with a new limit.

    Slurm's default output file (``WorkDir/slurm-JOB.out``) is not repeated, so the new job
    gets its own; an explicit one is appended to (``--open-mode=append``), not overwritten.
    """
    args = [f"--time={format_limit(new_limit)}", f"--comment={note}", "--open-mode=append"]
    options = {
        "Partition": "--partition",
        "JobName": "--job-name",
        "WorkDir": "--chdir",
        "NumNodes": "--nodes",
        "NumTasks": "--ntasks",
        "CPUs/Task": "--cpus-per-task",
        "Account": "--account",
        "QOS": "--qos",
        "MinMemoryCPU": "--mem-per-cpu",
        "MinMemoryNode": "--mem",
    }
    for key, option in options.items():
        value = info.get(key, "")
        if value and value not in ("(null)", "N/A", "*"):
            args.append(f"{option}={value}")
    default = f"{info.get('WorkDir', '')}/slurm-{job_id}.out"
    for key, option in (("StdOut", "--output"), ("StdErr", "--error")):
        value = info.get(key, "")
        if value and value != default:
            args.append(f"{option}={value}")
    return args


def read_state(path: Path) -> dict[str, Any]:
    """The state file: ``following`` (job -> chain), ``decided`` (job -> when) and ``refused``
    (job -> when it was reported held back by its partition's MaxTime)."""
    if not path.exists():
        return {"following": {}, "decided": {}}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(
            f"{path}: not a watch state file ({exc}); remove it to start afresh"
        ) from None
    if not isinstance(data, dict) or not {"following", "decided"} <= set(data):
        raise ValueError(f"{path}: not a watch state file; remove it to start afresh")
    return data


def write_state(path: Path, state: Mapping[str, Any]) -> None:
    """Write through a rename, so a killed pass never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(state, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def ended_jobs(adapter: SlurmAdapter, job_ids: Iterable[str]) -> pl.DataFrame:
    """Accounting rows (job table) of ``job_ids``, through the one sacct reader."""
    from hpcsched.workloads.sacct import read_sacct

    text = adapter.sacct(sorted(job_ids), duplicates=False)
    with tempfile.TemporaryDirectory(prefix="hpcsched-watch-") as tmp:
        path = Path(tmp) / "sacct.txt"
        path.write_text(text, encoding="utf-8")
        return read_sacct(path, delimiter=DELIMITER, fields=DEFAULT_FIELDS).table


class Watcher:
    """One pass at a time over ``user``'s jobs (or only ``jobs`` and their resubmissions)."""

    def __init__(
        self,
        adapter: SlurmAdapter,
        *,
        user: str,
        state_path: Path,
        emit: Emit,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        max_times: Mapping[str, float] | None = None,
        bound: FittedBound | None = None,
        jobs: Iterable[str] = (),
        growth: float = GROWTH,
        observe: bool = False,
        drift: ModelDrift | None = None,
    ) -> None:
        self.adapter, self.user, self.state_path, self.emit = adapter, user, state_path, emit
        self.max_attempts, self.growth, self.bound = max_attempts, growth, bound
        self.max_times = dict(max_times or {})
        self.only = {str(j) for j in jobs}
        # publish job-ended and job-refused-too-long, act on nothing (for ``hpcsched agents``)
        self.observe = observe
        self.drift = drift  # with observe: the saved model's coverage over the ended jobs
        self._restored = False

    def once(self, now: float | None = None) -> dict[str, Any]:
        """One pass: follow new jobs, decide on those that ended; returns the pass event."""
        now = time.time() if now is None else now
        state = read_state(self.state_path)
        following: dict[str, dict[str, Any]] = state["following"]
        decided: dict[str, float] = {
            j: t for j, t in state["decided"].items() if now - t < FORGET_AFTER
        }
        refused: dict[str, float] = {
            j: t for j, t in state.get("refused", {}).items() if now - t < FORGET_AFTER
        }
        live = set()
        for job in self.adapter.squeue(self.user):
            job_id = str(job.get("job_id", ""))
            if not job_id or (self.only and job_id not in self.only and job_id not in following):
                continue
            if job_id not in decided and job_id not in following:
                following[job_id] = {"original": job_id, "attempt": 0}
            if not is_terminal(str(job.get("job_state", ""))):
                live.add(job_id)
            report = self.observe and job_id not in refused and is_refused(job)
            if report and self._refused(job_id, following.get(job_id, {}).get("original", job_id)):
                refused[job_id] = now
        if self.drift is not None:
            if not self._restored:  # the window of the last pass (``--once`` from cron)
                self.drift.restore(state.get("drift"), self.emit)
                self._restored = True
            self.drift.refresh(self.emit)
        gone = [j for j in following if j not in live]
        ended: list[str] = []
        if gone:
            table = ended_jobs(self.adapter, gone)
            for row in table.iter_rows(named=True):
                job_id = str(row["job_id"])
                if job_id not in following or not is_final(row):
                    continue  # sacct may lag slurmctld by a moment: look again next pass
                self._act(job_id, following[job_id], row, following)
                del following[job_id]
                decided[job_id] = now
                ended.append(job_id)
            if self.drift is not None and ended:
                import polars as pl

                rows = table.filter(pl.col("job_id").is_in(ended))
                self.drift.observe(
                    rows.unique("job_id", keep="last", maintain_order=True), self.emit
                )
        kept: dict[str, Any] = {"following": following, "decided": decided, "refused": refused}
        if self.drift is not None:
            kept["drift"] = self.drift.to_state()
        write_state(self.state_path, kept)
        fields = {"user": self.user, "following": sorted(following), "ended": ended}
        self.emit("watch-pass", fields)
        return fields

    def _act(
        self,
        job_id: str,
        chain: Mapping[str, Any],
        row: Mapping[str, Any],
        following: dict[str, dict[str, Any]],
    ) -> None:
        attempt, original = int(chain["attempt"]), str(chain["original"])
        base = {"job_id": job_id, "original_job_id": original}
        if self.observe:
            self.emit("job-ended", {**base, **{k: row.get(k) for k in ENDED_FIELDS}})
            return
        if row["state"] != "timeout":
            self.emit("job-left-alone", {**base, "state": row["state"]})
            return
        partition = str(row["partition"] or "")
        old_limit = float(row["timelimit"] or 0.0)
        max_time = self._max_time(partition)
        bound = None
        if self.bound is not None:
            import polars as pl

            bound = uncapped_bound(self.bound, pl.DataFrame([dict(row)]))
        decision = decide(
            state="timeout",
            old_limit=old_limit,
            attempt=attempt,
            max_attempts=self.max_attempts,
            max_time=max_time,
            bound=bound,
            growth=self.growth,
        )
        limits = {"partition": partition, "old_limit": old_limit, "max_time": max_time}
        if decision.action == "give-up":
            self.emit(
                "job-gave-up", {**base, "attempt": attempt, **limits, "reason": decision.reason}
            )
            return
        assert decision.new_limit is not None
        try:
            script = self.adapter.run(["scontrol", "write", "batch_script", job_id, "-"])
            info = self.adapter.scontrol_show_job(job_id)
        except SlurmError:  # slurmctld purged the job (MinJobAge): its script is gone
            self.emit("job-gave-up", {**base, "attempt": attempt, **limits, "reason": "no-script"})
            return
        note = (
            f"hpcsched watch: resubmission {attempt + 1}/{self.max_attempts} of {original} "
            f"(job {job_id} hit TIMEOUT at {format_limit(old_limit)})"
        )
        new_id = str(
            self.adapter.sbatch(
                script, extra_args=resubmit_args(info, job_id, decision.new_limit, note)
            )
        )
        following[new_id] = {"original": original, "attempt": attempt + 1}
        self.emit(
            "job-resubmitted",
            {
                **base,
                "attempt": attempt + 1,
                "new_job_id": new_id,
                **limits,
                "new_limit": decision.new_limit,
                "limit_from": decision.limit_from,
            },
        )

    def _refused(self, job_id: str, original: str) -> bool:
        """Report a job its partition's MaxTime holds back (:mod:`hpcsched.advise.refused`);
        the MaxTime is asked of slurmctld now: it is the one the job waits on. False when the
        job left slurmctld meanwhile (nothing reported)."""
        try:
            info = self.adapter.scontrol_show_job(job_id)
            partition = info.get("Partition", "")
            max_time = partition_max_time(self.adapter, partition) if partition else math.inf
        except SlurmError:
            return False
        fields = refused_fields(job_id, info, max_time)
        self.emit(EVENT, {**fields, "original_job_id": original})
        return True

    def _max_time(self, partition: str) -> float:
        if partition not in self.max_times:
            self.max_times[partition] = partition_max_time(self.adapter, partition)
        return self.max_times[partition]


def is_final(row: Mapping[str, Any]) -> bool:
    """A job-table row whose (canonical) state will not change, with its partition filled in:
    slurmdbd stores a record's fields one message at a time (see ``tests/test_slurm_live.py``)."""
    return bool(row.get("partition")) and row.get("state") in TERMINAL_STATES
