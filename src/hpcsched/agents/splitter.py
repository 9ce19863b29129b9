"""The ``split`` action carried out: a job its partition's MaxTime holds back (the
``job-refused-too-long`` event of ``hpcsched watch --observe``) resubmitted as a chain of parts
that each fit, and the stuck original cancelled.

Only for a rule with ``checkpointed: true``: the user declares that their script restarts from
its own checkpoint, so running it again in a job that starts when the one before it succeeded
(sbatch(1) ``--dependency=afterok:JOB``) continues the work. Without it a rule stays a journaled
proposal (:class:`hpcsched.agents.rules.Propose`).

Part ``k`` (1-based) is ``sbatch`` of the original's own script (``scontrol write batch_script``)
with its request (:func:`hpcsched.advise.watch.resubmit_args`), ``--time`` the piece's limit of
:func:`hpcsched.agents.split.suggest_split` (whole minutes, at most MaxTime),
``--comment=hpcsched-agent:KEY.part<k>`` and, from part 2 on, ``--dependency=afterok:`` the part
before it. The original is cancelled once every part exists. Exactly once: ``act`` first looks
for the parts by their comments (``squeue``, then ``sacct``: the resubmission's lookup,
:meth:`hpcsched.agents.actions.Resubmitter.find_tagged`) and submits only the missing ones,
chained to the part before them, so a restart after a crash anywhere in the chain completes it;
``check`` reports the action done when every part exists and the original no longer waits.
A chain longer than the site's ``max_chain_parts`` is refused, with the reason journaled.
"""

from __future__ import annotations

from typing import Any, Final

from hpcsched.agents.actions import TAG, ActionError, Resubmitter, Result
from hpcsched.agents.journal import Intent
from hpcsched.agents.split import suggest_split
from hpcsched.slurm.adapter import SlurmError

#: The site's default for ``max_chain_parts`` (:class:`hpcsched.advise.site.Site`).
DEFAULT_MAX_CHAIN_PARTS: Final = 10


def part_comments(key: str, pieces: int) -> list[str]:
    """The comment of each part, in chain order."""
    return [f"{TAG}{key}.part{k}" for k in range(1, pieces + 1)]


def chain_args(
    info: dict[str, str], source: str, piece_limit: float, comment: str, after: str | None
) -> list[str]:
    """``sbatch`` options of one part: the original request (``info`` of job ``source``), the
    piece's limit and comment, and the dependency on the part before (None: the first)."""
    from hpcsched.advise.watch import resubmit_args

    args = resubmit_args(info, source, piece_limit, comment)
    return [*args, f"--dependency=afterok:{after}"] if after is not None else args


def plan_split(
    event: dict[str, Any], max_times: dict[str, float], max_chain_parts: int
) -> dict[str, Any]:
    """The decision (no effect): ``decision`` is ``split``, ``skip`` (nothing to split or no
    numbers to split by) or ``refuse`` (more parts than the site allows), with a ``reason``."""
    plan = {**suggest_split(event, max_times), "max_chain_parts": max_chain_parts}
    plan["partition"] = str(event.get("partition") or "")
    pieces = plan.get("pieces")
    if pieces is None:
        return {**plan, "decision": "skip", "reason": plan["note"]}
    if pieces < 2:
        reason = "the job's limit fits its partition's MaxTime: nothing to split"
        return {**plan, "decision": "skip", "reason": reason}
    if pieces > max_chain_parts:
        reason = (
            f"the chain needs {pieces} parts of {plan['piece_limit'] / 60:g} min; the site "
            f"allows {max_chain_parts} (max_chain_parts): not split"
        )
        return {**plan, "decision": "refuse", "reason": reason}
    return {**plan, "decision": "split"}


class Splitter:
    """Split stuck jobs through Slurm (see the module doc); shares the resubmitter's adapter,
    partition MaxTimes and comment lookup."""

    def __init__(self, resubmitter: Resubmitter, max_chain_parts: int | None = None) -> None:
        self.resubmitter = resubmitter
        self.max_chain_parts = max_chain_parts or DEFAULT_MAX_CHAIN_PARTS

    def plan(self, event: dict[str, Any]) -> dict[str, Any]:
        """:func:`plan_split`, with the partition's MaxTime asked of the site (or slurmctld)
        when the event does not carry it."""
        partition = str(event.get("partition") or "")
        max_times = dict(self.resubmitter.max_times)
        if not event.get("max_time") and partition:
            max_times[partition] = self.resubmitter.max_time(partition)
        return plan_split(event, max_times, self.max_chain_parts)

    def _existing(self, intent: Intent) -> tuple[list[str], dict[str, str]]:
        comments = part_comments(intent.key, int(intent.plan["pieces"]))
        return comments, self.resubmitter.find_tagged(comments, intent.intent_at)

    def _state(self, job_id: str) -> tuple[str, dict[str, str]]:
        """The original's ``JobState`` and ``scontrol show job``; ``GONE`` once slurmctld
        forgot it (``MinJobAge`` after it ended)."""
        try:
            info = self.resubmitter.adapter.scontrol_show_job(job_id)
        except SlurmError:
            return "GONE", {}
        return info.get("JobState", "") or "GONE", info

    def act(self, intent: Intent) -> Result:
        adapter = self.resubmitter.adapter
        job_id, piece_limit = str(intent.plan["job_id"]), float(intent.plan["piece_limit"])
        try:
            comments, existing = self._existing(intent)
            state, info = self._state(job_id)
            if not existing and state != "PENDING":
                raise ActionError(f"job {job_id} is {state.lower()}, no longer waiting: not split")
            source = job_id
            if state == "GONE":  # the original was forgotten: a part has the same script
                source = next(iter(existing.values()))
                info = adapter.scontrol_show_job(source)
            script = adapter.run(["scontrol", "write", "batch_script", source, "-"])
            parts: list[str] = []
            for comment in comments:
                made = existing.get(comment)
                if made is None:
                    after = parts[-1] if parts else None
                    args = chain_args(info, source, piece_limit, comment, after)
                    made = str(adapter.sbatch(script, extra_args=args))
                parts.append(made)
            if state == "PENDING":
                adapter.scancel(job_id)
        except SlurmError as exc:
            raise ActionError(str(exc)) from None
        found = len(existing)
        return {"made": ",".join(parts), "parts": parts, "cancelled": job_id, "reused": found}

    def check(self, intent: Intent) -> Result | None:
        """Done when every part exists and the original no longer waits; else None (``act``
        then submits the missing parts and cancels the original)."""
        comments, existing = self._existing(intent)
        if len(existing) < len(comments):
            return None
        job_id = str(intent.plan["job_id"])
        if self._state(job_id)[0] == "PENDING":
            return None
        parts = [existing[c] for c in comments]
        return {"made": ",".join(parts), "parts": parts, "cancelled": job_id}
