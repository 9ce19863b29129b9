"""Runs attempts on a Slurm cluster: as job steps of one allocation, or as jobs of their own.

Parsl's lesson, "how tasks run" apart from "how resources are obtained": the attempt itself runs
exactly as under the local executor (:mod:`slurm_runner` calls the shared attempt runner inside
the step or job); only the launch differs.

``steps`` (a pilot inside ``salloc``/``sbatch``, like Parsl's SrunLauncher): each attempt is
``srun --exact --ntasks=1 --cpus-per-task=C ...``, a job step holding only what it asked for, so
steps share the allocation side by side (srun(1), "--exact"). Cancel terminates the ``srun``
process, which makes Slurm cancel the step and kill every process in it. The pool is the
allocation's. Steps beyond the allocation's free cpus wait here (the pilot never sends them).

``jobs``: each attempt is its own ``sbatch --parsable`` job; its end is seen in the result file
the runner writes, or, when the job died without one (time limit, node failure, scancel from
outside), in one batched ``squeue`` call per ``poll`` seconds. Cancel is ``scancel``. The pool is
the partition's (``sinfo``).

Every submitted attempt yields exactly one result, also when it is cancelled, cannot be launched
or ends without a result. The attempt's own files (spec, result, Slurm's log) live in
``WORKDIR/.slurm/``.
"""

from __future__ import annotations

import json
import os
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import Popen
from typing import Any, Literal

from hpcsched.campaigns.task import TaskResult
from hpcsched.core.pool import Pool
from hpcsched.runtime.executors import slurm_job
from hpcsched.runtime.executors.attempt_runner import attempt_spec, outcome
from hpcsched.runtime.executors.base import Attempt, drain
from hpcsched.slurm.adapter import SlurmAdapter, SlurmError
from hpcsched.slurm.states import is_terminal

SIDECAR = ".slurm"
TICK = 0.1  # seconds between checks of srun processes and result files
KILL_AFTER = 10.0  # seconds a terminated srun gets before it is killed
SHUTDOWN_WAIT = 30.0


@dataclass(slots=True)
class _Entry:
    attempt: Attempt
    files: Path
    process: Popen[bytes] | None = None  # steps
    job_id: str | None = None  # jobs
    cancelled_at: float | None = None
    ended_at: float | None = None  # jobs: when squeue first showed it ended without a result
    launched: bool = False
    log: list[str] = field(default_factory=list)

    @property
    def result_path(self) -> Path:
        return self.files / "result.json"


class SlurmExecutor:
    """Attempts as Slurm job steps (``mode="steps"``, inside allocation ``job_id`` or
    ``$SLURM_JOB_ID``) or as Slurm jobs (``mode="jobs"``, in ``partition``)."""

    name = "slurm"

    def __init__(
        self,
        mode: Literal["steps", "jobs"] = "steps",
        adapter: SlurmAdapter | None = None,
        partition: str | None = None,
        *,
        job_id: str | None = None,
        poll: float = 1.0,
    ) -> None:
        if mode not in ("steps", "jobs"):
            raise ValueError(f"mode {mode!r}: choose steps or jobs")
        self.mode = mode
        self.adapter = adapter or SlurmAdapter()
        self.partition = partition
        self.poll = poll
        if mode == "steps":
            self.job_id = job_id or os.environ.get("SLURM_JOB_ID")
            if not self.job_id:
                raise ValueError(
                    "the slurm executor's steps mode runs inside an allocation: start it under "
                    "salloc or sbatch (SLURM_JOB_ID is not set), or use the jobs mode"
                )
            job = self.adapter.scontrol_show_job(self.job_id)
            if job.get("JobState") != "RUNNING":
                state = job.get("JobState", "unknown")
                raise ValueError(f"Slurm job {self.job_id} is {state}, not a running allocation")
            layout = self.adapter.job_layout(self.job_id)
            self._pool = slurm_job.allocation_pool(self.job_id, layout, os.environ)
        else:
            self.job_id = None
            self._pool = slurm_job.partition_pool(
                self.adapter.partition_nodes(partition), partition
            )
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self._held: deque[str] = deque()
        self._results: queue.Queue[TaskResult] = queue.Queue()
        self._closed = False
        self._stop = threading.Event()
        self._monitor = threading.Thread(target=self._watch, name="hpcsched-slurm", daemon=True)
        self._monitor.start()

    def pool(self) -> Pool:
        """The allocation (steps) or the partition (jobs): what may ever run at once."""
        return self._pool

    def submit(self, attempt: Attempt) -> None:
        files = attempt.workdir / SIDECAR
        files.mkdir(parents=True, exist_ok=True)
        (files / "spec.json").write_text(json.dumps(attempt_spec(attempt)))
        entry = _Entry(attempt, files)
        with self._lock:
            if self._closed:
                raise RuntimeError("the executor is shut down")
            if attempt.key in self._entries:
                raise ValueError(f"attempt {attempt.key} is already running")
            self._entries[attempt.key] = entry
            if self.mode == "steps" and not self._room_for(attempt):
                self._held.append(attempt.key)
                return
            entry.launched = True
        self._launch(entry)

    def cancel(self, key: str) -> None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.cancelled_at is not None:
                return
            entry.cancelled_at = time.monotonic()
            if not entry.launched:
                self._held.remove(key)
                self._report(key, outcome(*_ids(entry), "cancelled", "cancelled before it ran"))
                return
        self._stop_entry(entry)

    def completions(self, timeout: float | None) -> list[TaskResult]:
        return drain(self._results, timeout)

    def shutdown(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            keys = list(self._entries)
        for key in keys:
            self.cancel(key)
        deadline = time.monotonic() + SHUTDOWN_WAIT
        while time.monotonic() < deadline:
            with self._lock:
                if not self._entries:
                    break
            time.sleep(TICK)
        self._stop.set()
        self._monitor.join()
        with self._lock:  # did not end in time: report them anyway, one result each
            for key, entry in list(self._entries.items()):
                if entry.process is not None and entry.process.poll() is None:
                    entry.process.kill()
                self._report(key, outcome(*_ids(entry), "cancelled", "cancelled by shutdown"))

    # -- launching -----------------------------------------------------------------------

    def _room_for(self, attempt: Attempt) -> bool:
        busy = sum(
            e.attempt.task.cpus
            for e in self._entries.values()
            if e.launched and e.attempt.key != attempt.key
        )
        return busy == 0 or busy + attempt.task.cpus <= self._pool.total.cpus

    def _launch(self, entry: _Entry) -> None:
        task, workdir = entry.attempt.task, entry.attempt.workdir
        runner = slurm_job.runner_argv(entry.files / "spec.json", entry.result_path)
        log = entry.files / "slurm.log"
        try:
            if self.mode == "steps":
                assert self.job_id is not None
                argv = slurm_job.srun_argv(task, self.job_id, workdir, runner)
                with log.open("wb") as handle:
                    process = self.adapter.popen(argv, cwd=workdir, log=handle)
                with self._lock:
                    entry.process = process
                return
            args = slurm_job.sbatch_args(task, workdir, log, self.partition)
            job_id = str(self.adapter.sbatch(slurm_job.batch_script(runner), extra_args=args))
        except (SlurmError, OSError) as exc:
            what = "srun" if self.mode == "steps" else "sbatch"
            message = f"{what} could not launch the attempt: {exc}"
            with self._lock:
                self._report(entry.attempt.key, outcome(*_ids(entry), "exit", message))
            return
        with self._lock:
            entry.job_id = job_id
            cancelled = entry.cancelled_at is not None
        if cancelled:  # cancelled while sbatch ran
            self._stop_entry(entry)

    def _stop_entry(self, entry: _Entry) -> None:
        if entry.process is not None:
            entry.process.terminate()  # srun cancels the step and kills all its processes
        elif entry.job_id is not None:
            try:
                self.adapter.scancel(entry.job_id)
            except SlurmError as exc:
                entry.log.append(str(exc))

    # -- watching ------------------------------------------------------------------------

    def _watch(self) -> None:
        last_poll = 0.0
        while not self._stop.wait(TICK):
            with self._lock:
                entries = [e for e in self._entries.values() if e.launched]
            now = time.monotonic()
            waiting: list[_Entry] = []
            for entry in entries:
                if entry.process is not None:
                    self._check_step(entry, now)
                elif entry.job_id is not None:
                    if entry.result_path.exists():
                        self._finish(entry, None)
                    else:
                        waiting.append(entry)
            if waiting and now - last_poll >= self.poll:
                last_poll = now
                self._check_jobs(waiting, now)
            self._release_held()

    def _check_step(self, entry: _Entry, now: float) -> None:
        assert entry.process is not None
        code = entry.process.poll()
        if code is None:
            if entry.cancelled_at is not None and now - entry.cancelled_at > KILL_AFTER:
                entry.process.kill()
            return
        if entry.result_path.exists() or entry.cancelled_at is not None:
            self._finish(entry, None)
            return
        last = _last_line(entry.files / "slurm.log")
        message = f"srun exit status {code} without a result" + (f": {last}" if last else "")
        self._finish(entry, outcome(*_ids(entry), "lost", message))

    def _check_jobs(self, waiting: list[_Entry], now: float) -> None:
        try:
            states = self.adapter.job_states([e.job_id for e in waiting if e.job_id])
        except SlurmError:
            return  # slurmctld busy: ask again at the next poll
        for entry in waiting:
            assert entry.job_id is not None
            state = states.get(entry.job_id, "")
            if state and not is_terminal(state):
                continue
            if entry.ended_at is None and entry.cancelled_at is None:
                entry.ended_at = now  # one more poll: the result file may still be on its way
                continue
            if entry.result_path.exists():
                self._finish(entry, None)
                continue
            exit_code = ""
            try:
                job = self.adapter.scontrol_show_job(entry.job_id)
                state, exit_code = job.get("JobState", state), job.get("ExitCode", "")
            except SlurmError:
                pass  # slurmctld forgot it already (MinJobAge)
            what = f"Slurm job {entry.job_id}"
            task, number = entry.attempt.task, entry.attempt.number
            self._finish(
                entry, slurm_job.ended_without_result(task, number, what, state, exit_code)
            )

    def _release_held(self) -> None:
        starting: list[_Entry] = []
        with self._lock:
            while self._held and not self._closed:
                entry = self._entries[self._held[0]]
                if not self._room_for(entry.attempt):
                    break
                self._held.popleft()
                entry.launched = True
                starting.append(entry)
        for entry in starting:
            self._launch(entry)

    def _finish(self, entry: _Entry, made: dict[str, Any] | None) -> None:
        result = made if made is not None else _read_result(entry)
        if entry.cancelled_at is not None and result.get("reason") != "cancelled":
            start = result.get("start")
            result = outcome(*_ids(entry), "cancelled", "cancelled while it ran", start)
        with self._lock:
            self._report(entry.attempt.key, result)

    def _report(self, key: str, result: dict[str, Any]) -> None:
        """Under the lock: the one result of ``key``."""
        if self._entries.pop(key, None) is not None:
            self._results.put(TaskResult.model_validate(result))


def _ids(entry: _Entry) -> tuple[str, int]:
    return entry.attempt.task.id, entry.attempt.number


def _read_result(entry: _Entry) -> dict[str, Any]:
    try:
        result: dict[str, Any] = json.loads(entry.result_path.read_text())
    except (OSError, ValueError) as exc:
        return outcome(*_ids(entry), "lost", f"no readable result: {exc}")
    return result


def _last_line(path: Path) -> str:
    try:
        lines = [line.strip() for line in path.read_text(errors="replace").splitlines()]
    except OSError:
        return ""
    useful = [line for line in lines if line]
    return next((line for line in reversed(useful) if "error" in line.lower()), "") or (
        useful[-1] if useful else ""
    )
