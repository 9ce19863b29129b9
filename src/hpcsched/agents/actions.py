"""What an agent's actions do in the world, each with a ``check`` for after a crash.

An action with an outside effect has two halves: ``act(intent)`` does it and returns the result;
``check(intent)`` looks for its effect (None: not there, so a restart does it). The key travels
with the effect so that it can be found again:

- ``resubmit``: ``sbatch`` of the ended job's own script (``scontrol write batch_script``) and
  request with the new ``--time``, ``--comment=hpcsched-agent:KEY``; checked in ``squeue``, which
  lists a job until ``MinJobAge`` (300 s by default) after it ended, then in ``sacct``, which keeps
  the comment of an ended job where slurm.conf has ``AccountingStoreFlags=job_comment``
  (slurm.conf(5): "Include the job's comment field in the job complete message sent to the
  Accounting Storage database"); a site without it is told once that the check is squeue's only;
- ``split`` (``checkpointed: true``): a chain of jobs tagged ``--comment=hpcsched-agent:KEY.partK``,
  looked up the same way (:meth:`Resubmitter.find_tagged`; :mod:`hpcsched.agents.splitter`);
- ``command``: the rule's shell command, ``$HPCSCHED_KEY`` in its environment, checked by the
  rule's own ``check`` command (exit 0: done); without one a restart runs it again (at least once);
- ``ledger``: one ``KEY<TAB>TIME`` line appended to a file (a single ``write`` with
  ``O_APPEND``: a kill leaves the line whole or absent), checked by reading the file.

All Slurm commands go through :class:`hpcsched.slurm.SlurmAdapter` (``shared/STYLE.md`` lesson 7).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import math
import os
import signal
import subprocess
import time
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from hpcsched.agents.journal import Intent
from hpcsched.agents.rules import Command, Ledger, Resubmit
from hpcsched.slurm.adapter import DELIMITER, SlurmAdapter

TAG: Final = "hpcsched-agent:"

#: How far before an intent the accounting search starts: the agent's and slurmctld's clocks
#: may differ (sacct selects by the job's times, written by slurmctld).
CLOCK_SLACK: Final = 3600.0

Result = dict[str, Any]


def _die_with_parent() -> None:
    """In the child: SIGKILL when the agent dies (Linux ``PR_SET_PDEATHSIG``), so that no
    command of a killed agent is still running when its successor checks for its effect."""
    with contextlib.suppress(OSError, AttributeError):  # not Linux: a late command may race
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


def command_env(intent: Intent) -> dict[str, str]:
    return {
        **os.environ,
        "HPCSCHED_KEY": intent.key,
        "HPCSCHED_EVENT_ID": intent.event_id,
        "HPCSCHED_RULE": intent.rule,
        "HPCSCHED_EVENT": json.dumps(intent.event, default=str),
    }


def run_command(rule: Command, intent: Intent) -> Result:
    """Run the rule's command; raises ActionError when it fails."""
    done = _shell(rule.run, intent, rule.timeout)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        raise ActionError(f"command failed: {last[:200]}")
    return {"exit": 0, "stdout": done.stdout[-200:]}


def check_command(rule: Command, intent: Intent) -> Result | None:
    if rule.check is None:
        return None
    done = _shell(rule.check, intent, rule.timeout)
    return {"checked": rule.check} if done.returncode == 0 else None


def _shell(text: str, intent: Intent, timeout: float) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["/bin/sh", "-c", text],
            env=command_env(intent),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            preexec_fn=_die_with_parent,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ActionError(f"command did not end within {timeout:g} s") from None


class ActionError(RuntimeError):
    """An action that could not be carried out; one line, journaled as its result."""


def append_ledger(rule: Ledger, intent: Intent) -> Result:
    line = f"{intent.key}\t{time.time():.6f}\n".encode()
    fd = os.open(rule.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)
    return {"path": str(rule.path)}


def check_ledger(rule: Ledger, intent: Intent) -> Result | None:
    try:
        with rule.path.open(encoding="utf-8") as lines:
            found = any(line.split("\t", 1)[0] == intent.key for line in lines)
    except FileNotFoundError:
        return None
    return {"path": str(rule.path)} if found else None


class Resubmitter:
    """Resubmit timed-out jobs through Slurm (see the module doc)."""

    def __init__(
        self,
        adapter: SlurmAdapter,
        max_times: dict[str, float] | None = None,
        say: Callable[[str], None] | None = None,
    ) -> None:
        self.adapter = adapter
        self.max_times = dict(max_times or {})
        self.say = say or (lambda _line: None)
        self._comments_kept: bool | None = None  # asked of slurmctld when first needed

    def max_time(self, partition: str) -> float:
        from hpcsched.advise.watch import partition_max_time

        if partition not in self.max_times:
            self.max_times[partition] = partition_max_time(self.adapter, partition)
        return self.max_times[partition]

    def plan(self, rule: Resubmit, event: dict[str, Any], attempt: int) -> dict[str, Any]:
        """The decision (no effect yet): the rule's factor, capped at the partition's MaxTime,
        through the same policy as ``hpcsched watch`` (:func:`hpcsched.advise.watch.decide`)."""
        from hpcsched.advise.watch import decide

        partition = str(event.get("partition") or "")
        old_limit = float(event.get("timelimit") or 0.0)
        max_time = self.max_time(partition) if partition else math.inf
        decision = decide(
            state="timeout",
            old_limit=old_limit,
            attempt=attempt,
            max_attempts=rule.max_attempts,
            max_time=max_time,
            growth=rule.limit_factor,
        )
        return {
            "job_id": str(event.get("job_id", "")),
            "partition": partition,
            "old_limit": old_limit,
            "max_time": max_time if math.isfinite(max_time) else None,
            "attempt": attempt + 1,
            "decision": decision.action,
            "new_limit": decision.new_limit,
            "reason": decision.reason,
        }

    def act(self, intent: Intent) -> Result:
        from hpcsched.advise.watch import resubmit_args
        from hpcsched.slurm.adapter import SlurmError

        job_id, new_limit = intent.plan["job_id"], float(intent.plan["new_limit"])
        try:
            self.comments_kept()  # before the first effect: a site without them is told now
            script = self.adapter.run(["scontrol", "write", "batch_script", job_id, "-"])
            info = self.adapter.scontrol_show_job(job_id)
            args = resubmit_args(info, job_id, new_limit, TAG + intent.key)
            new_id = self.adapter.sbatch(script, extra_args=args)
        except SlurmError as exc:
            raise ActionError(str(exc)) from None
        return {"made": str(new_id), "new_limit": new_limit}

    def check(self, intent: Intent) -> Result | None:
        """The job a cut-short resubmission made, found by its comment in ``squeue``, else (a
        job that ended more than ``MinJobAge`` ago) in ``sacct``, where the site keeps it."""
        wanted = TAG + intent.key
        for job in self.adapter.squeue():
            if str(job.get("comment") or "") == wanted:
                return {"made": str(job["job_id"]), "new_limit": intent.plan["new_limit"]}
        if not self.comments_kept():
            return None
        made = self._in_accounting({wanted}, intent.intent_at).get(wanted)
        if made is None:
            return None
        return {"made": made, "new_limit": intent.plan["new_limit"], "found_in": "sacct"}

    def find_tagged(self, wanted: Collection[str], since: float) -> dict[str, str]:
        """Comment -> id of the jobs carrying one of the ``wanted`` comments: in ``squeue``,
        then the ones not there in ``sacct`` (where the site keeps comments), as :meth:`check`
        looks for one resubmission."""
        found: dict[str, str] = {}
        for job in self.adapter.squeue():
            comment = str(job.get("comment") or "")
            if comment in wanted:
                found.setdefault(comment, str(job["job_id"]))
        missing = set(wanted) - set(found)
        if missing and self.comments_kept():
            found.update(self._in_accounting(missing, since))
        return found

    def comments_kept(self) -> bool:
        """Whether ``sacct`` has the comments of ended jobs (``scontrol show config``:
        accounting through slurmdbd and ``AccountingStoreFlags`` with ``job_comment``); when not,
        says so once."""
        if self._comments_kept is None:
            config = {}
            for line in self.adapter.run(["scontrol", "show", "config"]).splitlines():
                name, sep, value = line.partition("=")
                if sep:
                    config[name.strip()] = value.strip()
            flags = config.get("AccountingStoreFlags", "").lower().split(",")
            storage = config.get("AccountingStorageType", "")
            self._comments_kept = "job_comment" in flags and storage.endswith("slurmdbd")
            if not self._comments_kept:
                self.say(
                    "this Slurm does not keep job comments in accounting (slurm.conf lacks "
                    "AccountingStoreFlags=job_comment): a resubmission is looked for in squeue "
                    "only, which forgets a job MinJobAge after it ended, so a restart later than "
                    "that may resubmit again; add the line and run 'scontrol reconfigure'"
                )
        return self._comments_kept

    def _in_accounting(self, wanted: Collection[str], since: float) -> dict[str, str]:
        """Comment -> id of the jobs ``sacct`` lists with a comment in ``wanted``, submitted
        after ``since`` (less :data:`CLOCK_SLACK`); sacct cannot select by comment, so the rows
        are scanned."""
        start = datetime.fromtimestamp(since - CLOCK_SLACK, UTC)
        text = self.adapter.sacct(since=start, fields=("JobIDRaw", "Comment"), duplicates=False)
        found: dict[str, str] = {}
        for line in text.splitlines()[1:]:
            job_id, _, comment = line.partition(DELIMITER)
            if comment.strip() in wanted and "." not in job_id:
                found.setdefault(comment.strip(), job_id)
        return found


Act = Callable[[Intent], Result]
Check = Callable[[Intent], "Result | None"]


def ledger_keys(path: Path) -> list[str]:
    """The keys a ledger file holds, in order (for tests and the benchmark)."""
    if not path.exists():
        return []
    return [line.split("\t", 1)[0] for line in path.read_text().splitlines() if line]
