"""Events as JSON lines: what the runtime and ``hpcsched watch`` did, for a site's own bus.

One event is one JSON object on one line (JSON Lines, https://jsonlines.org), written to a file
(appended, flushed after every line, so ``tail -f`` and a log shipper see it at once) or to
stdout (``-``). Every event has the same envelope::

    {"time": "2026-11-21T02:36:10.123456+00:00",   # ISO 8601, UTC, when it was written
     "source": "runtime" | "watch",                  # which command emitted it
     "event": "task-started",                        # one of the names below
     "event_id": "5f0c3a9e1b7d4c21-7",              # unique: this sink's random id + a count
     ...the event's own fields, always all present (null when unknown)}

The same events go to the bus with ``nats://HOST:PORT/SUBJECT`` (:mod:`.events_bus`), at least
once: a consumer that sees one ``event_id`` twice drops the second.

Runtime events (``hpcsched run --events``); each also has ``run`` (the run directory) and
``t`` (seconds since this pilot started). They mirror the run journal (``runtime/journal.py``),
which stays the record of truth:

==================  ============================================================================
run-started         workflow, policy, executor, pool, host, user (a fresh run directory)
run-resumed         the same fields: the run directory already had a journal (restart)
task-submitted      task, cpus, gpus, mem (bytes), nodes, priority, retries
task-started        task, attempt, backfilled, workdir
task-committing     task, attempt (outputs are being moved into the work directory)
task-finished       task, attempt, ok, exit_code, reason, message, elapsed (s), host: one attempt
                    ended; ``ok`` false means that attempt failed (a retry or task-failed follows)
task-retried        task, attempt (the one that failed), delay (s before the next attempt)
task-failed         task, reason, message, root (the task whose failure caused this one)
task-cancelled      task, message
task-interrupted    task, attempt (found unfinished after a crash; it is run again)
task-invalidated    task, reason: it succeeded, but its command or an output changed since, or
                    it depends on such a task; a resumed run does it again
task-cleaned        task, file: an intermediate output of the task was deleted from the work
                    directory, every job that reads it having succeeded (``run --cleanup``)
run-finished        tasks, succeeded, failed, blocked, cancelled, retried, replayed, wall_seconds
==================  ============================================================================

Watch events (``hpcsched watch --events``, :mod:`hpcsched.advise.watch`); job ids are strings:

==================  ============================================================================
watch-pass          user, following (job ids still followed), ended (job ids decided this pass)
job-resubmitted     job_id, original_job_id, attempt (1 = first resubmission), new_job_id,
                    partition, old_limit, max_time, new_limit (s), limit_from ("bound"|"growth")
job-gave-up         job_id, original_job_id, attempt, partition, old_limit, max_time, reason
                    ("limit-reached" | "attempts-exhausted" | "no-script": Slurm no longer has it)
job-left-alone      job_id, original_job_id, state (canonical, e.g. completed): not a timeout
==================  ============================================================================

Observe events (``hpcsched watch --observe``; ``--model DIR`` adds the last three,
:mod:`hpcsched.advise.drift`):

==================  ============================================================================
job-ended           job_id, original_job_id and the job-table columns ``ENDED_FIELDS`` of
                    :mod:`hpcsched.advise.watch` (user, state, runtime, timelimit, ...)
prediction-drift    model (folder), model_created, model_key (the refit's, else null), measure
                    ("coverage-shortfall"), error (target coverage minus observed coverage over
                    the window: at least threshold means drift), threshold, coverage (target),
                    observed_coverage, misses (jobs past the bound), jobs, window, first_job_id,
                    last_job_id, median_log_ratio (log((1+point)/(1+runtime)), exact run times;
                    below 0: the model predicts too short)
model-reloaded      model, model_created, model_key, previous_created: model.json changed, the
                    window starts empty
model-unreadable    model, reason: model.json changed but the folder cannot be read; the model
                    in use stays, and is read again when model.json changes again
==================  ============================================================================

Observers never decide (``shared/STYLE.md`` lesson 11): a sink only writes; a sink that cannot
write (a closed pipe) is reported once as a warning and then stays silent, never stopping a run.
"""

from __future__ import annotations

import itertools
import json
import sys
import uuid
import warnings
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Final, Protocol

#: Journal kind -> (event name, the fields taken from the journal data).
RUNTIME_EVENTS: Final[dict[str, tuple[str, tuple[str, ...]]]] = {
    "run-started": (
        "run-started",
        ("workflow", "policy", "executor", "pool", "host", "user"),
    ),
    "submitted": ("task-submitted", ("cpus", "gpus", "mem", "nodes", "priority", "retries")),
    "started": ("task-started", ("backfilled", "workdir")),
    "committing": ("task-committing", ()),
    "finished": ("task-finished", ("ok", "exit_code", "reason", "message", "elapsed", "host")),
    "retry": ("task-retried", ("delay",)),
    "failed": ("task-failed", ("reason", "message", "root")),
    "cancelled": ("task-cancelled", ("message",)),
    "interrupted": ("task-interrupted", ()),
    "invalidated": ("task-invalidated", ("reason",)),
    "cleaned": ("task-cleaned", ("file",)),
    "run-ended": (
        "run-finished",
        (
            "tasks",
            "succeeded",
            "failed",
            "blocked",
            "cancelled",
            "retried",
            "replayed",
            "wall_seconds",
        ),
    ),
}
#: Events about one task carry ``task``; these also carry ``attempt``.
WITH_ATTEMPT: Final = frozenset({"started", "committing", "finished", "retry", "interrupted"})

#: Watch event -> its fields (besides the envelope).
WATCH_EVENTS: Final[dict[str, tuple[str, ...]]] = {
    "watch-pass": ("user", "following", "ended"),
    "job-resubmitted": (
        "job_id",
        "original_job_id",
        "attempt",
        "new_job_id",
        "partition",
        "old_limit",
        "max_time",
        "new_limit",
        "limit_from",
    ),
    "job-gave-up": (
        "job_id",
        "original_job_id",
        "attempt",
        "partition",
        "old_limit",
        "max_time",
        "reason",
    ),
    "job-left-alone": ("job_id", "original_job_id", "state"),
}

#: Drift events of ``watch --observe --model`` -> their fields (besides the envelope).
DRIFT_EVENTS: Final[dict[str, tuple[str, ...]]] = {
    "prediction-drift": (
        "model",
        "model_created",
        "model_key",
        "measure",
        "error",
        "threshold",
        "coverage",
        "observed_coverage",
        "misses",
        "jobs",
        "window",
        "first_job_id",
        "last_job_id",
        "median_log_ratio",
    ),
    "model-reloaded": ("model", "model_created", "model_key", "previous_created"),
    "model-unreadable": ("model", "reason"),
}


class EventIds:
    """``event_id``s: a random 64-bit prefix per sink (so two runs never share one) and a
    count, so the id of an event is fixed once made and a redelivery carries the same one."""

    def __init__(self) -> None:
        self.prefix = uuid.uuid4().hex[:16]
        self._count = itertools.count(1)

    def next(self) -> str:
        return f"{self.prefix}-{next(self._count)}"


def envelope(source: str, event: str, event_id: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """One event as every sink writes it: the envelope, then the event's own fields."""
    return {
        "time": datetime.now(UTC).isoformat(),
        "source": source,
        "event": event,
        "event_id": event_id,
        **fields,
    }


def to_json(record: Mapping[str, Any]) -> str:
    return json.dumps(record, separators=(",", ":"), default=str)


class EventSink:
    """Append events as JSON lines to a file, or to stdout when ``target`` is ``-``."""

    undelivered = 0  # a file sink reports a failed write at once (a warning), not at the end

    def __init__(self, target: str | Path, *, source: str) -> None:
        self.source = source
        self.ids = EventIds()
        self.target = str(target)
        self._owned = self.target != "-"
        self._stream: IO[str] | None
        if self._owned:  # an append log followed live (flushed per line): no temporary file
            self._stream = open(target, "a", encoding="utf-8")  # noqa: SIM115 -- closed in close()
        else:
            self._stream = sys.stdout
        self.count = 0

    def emit(self, event: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Write one event; returns the object written (for logs and tests)."""
        record = envelope(self.source, event, self.ids.next(), fields)
        if self._stream is None:
            return record
        try:
            self._stream.write(to_json(record) + "\n")
            self._stream.flush()
            self.count += 1
        except (OSError, ValueError) as exc:  # ValueError: the stream was closed
            warnings.warn(
                f"events to {self.target} stopped after {self.count}: {exc}", stacklevel=2
            )
            self._stream = None
        return record

    def close(self) -> None:
        if self._owned and self._stream is not None:
            self._stream.close()
        self._stream = None

    def __enter__(self) -> EventSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def runtime_fields(
    kind: str, *, run: str, t: float, task_id: str | None, attempt: int | None, data: Any
) -> tuple[str, dict[str, Any]]:
    """The event name and fields for one journal record (``resumed`` in data: run-resumed)."""
    name, keys = RUNTIME_EVENTS[kind]
    values: Mapping[str, Any] = data if isinstance(data, Mapping) else {}
    if kind == "run-started" and values.get("resumed"):
        name = "run-resumed"
    fields: dict[str, Any] = {"run": run, "t": round(t, 6)}
    if task_id is not None:
        fields["task"] = task_id
    if kind in WITH_ATTEMPT:
        fields["attempt"] = attempt
    if kind == "finished" and "elapsed" not in values:
        start, end = values.get("start"), values.get("end")
        values = {**values, "elapsed": None if start is None or end is None else end - start}
    fields.update({key: values.get(key) for key in keys})
    return name, fields


class Sink(Protocol):
    """What an observer writes to: :class:`EventSink`, or the bus's ``BusEventSink``."""

    def emit(self, event: str, fields: Mapping[str, Any]) -> dict[str, Any]: ...


class RunEvents:
    """A pilot observer that writes every journal record as a runtime event.

    Called with keyword arguments only; it returns nothing and cannot change the run.
    """

    def __init__(self, sink: Sink) -> None:
        self.sink = sink

    def __call__(
        self,
        *,
        kind: str,
        run: str,
        t: float,
        task_id: str | None = None,
        attempt: int | None = None,
        data: Any = None,
        **kwargs: Any,
    ) -> None:
        if kind not in RUNTIME_EVENTS:
            return  # a journal kind added later: the journal still has it
        name, fields = runtime_fields(
            kind, run=run, t=t, task_id=task_id, attempt=attempt, data=data
        )
        self.sink.emit(name, fields)
