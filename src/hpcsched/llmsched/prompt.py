"""The language-model scheduler's prompt and reply schema.

The prompt follows the one of Jadhav, Jin, Deelman and Balaprakash (SC'25 WORKS): the system
capacity, the time, what is free now (every resource: nodes, memory, GPUs), the running jobs
with their expected ends, how many jobs completed, the waiting jobs (the first
``max_listed`` in queue order and the count of the rest), fairness indicators (waiting jobs and
longest wait so far per user), the scratchpad of the last decisions, the objectives (fairness,
makespan, utilisation, throughput, feasibility, plus the user's own words when given) and the
feasible actions. The reply schema's ``action`` is an ``enum`` of exactly those actions
(:func:`hpcsched.llmsched.actions.menu`): the constraint module is the grammar.

The capacity and objectives sit in the system message, the same all run long, so the server
reuses its cached prefix; amounts are written ``a/b/c`` in the order of the resources, running
jobs by their ends only and only the 8 ending soonest, the fairness line for the 5 users who
waited longest: SmolLM2's tokenizer spends a token per digit, and the local model reads about
100 prompt tokens/s on two shared cores (its log: ~110), against a deadline per decision.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field

from hpcsched.core.profile import Vector
from hpcsched.llm.client import Message
from hpcsched.llmsched.actions import Menu
from hpcsched.policies.view import SchedulerView

OBJECTIVES: Final = "fairness, makespan, utilisation, throughput, feasibility"
#: Running jobs listed (those ending soonest) and users in the fairness line (those who waited
#: longest): at 50 jobs every running job and user made ~950 prompt tokens, ~10 s a decision.
LISTED_RUNNING: Final = 8
LISTED_USERS: Final = 5
#: Characters of the model's reason kept (the schema bounds it; pydantic checks it again).
REASON_CHARS: Final = 80

SYSTEM: Final = """You are the batch scheduler of an HPC cluster. Choose one action:
StartJob(job_id=X) starts job X now; BackfillJob(job_id=Y) starts job Y now without delaying \
the first waiting job; Delay waits for the next job end or arrival.
Choose only a feasible action. Reply with JSON: {{"action": "...", "reason": "a few words"}}.
Capacity {capacity} ({resources}); amounts below are in that order.
Objectives: {objectives}"""


class ActionReply(BaseModel):
    """The model's reply: one action string and an optional short reason."""

    model_config = ConfigDict(extra="forbid")

    action: str = Field(min_length=1, max_length=40)
    reason: str = Field(default="", max_length=REASON_CHARS)


def reply_schema(actions: Sequence[str]) -> dict[str, Any]:
    """The JSON schema whose ``action`` can only be one of ``actions``."""
    return {
        "type": "object",
        "properties": {
            "action": {"type": "string", "enum": list(actions)},
            "reason": {"type": "string", "maxLength": REASON_CHARS},
        },
        "required": ["action"],
        "additionalProperties": False,
    }


@dataclass(frozen=True, slots=True)
class Note:
    """One line of the scratchpad: what was done at ``time`` and why."""

    time: float
    action: str
    reason: str
    source: str  #: model, fallback or forced


def objectives(objective: str | None) -> str:
    """The objectives line: the default ones, then the user's words when given."""
    if objective:
        return f"{OBJECTIVES}. Above all, the operator asks: {objective.strip()}"
    return OBJECTIVES


def _amounts(vector: Vector) -> str:
    return "/".join(f"{value:g}" for value in vector)


def state_lines(
    view: SchedulerView,
    choices: Menu,
    completed: int,
) -> list[str]:
    """The system state, queue and fairness indicators, one fact a line; amounts are written
    ``a/b/c`` in the order of the resources (short: the local model reads ~100 prompt
    tokens/s on two shared cores, and the deadline is per decision)."""
    now = view.now
    ending = sorted(view.running, key=lambda j: (j.expected_end, j.id))
    running = ", ".join(f"{j.id} until {j.expected_end:g}" for j in ending[:LISTED_RUNNING])
    if len(ending) > LISTED_RUNNING:
        running += f" and {len(ending) - LISTED_RUNNING} more ending later"
    lines = [
        f"Time {now:g} s. Free now {_amounts(choices.free)}.",
        f"Completed jobs: {completed}. Running jobs ({len(ending)}), soonest end first: "
        + (running or "none"),
        f"Waiting jobs ({len(choices.queue)}), oldest first:",
    ]
    for job in choices.listed:
        user = f" user {job.user}" if job.user else ""
        lines.append(
            f"- job {job.id}{user} needs {_amounts(job.request)} for {job.estimate:g} s, "
            f"waited {now - job.submit:g} s"
        )
    if choices.unlisted:
        lines.append(f"- and {choices.unlisted} more not listed")
    if choices.shadow is not None and choices.head is not None:
        lines.append(f"Job {choices.head.id} does not fit; it is reserved for {choices.shadow:g}.")
    per_user: dict[str, list[float]] = defaultdict(list)
    for job in choices.queue:
        per_user[job.user or "-"].append(now - job.submit)
    longest = sorted(per_user.items(), key=lambda item: (-max(item[1]), item[0]))
    fairness = "; ".join(
        f"{user} {len(waits)} waiting, longest {max(waits):g} s"
        for user, waits in longest[:LISTED_USERS]
    )
    if len(longest) > LISTED_USERS:
        fairness += f"; {len(longest) - LISTED_USERS} more users waiting less"
    lines.append(f"Fairness, users who waited longest: {fairness}.")
    return lines


def feasible_text(choices: Menu) -> str:
    """The menu, each kind once with its jobs (``StartJob(job_id=X) for X in 4, 7; Delay``):
    about half the tokens of every action spelled out; the reply's grammar spells them."""
    parts = []
    for kind in ("StartJob", "BackfillJob"):
        ids = [str(a.job_id) for a in choices.actions if a.kind == kind]
        if len(ids) == 1:
            parts.append(f"{kind}(job_id={ids[0]})")
        elif ids:
            parts.append(f"{kind}(job_id=X) for X in {', '.join(ids)}")
    parts += [a.text for a in choices.actions if not a.starts]
    return "; ".join(parts)


def messages(
    view: SchedulerView,
    choices: Menu,
    *,
    resources: Sequence[str],
    completed: int,
    scratchpad: Sequence[Note],
    objective: str | None,
) -> list[Message]:
    """The system message (the same all run long, so the server reuses its cached prefix) and
    the user message of one decision."""
    system = SYSTEM.format(
        capacity=_amounts(view.capacity),
        resources="/".join(resources),
        objectives=objectives(objective),
    )
    lines = state_lines(view, choices, completed)
    lines.append(
        "Scratchpad: "
        + ("; ".join(f"t={n.time:g} {n.action} {n.reason}".rstrip() for n in scratchpad) or "empty")
    )
    lines.append("Feasible actions: " + feasible_text(choices))
    lines.append("Choose one feasible action.")
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": "\n".join(lines)},
    ]
