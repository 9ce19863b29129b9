"""What an endpoint can do, found by asking it: models, chat, JSON schema, usage, streaming, images.

Each probe is one small real request (a few tokens, a schema with an ``enum``), so ``hpcsched
llm check`` reports what the server does, not what its documentation promises. An image that is
*accepted* is not proof that the model sees it; the program sends images only when the
``images`` setting says the endpoint takes them.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any, Final

from hpcsched.llm.client import ChatClient, ChatReply, LLMError
from hpcsched.llm.prompts import user_message

#: A 1×1 PNG for the image probe.
PIXEL: Final = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
_YES_NO: Final = {
    "type": "object",
    "properties": {"answer": {"type": "string", "enum": ["yes", "no"]}},
    "required": ["answer"],
    "additionalProperties": False,
}
_PROBE_TOKENS: Final = 16
_SPEED_TOKENS: Final = 64


@dataclass
class Capability:
    name: str
    ok: bool
    detail: str


@dataclass
class Capabilities:
    url: str
    model: str | None
    models: list[str] = field(default_factory=list)
    items: list[Capability] = field(default_factory=list)
    tokens_per_second: float | None = None

    def get(self, name: str) -> bool:
        return any(c.ok for c in self.items if c.name == name)

    def as_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "model": self.model,
            "models": self.models,
            "capabilities": {c.name: {"ok": c.ok, "detail": c.detail} for c in self.items},
            "tokens_per_second": self.tokens_per_second,
        }


def _usage_text(reply: ChatReply) -> tuple[bool, str]:
    u = reply.usage
    if u is None or (u.prompt_tokens is None and u.completion_tokens is None):
        return False, "the reply has no usage object"
    detail = f"prompt {u.prompt_tokens}, completion {u.completion_tokens}"
    if u.reasoning_tokens is not None:
        detail += f", reasoning {u.reasoning_tokens}"
    return True, detail


def probe(client: ChatClient) -> Capabilities:
    """Ask the endpoint; every probe is recorded, failed or not."""
    found = Capabilities(url=client.settings.url or "", model=None)
    try:
        found.models = client.models()
    except LLMError as exc:
        found.items.append(Capability("models", False, str(exc)))
        return found
    found.items.append(Capability("models", True, ", ".join(found.models) or "(none listed)"))
    found.model = client.model_name()
    ask = [{"role": "user", "content": "Is water wet? Answer yes or no."}]
    count = [{"role": "user", "content": "Count from one to forty in words."}]
    try:  # long enough a reply to give a fair tokens/s
        reply = client.chat(count, max_tokens=_SPEED_TOKENS, purpose="check:chat")
        found.items.append(Capability("chat", True, repr(reply.content[:60])))
        found.items.append(Capability("usage", *_usage_text(reply)))
        found.tokens_per_second = reply.tokens_per_second()
    except LLMError as exc:
        found.items.append(Capability("chat", False, str(exc)))
        return found
    found.items.append(_json_schema(client, ask))
    found.items.append(_streaming(client, ask))
    found.items.append(_images(client))
    return found


def _json_schema(client: ChatClient, ask: list[dict[str, Any]]) -> Capability:
    try:
        reply = client.chat(ask, schema=_YES_NO, max_tokens=_PROBE_TOKENS, purpose="check:schema")
    except LLMError as exc:
        return Capability("json_schema", False, str(exc))
    try:
        answer = json.loads(reply.content).get("answer")
    except (json.JSONDecodeError, AttributeError):
        answer = None
    ok = answer in ("yes", "no")
    detail = f"response_format {client.schema_mode}: " + (
        f"reply {reply.content.strip()!r} follows the schema" if ok else "reply ignored the schema"
    )
    return Capability("json_schema", ok, detail)


def _streaming(client: ChatClient, ask: list[dict[str, Any]]) -> Capability:
    pieces: list[str] = []
    try:
        reply = client.chat(
            ask,
            max_tokens=_PROBE_TOKENS,
            stream=True,
            on_text=pieces.append,
            purpose="check:stream",
        )
    except LLMError as exc:
        return Capability("streaming", False, str(exc))
    usage = "with usage" if reply.usage is not None else "no usage in the stream"
    return Capability("streaming", bool(pieces), f"{len(pieces)} piece(s), {usage}")


def _images(client: ChatClient) -> Capability:
    message = user_message("What colour is this image?", [PIXEL], images_allowed=True)
    flag = "on" if client.settings.images else "off"
    try:
        client.chat([message], max_tokens=_PROBE_TOKENS, purpose="check:image")
    except LLMError as exc:
        return Capability("images", False, f"refused ({exc.kind} {exc.status or ''}); flag {flag}")
    return Capability(
        "images", True, f"an image part was accepted (not proof the model sees it); flag {flag}"
    )


def as_rows(found: Capabilities) -> list[tuple[str, str, str]]:
    """(capability, yes/no, detail) rows for a table."""
    return [(c.name, "yes" if c.ok else "no", c.detail) for c in found.items]
