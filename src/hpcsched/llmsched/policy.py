"""``LlmPolicy`` (``--policy llm``): a language model chooses each start, through the grammar.

The loop, ReAct-like within one instant (Jadhav, Jin, Deelman, Balaprakash, SC'25 WORKS): the
feasible actions are computed (:func:`hpcsched.llmsched.actions.menu`); when there is a choice
the model is shown the state (:mod:`hpcsched.llmsched.prompt`) and answers under a JSON schema
whose ``action`` enumerates exactly the feasible actions; a start is applied to the view and the
model is asked again, until it chooses ``Delay`` or nothing more can start. At most
:data:`MAX_STEPS` actions are taken per instant (the next event asks again).

- Forced: when the menu holds one action (only ``Delay``, because nothing fits; or a single
  start with nothing running) the model is not asked.
- The reply is validated again with pydantic and against the menu (the server is never
  trusted); one reply outside it is sent back once with the reason; a second failure, an
  endpoint error, or the deadline (``deadline`` seconds per decision, both calls included)
  gives the EASY fallback (:func:`hpcsched.llmsched.actions.easy_fallback`), counted by reason.
- Nothing the model returns is executed: the reply selects one of the menu's strings, and the
  reason (at most :data:`~hpcsched.llmsched.prompt.REASON_CHARS` characters) is kept only as
  text in the scratchpad of the last :data:`SCRATCHPAD` decisions.

So the policy makes no start that breaks the capacity rule, whatever the model answers: every
start it returns was on the menu of the view it was applied to.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter, deque
from typing import Any, Final

from pydantic import ValidationError

from hpcsched.llm.client import ChatClient, LLMError, Message
from hpcsched.llm.ledger import TokenLedger
from hpcsched.llm.settings import ENV_URL, LLMSettings, SettingsError, load_settings
from hpcsched.llmsched.actions import DELAY, Action, Menu, apply, easy_fallback, menu
from hpcsched.llmsched.prompt import ActionReply, Note, messages, reply_schema
from hpcsched.policies.view import Decision, SchedulerView

#: Actions taken per instant at most (model asks, fallbacks and forced starts together).
MAX_STEPS: Final = 32
#: Decisions kept in the scratchpad shown to the model.
SCRATCHPAD: Final = 5
#: Tokens a reply may take: {"action": "BackfillJob(job_id=123)", "reason": <= 80 chars}.
MAX_TOKENS: Final = 64
PURPOSE: Final = "llm-scheduler"


class LlmPolicy:
    """The language-model scheduler on a machine of ``capacity`` (one amount per resource).

    ``objective``: the user's words added to the default objectives (``"favour fairness"``).
    ``deadline``: seconds per decision before the fallback. ``max_listed``: waiting jobs shown
    and offered (the first in queue order). ``seed`` is recorded in :meth:`stats`; replies are
    as deterministic as the endpoint's temperature makes them (0 by default)."""

    name = "llm"

    def __init__(
        self,
        resources: tuple[str, ...],
        capacity: tuple[int, ...],
        *,
        settings: LLMSettings | None = None,
        objective: str | None = None,
        deadline: float = 5.0,
        max_listed: int = 12,
        seed: int = 0,
    ) -> None:
        if len(resources) != len(capacity):
            raise ValueError(f"{len(resources)} resource names for {len(capacity)} capacities")
        if deadline <= 0 or max_listed < 1:
            raise ValueError("the deadline must be > 0 s and max_listed >= 1")
        settings = settings if settings is not None else load_settings()
        if not settings.configured:
            raise SettingsError(
                f"--policy llm needs a language model: set {ENV_URL} or pass --llm-url"
            )
        self.resources = resources
        self.capacity = capacity
        self.objective = objective
        self.deadline = deadline
        self.max_listed = max_listed
        self.seed = seed
        self.ledger = TokenLedger(PURPOSE)
        self._client = ChatClient(settings, ledger=self.ledger)
        # the model's name is asked once, here (llama-cpp-python's GET /models waits behind
        # the request being served), so no decision's deadline pays for it; if the endpoint does
        # not answer now, each call asks again within its own deadline
        self._client.model_name()
        self.scratchpad: deque[Note] = deque(maxlen=SCRATCHPAD)
        self.history: list[Note] = []  #: every action taken, in order
        self._completed = 0
        self._counts: Counter[str] = Counter()
        self._fallbacks: Counter[str] = Counter()
        self._seconds: list[float] = []

    def __enter__(self) -> LlmPolicy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    # -- the decision ---------------------------------------------------------------------------

    def decide(self, view: SchedulerView) -> Decision:
        """Ask, apply, ask again, until ``Delay`` or nothing more starts (module docstring)."""
        self._completed += sum(1 for kind, _ in view.events if kind == "end")
        self._counts["instants"] += 1
        started: list[int] = []
        backfilled: set[int] = set()
        current = view
        choices = menu(current, self.max_listed)
        for _ in range(MAX_STEPS):
            if not choices.queue:
                break  # all started: Stop, with nothing to ask
            if choices.forced:
                action = choices.actions[0] if choices.actions else DELAY
                self._counts["forced"] += 1
                note = Note(view.now, action.text, "", "forced")
            else:
                note, action = self._ask(current, choices)
                self.scratchpad.append(note)  # the decisions, not what was forced
            self.history.append(note)
            if not action.starts or action.job_id is None:
                break
            started.append(action.job_id)
            if action.kind == "BackfillJob":
                backfilled.add(action.job_id)
            current = apply(current, action)
            choices = menu(current, self.max_listed)
        else:
            self._counts["capped"] += 1
        reservations = {}
        if choices.head is not None and choices.shadow is not None:
            reservations[choices.head.id] = choices.shadow
        return Decision(start=started, backfilled=backfilled, reservations=reservations)

    def _ask(self, view: SchedulerView, choices: Menu) -> tuple[Note, Action]:
        """One decision by the model, or the fallback and why."""
        self._counts["decisions"] += 1
        began = time.monotonic()
        due = began + self.deadline
        prompt = messages(
            view,
            choices,
            resources=self.resources,
            completed=self._completed,
            scratchpad=list(self.scratchpad),
            objective=self.objective,
        )
        schema = reply_schema(choices.texts)
        sent: list[Message] = prompt
        why = "deadline"
        for round_ in (1, 2):
            remaining = due - time.monotonic()
            if remaining <= 0:
                why = "deadline"
                break
            try:
                reply = self._client.chat(
                    sent,
                    schema=schema,
                    schema_name="SchedulerAction",
                    max_tokens=MAX_TOKENS,
                    purpose=PURPOSE if round_ == 1 else f"{PURPOSE} (retry)",
                    deadline=remaining,
                )
            except LLMError as exc:
                why = "deadline" if exc.kind in ("deadline", "timeout") else "error"
                break
            read = _read(reply.content, choices)
            if isinstance(read, tuple):
                action, reason = read
                self._counts["valid_first" if round_ == 1 else "valid_after_retry"] += 1
                self._counts["first_action"] += action == choices.actions[0]
                self._seconds.append(time.monotonic() - began)
                return Note(view.now, action.text, reason, "model"), action
            why = "invalid"
            if reply.call is not None:
                reply.call.outcome, reply.call.detail = "invalid", read
            if round_ == 1:
                self._counts["retried"] += 1
                sent = [
                    *prompt,
                    {"role": "assistant", "content": reply.content[:400]},
                    {
                        "role": "user",
                        "content": f"That reply was refused: {read}. Reply with JSON only, "
                        "choosing one of: " + ", ".join(choices.texts),
                    },
                ]
        self._fallbacks[why] += 1
        self.ledger.fallback(PURPOSE, why)
        action = easy_fallback(view, choices)
        self._seconds.append(time.monotonic() - began)
        return Note(view.now, action.text, f"EASY fallback ({why})", "fallback"), action

    # -- what happened --------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Counts of the run so far, seconds per decision and tokens per decision."""
        decisions = self._counts["decisions"]
        seconds = sorted(self._seconds)
        totals = self.ledger.totals()
        p95 = seconds[min(len(seconds) - 1, int(0.95 * len(seconds)))] if seconds else 0.0
        per = max(decisions, 1)
        replies = max(totals["calls_with_usage"], 1)
        return {
            "policy": self.name,
            "objective": self.objective,
            "deadline_s": self.deadline,
            "max_listed": self.max_listed,
            "seed": self.seed,
            "instants": self._counts["instants"],
            "decisions": decisions,
            "forced": self._counts["forced"],
            "valid_first": self._counts["valid_first"],
            "valid_after_retry": self._counts["valid_after_retry"],
            "retried": self._counts["retried"],
            # a position bias shows here: the menu lists starts in queue order, then Delay
            "model_chose_first_action": self._counts["first_action"],
            "fallbacks": sum(self._fallbacks.values()),
            "fallback_reasons": {k: self._fallbacks[k] for k in ("deadline", "invalid", "error")},
            "capped_instants": self._counts["capped"],
            "calls": totals["calls"],
            "seconds_per_decision": {
                "mean": round(statistics.fmean(seconds), 3) if seconds else 0.0,
                "p95": round(p95, 3),
            },
            # booked tokens over all decisions (a call cut at the deadline reports none), and
            # per reply that reported its usage
            "prompt_tokens_per_decision": round(totals["prompt_tokens"] / per, 1),
            "completion_tokens_per_decision": round(totals["completion_tokens"] / per, 1),
            "calls_with_usage": totals["calls_with_usage"],
            "prompt_tokens_per_reply": round(totals["prompt_tokens"] / replies, 1),
            "completion_tokens_per_reply": round(totals["completion_tokens"] / replies, 1),
        }


def _read(content: str, choices: Menu) -> tuple[Action, str] | str:
    """The chosen action and reason, or one line saying why the reply is refused."""
    try:
        reply = ActionReply.model_validate_json(content)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "reply"
        return f"{where}: {first['msg']}"[:300]
    action = Action.parse(reply.action)
    if action is None or action not in choices.actions:
        return f"action {reply.action[:40]!r} is not one of the feasible actions"
    return action, reply.reason.strip()
