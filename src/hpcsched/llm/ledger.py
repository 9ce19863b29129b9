"""The token ledger: what every model call of a command cost, as the server reported it.

One :class:`Call` per chat request the program made (a schema retry is a call of its own):
prompt, completion and reasoning tokens from the OpenAI-compatible ``usage`` object
(``prompt_tokens``, ``completion_tokens``, ``completion_tokens_details.reasoning_tokens``;
reasoning is part of the completion), or None when the server sent none — never an estimate
(``hpcsched.plan.ledger`` estimates for planning; this one only records). The outcome says
whether the reply was used, retried after a schema error, or replaced by the caller's
deterministic fallback, and why.

Written as JSON beside a report (``llm-ledger.json``) or appended, one JSON object per command
run, to a file the user names. Errors are stored already redacted (:mod:`.settings`).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from hpcsched.core.outputs import atomic_output

Outcome = Literal["ok", "invalid", "fallback", "error"]


@dataclass
class Call:
    """One request to the model."""

    purpose: str  #: what it was for, e.g. ``insight:wait_by_state``
    model: str | None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    reasoning_tokens: int | None = None
    elapsed_s: float = 0.0
    attempts: int = 1  #: HTTP attempts (retries after 5xx / connection errors included)
    streamed: bool = False
    outcome: Outcome = "ok"  #: ok; invalid (schema-invalid, retried or fell back); error
    detail: str | None = None  #: the reason for anything but ok (redacted)

    @property
    def usage_reported(self) -> bool:
        return self.prompt_tokens is not None or self.completion_tokens is not None


@dataclass
class TokenLedger:
    """Every call of one command, with totals; safe to book from several threads."""

    command: str
    started: float = field(default_factory=time.time)
    calls: list[Call] = field(default_factory=list)
    fallbacks: list[dict[str, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def book(self, call: Call) -> Call:
        with self._lock:
            self.calls.append(call)
        return call

    def fallback(self, purpose: str, reason: str) -> None:
        """The caller used its deterministic answer instead of the model's (and why)."""
        with self._lock:
            self.fallbacks.append({"purpose": purpose, "reason": reason})

    def totals(self) -> dict[str, Any]:
        def total(name: str) -> int:
            return sum(getattr(c, name) or 0 for c in self.calls)

        return {
            "calls": len(self.calls),
            "calls_with_usage": sum(c.usage_reported for c in self.calls),
            "prompt_tokens": total("prompt_tokens"),
            "completion_tokens": total("completion_tokens"),
            "reasoning_tokens": total("reasoning_tokens"),
            "elapsed_s": round(sum(c.elapsed_s for c in self.calls), 3),
            "fallbacks": len(self.fallbacks),
        }

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            calls = [{**asdict(c), "usage_reported": c.usage_reported} for c in self.calls]
            fallbacks = list(self.fallbacks)
        return {
            "command": self.command,
            "started": self.started,
            "calls": calls,
            "fallbacks": fallbacks,
            "totals": self.totals(),
        }

    def write(self, path: str | Path) -> Path:
        """The ledger as one JSON document at ``path``, written atomically."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(target) as temp:
            temp.write_text(json.dumps(self.as_dict(), indent=1) + "\n", encoding="utf-8")
        return target

    def append(self, path: str | Path) -> Path:
        """One JSON line for this command appended to ``path`` (created if missing)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(self.as_dict(), separators=(",", ":")) + "\n"
        # an append log (one line per command, lines of two runs never mix), not atomic
        with target.open("a", encoding="utf-8") as f:
            f.write(line)
        return target
