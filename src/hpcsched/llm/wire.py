"""What travels on the wire of an OpenAI-compatible chat endpoint: the reply and usage types,
the error the client raises, and the parsing of JSON bodies, server-sent events and usage
(:mod:`hpcsched.llm.client` makes the calls)."""

from __future__ import annotations

import json
import queue
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from hpcsched.llm.ledger import Call


class LLMError(RuntimeError):
    """A call that gave no usable reply. ``kind``: connect, http, timeout, deadline, protocol."""

    def __init__(self, kind: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    reasoning_tokens: int | None = None


@dataclass(frozen=True)
class ChatReply:
    content: str
    model: str | None
    finish_reason: str | None
    usage: Usage | None
    elapsed_s: float
    attempts: int
    streamed: bool = False
    call: Call | None = None  #: the ledger entry of this call (a caller may mark it refused)

    def tokens_per_second(self) -> float | None:
        """Completion tokens per second of the whole call (prompt processing included)."""
        if self.usage is None or not self.usage.completion_tokens or self.elapsed_s <= 0:
            return None
        return self.usage.completion_tokens / self.elapsed_s


def _until(events: queue.Queue[tuple[str, Any]], deadline_at: float) -> Iterator[tuple[str, Any]]:
    """Events from the worker until the deadline (then :class:`queue.Empty`)."""
    while True:
        remaining = deadline_at - time.monotonic()
        if remaining <= 0:
            raise queue.Empty
        yield events.get(timeout=remaining)


def _refusal(status: int | None, text: str) -> bool:
    """A 400/422, or a 500 naming ``response_format``: the server refused this JSON form."""
    return status in (400, 422) or (status == 500 and "response_format" in text)


def _response_format(mode: str, schema: dict[str, Any], name: str) -> dict[str, Any]:
    if mode == "json_object":
        return {"type": "json_object", "schema": schema}
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}


def _json(raw: bytes, error: Callable[..., LLMError]) -> Any:
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        shown = raw[:80].decode("utf-8", "replace")
        raise error("protocol", f"the server's reply is not JSON: {shown!r}") from None


def _sse(line: str, error: Callable[..., LLMError]) -> dict[str, Any] | None:
    """One server-sent event line: a chunk, or None for comments, blanks and ``[DONE]``."""
    if not line.startswith("data:"):
        return None
    data = line[5:].strip()
    if not data or data == "[DONE]":
        return None
    chunk = _json(data.encode(), error)
    return chunk if isinstance(chunk, dict) else None


def _delta_text(chunk: dict[str, Any]) -> str:
    choices = chunk.get("choices") or []
    if not choices or not isinstance(choices[0], dict):
        return ""
    delta = choices[0].get("delta") or {}
    return str(delta.get("content") or "") if isinstance(delta, dict) else ""


def _usage(raw: Any) -> Usage | None:
    if not isinstance(raw, dict):
        return None
    details = raw.get("completion_tokens_details")
    reasoning = details.get("reasoning_tokens") if isinstance(details, dict) else None

    def whole(value: Any) -> int | None:
        return int(value) if isinstance(value, int | float) else None

    return Usage(
        whole(raw.get("prompt_tokens")), whole(raw.get("completion_tokens")), whole(reasoning)
    )


def _reply(data: Any, attempts: int, elapsed: float, streamed: bool) -> ChatReply:
    if streamed:
        chunks: list[dict[str, Any]] = data
        text = "".join(_delta_text(c) for c in chunks)
        finish = next(
            (
                c["choices"][0].get("finish_reason")
                for c in reversed(chunks)
                if c.get("choices") and c["choices"][0].get("finish_reason")
            ),
            None,
        )
        usage = next((_usage(c["usage"]) for c in reversed(chunks) if c.get("usage")), None)
        model = next((c.get("model") for c in chunks if c.get("model")), None)
        return ChatReply(text, model, finish, usage, elapsed, attempts, streamed=True)
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("choices"), list)
        or not data["choices"]
    ):
        raise LLMError("protocol", "the reply has no 'choices'")
    choice = data["choices"][0]
    message = choice.get("message") if isinstance(choice, dict) else None
    if not isinstance(message, dict):
        raise LLMError("protocol", "the reply's first choice has no 'message'")
    return ChatReply(
        str(message.get("content") or ""),
        data.get("model"),
        choice.get("finish_reason"),
        _usage(data.get("usage")),
        elapsed,
        attempts,
    )
