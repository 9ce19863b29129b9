"""The language-model scheduler's actions at one instant: the grammar, and the EASY fallback.

The four actions are those of Jadhav, Jin, Deelman and Balaprakash, "Evaluating the Efficacy of
LLM-Based Reasoning for Multiobjective HPC Job Scheduling" (SC'25 WORKS): ``StartJob(job_id=X)``,
``BackfillJob(job_id=Y)``, ``Delay`` and ``Stop``. Their paper checks the model's choice after
the fact (a constraint module that rejects an infeasible start); here the check comes first:
:func:`menu` lists exactly the actions feasible at this instant, and the reply's JSON schema
enumerates those strings and nothing else, so an infeasible start cannot be expressed.

What is feasible at ``view.now``:

- free = capacity minus the request of every running job whose expected end is after ``now``
  (a job expected to end at ``now`` counts as free: pyss's early release, which the scheduler
  state applies too, :mod:`hpcsched.scheduler.state`; EASY's ``_free_now`` is the same rule);
- waiting jobs in arrival order, ``(submit, id)``; the head is the first;
- ``StartJob(job_id=X)`` for every listed waiting X whose request fits in free now (a non-head
  start may delay the head: that is the model's choice to make, as in the paper);
- ``BackfillJob(job_id=Y)``, only while the head does not fit: every listed non-head Y that fits
  now and does not delay the head's EASY reservation (Lifka 1995, as
  :mod:`hpcsched.policies.backfilling` computes it: the head is reserved at its shadow time on
  the availability profile, and Y must fit on the profile for its whole estimate from ``now``;
  i.e. it ends by the shadow time or fits in the extra resources left beside the head);
- ``Delay`` (start nothing more until the next event), only while something runs, so the machine
  can never sit idle with a job that fits;
- ``Stop`` (end this round), only when nothing waits; the scheduler state does not call a
  policy with an empty queue, so the model is never asked to choose it.

Only the first ``max_listed`` waiting jobs in queue order are listed (the local model's context
is small: :data:`hpcsched.llm.server.CONTEXT` tokens); actions are offered for those alone and
the prompt gives the count of the rest.

The fallback, used when the model is late, errs or answers twice outside the grammar, is the
first start the real EASY policy (``PRESETS["easy"]``) makes on the current view that is on the
menu, else the menu's first start when ``Delay`` is not offered, else ``Delay``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Final, Literal

from hpcsched.core.profile import Profile, Vector, fits, minus
from hpcsched.policies.presets import PRESETS
from hpcsched.policies.view import RunningJob, SchedulerView, WaitingJob

ActionKind = Literal["StartJob", "BackfillJob", "Delay", "Stop"]
#: The kinds that start a job.
STARTS: Final = ("StartJob", "BackfillJob")
_PATTERN: Final = re.compile(r"^(StartJob|BackfillJob)\(job_id=(\d+)\)$|^(Delay|Stop)$")


@dataclass(frozen=True, slots=True)
class Action:
    """One action; :attr:`text` is its spelling in the prompt and in the reply's enum."""

    kind: ActionKind
    job_id: int | None = None

    @property
    def text(self) -> str:
        return self.kind if self.job_id is None else f"{self.kind}(job_id={self.job_id})"

    @property
    def starts(self) -> bool:
        return self.kind in STARTS

    @classmethod
    def parse(cls, text: str) -> Action | None:
        """The action ``text`` spells (surrounding blanks ignored), or None."""
        found = _PATTERN.match(text.strip())
        if found is None:
            return None
        if found.group(3):
            return cls(found.group(3))  # type: ignore[arg-type]
        return cls(found.group(1), int(found.group(2)))  # type: ignore[arg-type]


DELAY: Final = Action("Delay")
STOP: Final = Action("Stop")


@dataclass(frozen=True)
class Menu:
    """The feasible actions at one instant and the facts they were computed from."""

    now: float
    free: Vector
    queue: list[WaitingJob]  #: every waiting job, arrival order
    listed: list[WaitingJob]  #: the first ``max_listed`` of them, the only ones offered
    actions: list[Action]
    head: WaitingJob | None = None
    shadow: float | None = None  #: the head's EASY reservation when it does not fit now
    jobs: dict[int, WaitingJob] = field(default_factory=dict)

    @property
    def texts(self) -> list[str]:
        return [a.text for a in self.actions]

    @property
    def unlisted(self) -> int:
        return len(self.queue) - len(self.listed)

    @property
    def forced(self) -> bool:
        """One action only: there is nothing to ask the model."""
        return len(self.actions) <= 1


def arrival_order(view: SchedulerView) -> list[WaitingJob]:
    return sorted(view.waiting, key=lambda job: (job.submit, job.id))


def free_now(view: SchedulerView) -> Vector:
    """Capacity minus every running job not expected to have ended by ``now``."""
    free = view.capacity
    for job in view.running:
        if job.expected_end > view.now:
            free = minus(free, job.request)
    return free


def profile(view: SchedulerView) -> Profile:
    """The availability profile of the running jobs (EASY's, release at the expected end)."""
    running = [(r.request, r.expected_end) for r in view.running]
    return Profile.from_running(view.now, view.capacity, running)


def menu(view: SchedulerView, max_listed: int) -> Menu:
    """The feasible actions at ``view.now`` (see the module docstring), in a fixed order:
    starts in queue order, then backfills in queue order, then ``Delay`` or ``Stop``."""
    queue = arrival_order(view)
    listed = queue[: max(max_listed, 1)]
    jobs = {job.id: job for job in listed}
    free = free_now(view)
    if not queue:
        return Menu(view.now, free, queue, listed, [STOP], jobs=jobs)
    actions = [Action("StartJob", job.id) for job in listed if fits(job.request, free)]
    head = queue[0]
    shadow = None
    if not fits(head.request, free):
        plan = profile(view)
        shadow = plan.earliest_start(head.request, head.estimate, view.now)
        plan.reserve(shadow, head.estimate, head.request)
        for job in listed[1:]:
            if fits(job.request, free) and (
                plan.earliest_start(job.request, job.estimate, view.now) == view.now
            ):
                actions.append(Action("BackfillJob", job.id))
    if view.running:
        actions.append(DELAY)
    return Menu(view.now, free, queue, listed, actions, head, shadow, jobs)


def apply(view: SchedulerView, action: Action) -> SchedulerView:
    """The view after ``action`` (a start moves the job from waiting to running at ``now``)."""
    if not action.starts:
        return view
    job = next(j for j in view.waiting if j.id == action.job_id)
    end = view.now + job.estimate
    running: Sequence[RunningJob] = [
        *view.running,
        RunningJob(job.id, job.request, view.now, end, end),
    ]
    waiting = [j for j in view.waiting if j.id != job.id]
    return replace(view, waiting=waiting, running=running, presorted=False, smallest=None)


def easy_fallback(view: SchedulerView, choices: Menu) -> Action:
    """EASY's first start now that is on the menu, else a start if ``Delay`` is not offered,
    else ``Delay`` (the real policy decides: :data:`hpcsched.policies.presets.PRESETS`)."""
    decision = PRESETS["easy"].decide(replace(view, memory=None, presorted=False, smallest=None))
    offered = {a.job_id: a for a in choices.actions if a.starts}
    for job_id in decision.start:
        if job_id in offered:
            backfill = Action("BackfillJob", job_id)
            return backfill if backfill in choices.actions else offered[job_id]
    if DELAY in choices.actions:
        return DELAY
    return choices.actions[0] if choices.actions else DELAY
