"""The real event bus the bus tests use (``scripts/bus-local.sh start``).

The broker is ``$HPCSCHED_BUS_URL`` (``.ci/run`` exports it after starting the local server).
Without one that answers with JetStream, the tests are skipped with the one-line reason; under
``CI=true`` they fail, as the data, Slurm and model tests do.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest

STATE_DIR = Path(os.environ.get("HPCSCHED_BUS_STATE", "/tmp/hpcsched-bus"))


def _greeting(url: str) -> str | None:
    """None when a NATS server with JetStream answers at ``url``, else why not."""
    parts = urlsplit(url)
    if parts.scheme != "nats" or not parts.hostname:
        return f"{url} is not nats://HOST:PORT"
    try:
        with socket.create_connection((parts.hostname, parts.port or 4222), timeout=5) as s:
            line = s.makefile("rb").readline().decode()
    except OSError as exc:
        return f"{url} did not answer: {exc.strerror or exc}"
    if not line.startswith("INFO "):
        return f"{url} is not a NATS server"
    if json.loads(line[5:]).get("jetstream") is not True:
        return f"{url} has no JetStream (start it with -js)"
    return None


def require_bus() -> str:
    """The live broker's URL (``nats://host:port``), else skip (fail under CI=true)."""
    url = os.environ.get("HPCSCHED_BUS_URL")
    if not url:
        reason = "HPCSCHED_BUS_URL is not set (start the local bus: scripts/bus-local.sh start)"
    else:
        reason = _greeting(url)
    if reason is None:
        assert url is not None
        return url.rstrip("/")
    log = STATE_DIR / "server.log"
    if log.exists():
        reason += f" (server log: {log})"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"no event bus: {reason}")
    pytest.skip(f"no event bus: {reason}")


def fresh_subject(prefix: str) -> str:
    """A subject no other test (or earlier session on the same broker) has used."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
