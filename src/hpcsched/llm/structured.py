"""Schema-validated replies: a pydantic model in, a validated value or the caller's fallback out.

The reply is constrained by the model's JSON schema (``response_format``) and then validated by
pydantic, plus any check of the caller's (e.g. "every fact key exists"). A reply that does not
validate is refused; the model is asked once more with the validation error; if that reply fails
too, or the endpoint errs or misses its deadline, the caller's deterministic fallback is used
and the reason is booked in the ledger. Nothing in a reply is ever executed: it is data, read
into a model with ``extra="forbid"``-style schemas, and used only as text and numbers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from hpcsched.llm.client import ChatClient, LLMError, Message

T = TypeVar("T", bound=BaseModel)

#: Characters of a validation error echoed back to the model.
ERROR_CHARS = 600


@dataclass
class Structured(Generic[T]):
    """What :func:`ask` ended with: the model's value, or None and why the fallback stands."""

    value: T | None
    calls: int = 0
    retried: bool = False
    reason: str | None = None  #: why no value (None when the model's reply was used)
    raw: list[str] = field(default_factory=list)  #: the reply texts, for debugging and tests

    @property
    def from_model(self) -> bool:
        return self.value is not None


def ask(
    client: ChatClient,
    messages: Sequence[Message],
    model: type[T],
    *,
    purpose: str,
    schema: dict[str, Any] | None = None,
    check: Callable[[T], list[str]] | None = None,
    max_tokens: int | None = None,
    deadline: float | None = None,
) -> Structured[T]:
    """A reply matching ``model`` (or the narrower ``schema``), asked again once if invalid.

    ``check`` returns the problems of a reply that is valid JSON for the schema but unusable
    (an unknown key, say); they count as a validation failure. On failure the result has no
    value and ``reason`` says why; the ledger records a fallback for ``purpose``."""
    out: Structured[T] = Structured(None)
    sent = list(messages)
    json_schema = schema or model.model_json_schema()
    for round_ in (1, 2):
        try:
            reply = client.chat(
                sent,
                schema=json_schema,
                schema_name=model.__name__,
                max_tokens=max_tokens,
                purpose=purpose if round_ == 1 else f"{purpose} (retry)",
                deadline=deadline,
            )
        except LLMError as exc:
            out.reason = f"{exc.kind}: {exc}"
            break
        out.calls += 1
        out.raw.append(reply.content)
        problems = _problems(reply.content, model, check)
        if isinstance(problems, BaseModel):
            out.value = problems  # type: ignore[assignment]
            return out
        if reply.call is not None:  # the ledger says this reply was refused, and why
            reply.call.outcome, reply.call.detail = "invalid", problems
        out.reason = f"reply did not validate: {problems}"
        if round_ == 2:
            break
        out.retried = True
        sent = [
            *messages,
            {"role": "assistant", "content": reply.content[:2000]},
            {
                "role": "user",
                "content": "That reply was refused: "
                f"{problems}. Reply again with JSON only, exactly matching the schema.",
            },
        ]
    if client.ledger is not None:
        client.ledger.fallback(purpose, out.reason or "no reply")
    return out


def _problems(content: str, model: type[T], check: Callable[[T], list[str]] | None) -> T | str:
    """The validated value, or one line describing what is wrong with ``content``."""
    try:
        value = model.model_validate_json(content)
    except ValidationError as exc:
        parts = [
            f"{'.'.join(str(p) for p in e['loc']) or 'reply'}: {e['msg']}" for e in exc.errors()
        ]
        return _clip("; ".join(parts[:5]))
    except (ValueError, json.JSONDecodeError) as exc:  # pragma: no cover - pydantic wraps these
        return _clip(f"not JSON: {exc}")
    issues = check(value) if check is not None else []
    return _clip("; ".join(issues[:5])) if issues else value


def _clip(text: str) -> str:
    return text if len(text) <= ERROR_CHARS else text[: ERROR_CHARS - 1] + "…"
