"""Who decides which of an event's matching rules act: the rules (each acts), or a language
model that picks one of their actions or none (``decider: {kind: llm, deadline: 5}``).

The model is asked through :func:`hpcsched.llm.structured.ask` with a JSON schema whose
``enum`` lists exactly the matching rules' names and ``none``, and the reply is checked against
that list again (a server may not enforce the schema), so it can only choose an action a rule
already allows; the rule's own limits (attempts, MaxTime, a refit threshold) still apply after
it. Nothing it says is executed: its choice selects a rule, its reason is journaled as text.
Every call has a deadline (the client's hard deadline per call; ``ask`` retries an invalid reply
once, so at most two calls); on a timeout, an error, an invalid reply or no endpoint the rules'
decision stands, and the fallback and its kind are journaled and counted (``agents log``).
``flag-user`` rules are not offered: they count over-requests (bookkeeping the flag needs on
every job), so they run whatever the model says.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field

from hpcsched.llm.client import ChatClient
from hpcsched.llm.structured import ask

NONE: Final = "none"
#: Characters of the event shown to the model (a job name or path may be long).
EVENT_CHARS: Final = 1500
MAX_TOKENS: Final = 160

SYSTEM: Final = """You decide for an HPC cluster's automation agent. An event from the \
scheduler matched some rules; each rule names an action the site allows. Choose the one action \
that fits the event best, or "none" when acting would not help. Reply with JSON only: \
{"choice": one of the names given, "reason": one short sentence}."""


class Choice(BaseModel):
    """The model's reply: a rule name (or ``none``) and one sentence why."""

    model_config = ConfigDict(extra="forbid")
    choice: str
    reason: str = Field(default="", max_length=400)


@dataclass(frozen=True)
class Decision:
    """What was decided for one event: the rules that act (``chosen``), by whom (``llm`` or
    ``rules``), the model's choice and reason, and the fallback's kind when the model's reply
    was not used."""

    chosen: tuple[str, ...]
    by: str
    choice: str | None = None
    reason: str = ""
    fallback: str | None = None

    def plan(self) -> dict[str, Any]:
        """The fields journaled with each action the decision covers."""
        plan: dict[str, Any] = {"decided_by": self.by}
        if self.by == "llm":
            plan["llm_choice"], plan["llm_reason"] = self.choice, self.reason
        if self.fallback is not None:
            plan["llm_fallback"], plan["llm_fallback_detail"] = self.fallback, self.reason
        return plan

    def as_dict(self) -> dict[str, Any]:
        return {
            "chosen": list(self.chosen),
            "by": self.by,
            "choice": self.choice,
            "reason": self.reason,
            "fallback": self.fallback,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Decision:
        return cls(
            tuple(data.get("chosen") or ()),
            str(data.get("by") or "rules"),
            data.get("choice"),
            str(data.get("reason") or ""),
            data.get("fallback"),
        )


def describe(rule: Any) -> str:
    """One line per offered rule: its name, action and settings (the rule as written)."""
    fields = rule.model_dump(exclude={"name", "when", "action"}, exclude_none=True, mode="json")
    settings = ", ".join(f"{k}={v}" for k, v in fields.items())
    return f"- {rule.name}: {rule.action}" + (f" ({settings})" if settings else "")


def fallback_kind(reason: str) -> str:
    """``timeout``, ``deadline``, ``connect``, ``http``, ``invalid``...: the count's key."""
    if reason.startswith("reply did not validate"):
        return "invalid"
    return reason.split(":", 1)[0].strip() or "error"


class LLMDecider:
    """Ask the model to choose among the offered rules (see the module doc)."""

    def __init__(self, client: ChatClient | None, deadline: float, why_none: str = "") -> None:
        self.client, self.deadline = client, deadline
        self.why_none = why_none or "no language model configured (HPCSCHED_LLM_URL)"

    def decide(self, event: dict[str, Any], offered: Sequence[Any]) -> Decision:
        names = [rule.name for rule in offered]
        every = tuple(names)  # the rules' decision: each matching rule acts
        if self.client is None:
            return Decision(every, "rules", reason=self.why_none, fallback="unconfigured")
        choices = [*names, NONE]
        schema = {
            "type": "object",
            "properties": {
                "choice": {"type": "string", "enum": choices},
                "reason": {"type": "string", "maxLength": 400},
            },
            "required": ["choice", "reason"],
            "additionalProperties": False,
        }
        shown = json.dumps(event, default=str, sort_keys=True)[:EVENT_CHARS]
        user = (
            f"Event:\n{shown}\n\nActions the rules allow:\n"
            + "\n".join(describe(rule) for rule in offered)
            + f"\n- {NONE}: do nothing\n\nChoose one of: {', '.join(choices)}."
        )

        def allowed(reply: Choice) -> list[str]:
            if reply.choice in choices:
                return []
            return [f"choice {reply.choice[:60]!r} is not one of {', '.join(choices)}"]

        got = ask(
            self.client,
            [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}],
            Choice,
            purpose=f"agents:{event.get('event_id', '')}",
            schema=schema,
            check=allowed,
            max_tokens=MAX_TOKENS,
            deadline=self.deadline,
        )
        if got.value is None:
            reason = got.reason or "no reply"
            return Decision(every, "rules", reason=reason[:300], fallback=fallback_kind(reason))
        choice = got.value.choice
        chosen = () if choice == NONE else (choice,)
        reason = " ".join(got.value.reason.split())[:400]
        return Decision(chosen, "llm", choice=choice, reason=reason)
