"""Where events go: ``nats://HOST:PORT/SUBJECT``, and the one stream that keeps them.

The path is a subject under ``hpcsched.events.`` (``nats://127.0.0.1:4222/run1`` publishes to
``hpcsched.events.run1``), so every event lands in the one stream, ``HPCSCHED_EVENTS``, whatever
subject a run picks. NATS subjects are dot-separated tokens; a consumer may use the wildcards
``*`` (one token) and ``>`` (the rest), e.g. ``nats://127.0.0.1:4222/>`` for every event.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

#: The durable log every event goes to (file storage, created by the first publisher).
STREAM: Final = "HPCSCHED_EVENTS"
PREFIX: Final = "hpcsched.events"
#: Messages with a ``Nats-Msg-Id`` seen within this window are stored once (JetStream's default).
DUPLICATE_WINDOW_S: Final = 120.0
DEFAULT_PORT: Final = 4222

_TOKEN = re.compile(r"[A-Za-z0-9_-]+")


class AddressError(ValueError):
    """A bus address that cannot be used; the message is one line naming it."""


@dataclass(frozen=True)
class BusAddress:
    """A broker and a subject under ``hpcsched.events``; ``suffix`` may hold wildcards."""

    host: str
    port: int
    suffix: str

    @property
    def server(self) -> str:
        return f"nats://{self.host}:{self.port}"

    @property
    def subject(self) -> str:
        return f"{PREFIX}.{self.suffix}"

    def __str__(self) -> str:
        return f"{self.server}/{self.suffix}"


def is_bus_target(target: str) -> bool:
    return target.startswith("nats://")


def parse_address(text: str, *, default: str | None = None, wildcards: bool = False) -> BusAddress:
    """``nats://host[:port][/a.b.c]``; an empty subject is ``default`` (an error when None)."""
    parts = urlsplit(text)
    if parts.scheme != "nats" or not parts.hostname:
        raise AddressError(f"{text}: not a bus address; write nats://HOST:PORT/SUBJECT")
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        raise AddressError(f"{text}: the port is not a number from 1 to 65535") from None
    suffix = parts.path.strip("/") or default
    if suffix is None:
        raise AddressError(f"{text}: no subject; write nats://HOST:PORT/SUBJECT, e.g. /run1")
    tokens = suffix.split(".")
    for i, token in enumerate(tokens):
        wild = token == "*" or (token == ">" and i == len(tokens) - 1)
        if not (_TOKEN.fullmatch(token) or (wildcards and wild)):
            allowed = "letters, digits, - and _" + (", * and a final >" if wildcards else "")
            raise AddressError(
                f"{text}: subject token {token!r} is not allowed; dot-separated {allowed}"
            )
    return BusAddress(parts.hostname, port, suffix)
