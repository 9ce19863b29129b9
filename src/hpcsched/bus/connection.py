"""A connection to the broker: refused ports found at once, the one stream made when missing.

The client reconnects forever in the background once connected (a broker restarted mid-run is
found again); only the first connection has a deadline.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any
from urllib.parse import urlsplit

from hpcsched.bus.address import DUPLICATE_WINDOW_S, PREFIX, STREAM


class BusError(RuntimeError):
    """The broker did not answer, or has no JetStream; the message is the cause, one line."""


def why(exc: BaseException | None) -> str:
    if exc is None:
        return "no answer"
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


async def ensure_stream(js: Any) -> None:
    """The ``HPCSCHED_EVENTS`` stream (file storage, over ``hpcsched.events.>``), created when
    missing."""
    from nats.js.api import StorageType
    from nats.js.errors import NotFoundError

    try:
        await js.stream_info(STREAM)
    except NotFoundError:
        await js.add_stream(
            name=STREAM,
            subjects=[f"{PREFIX}.>"],
            storage=StorageType.FILE,
            duplicate_window=DUPLICATE_WINDOW_S,
        )


async def _probe(server: str, timeout: float) -> None:
    """Fail at once on a refused port (the client would retry it until ``timeout``)."""
    parts = urlsplit(server)
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(parts.hostname, parts.port), timeout
        )
    except TimeoutError:
        raise BusError(f"cannot connect (no answer within {timeout:g} s)") from None
    except OSError as exc:
        cause = os.strerror(exc.errno) if exc.errno else why(exc)
        raise BusError(f"cannot connect ({cause.lower()})") from None
    writer.close()


async def connect(server: str, timeout: float, errors: list[BaseException] | None = None) -> Any:
    """A NATS connection that reconnects forever in the background; BusError when the
    first connection does not succeed within ``timeout`` s or the server has no JetStream."""
    import nats
    from nats.errors import Error as NatsError

    seen: list[BaseException] = errors if errors is not None else []
    await _probe(server, timeout)

    async def on_error(exc: Exception) -> None:  # the client's default logs every retry
        seen.append(exc)

    try:
        nc = await asyncio.wait_for(
            nats.connect(
                server,
                name="hpcsched",
                connect_timeout=max(1, int(timeout)),
                reconnect_time_wait=0.5,  # type: ignore[arg-type]  # seconds; a float works
                max_reconnect_attempts=-1,
                error_cb=on_error,
            ),
            timeout,
        )
    except (TimeoutError, OSError, NatsError) as exc:
        cause = seen[-1] if seen else exc
        raise BusError(f"cannot connect ({why(cause)})") from None
    js = nc.jetstream(timeout=timeout)
    try:
        await ensure_stream(js)
    except (TimeoutError, NatsError) as exc:
        await nc.close()
        raise BusError(f"no JetStream there ({why(exc)}); start the server with -js") from None
    return nc
