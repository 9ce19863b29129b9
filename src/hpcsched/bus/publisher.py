"""At-least-once publishing to JetStream from a background thread, so a caller never waits on
the broker.

``publish`` only puts a message in a bounded buffer (a full buffer drops it, counted) and
returns; an asyncio loop on its own thread sends it and waits for JetStream's ack. A message
whose ack does not come within ``ack_timeout`` is sent again with the same ``Nats-Msg-Id``
header, so JetStream stores it once even when the first copy did arrive (its duplicate window,
https://docs.nats.io/nats-concepts/jetstream/model_deep_dive#message-deduplication), until
``deadline`` seconds after it was first sent; then it is counted undelivered. First sends go out
in publishing order; a resent message may land after later ones (as with Kafka's retries).

If the broker goes away, the client reconnects in the background and the retries resume;
``close`` waits at most ``close_timeout`` for the acks still due and counts the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from hpcsched.bus.address import DUPLICATE_WINDOW_S, PREFIX, STREAM

#: At close, a broker away this long is not waited for any more.
GRACE_S = 1.0


class BusError(RuntimeError):
    """The broker did not answer, or has no JetStream; the message is the cause, one line."""


@dataclass
class PublishStats:
    """What became of the messages given to ``publish``."""

    submitted: int = 0
    acked: int = 0  # stored by JetStream (a duplicate ack counts: the message is in the log)
    retried: int = 0  # resends after an ack timed out or a send failed
    dropped: int = 0  # refused because the buffer was full
    failed: int = 0  # no ack before the deadline, or still unacked at close

    @property
    def undelivered(self) -> int:
        return self.dropped + self.failed


def _why(exc: BaseException | None) -> str:
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
        why = os.strerror(exc.errno) if exc.errno else _why(exc)
        raise BusError(f"cannot connect ({why.lower()})") from None
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
        raise BusError(f"cannot connect ({_why(cause)})") from None
    js = nc.jetstream(timeout=timeout)
    try:
        await ensure_stream(js)
    except (TimeoutError, NatsError) as exc:
        await nc.close()
        raise BusError(f"no JetStream there ({_why(exc)}); start the server with -js") from None
    return nc


class JetStreamPublisher:
    """Publish to JetStream at least once, from a background thread (see the module doc)."""

    def __init__(
        self,
        server: str,
        *,
        buffer: int = 10_000,
        ack_timeout: float = 2.0,
        deadline: float = 10.0,
        connect_timeout: float = 3.0,
    ) -> None:
        self.server = server
        self.buffer, self.ack_timeout, self.deadline = buffer, ack_timeout, deadline
        self.connect_timeout = connect_timeout
        self.stats = PublishStats()
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()
        self._pending = 0  # given to publish, not yet acked or failed
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="bus", daemon=True)
        self._queue: asyncio.Queue[tuple[str, bytes, str] | None] | None = None
        self._nc: Any = None
        self._js: Any = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._pump: Any = None

    def start(self) -> None:
        """Connect and make sure the stream exists; BusError (one line) otherwise."""
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        try:
            future.result(self.connect_timeout * 3)
        except BaseException:
            self._stop_loop()
            raise

    async def _start(self) -> None:
        self._nc = await connect(self.server, self.connect_timeout, self.errors)
        self._js = self._nc.jetstream(timeout=self.ack_timeout)
        self._queue = asyncio.Queue()
        self._pump = asyncio.ensure_future(self._run_pump())

    def publish(self, subject: str, payload: bytes, msg_id: str) -> bool:
        """Buffer one message (never blocks); False when the buffer is full and it is dropped."""
        with self._lock:
            self.stats.submitted += 1
            if self._pending >= self.buffer or self._queue is None:
                self.stats.dropped += 1
                return False
            self._pending += 1
        self._loop.call_soon_threadsafe(self._queue.put_nowait, (subject, payload, msg_id))
        return True

    async def _run_pump(self) -> None:
        assert self._queue is not None
        while (item := await self._queue.get()) is not None:
            first = await self._send(item)  # in order: the next is sent after this one
            task = asyncio.ensure_future(self._confirm(item, first))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)

    async def _send(self, item: tuple[str, bytes, str]) -> asyncio.Future[Any]:
        subject, payload, msg_id = item
        try:
            sent: asyncio.Future[Any] = await self._js.publish_async(
                subject, payload, headers={"Nats-Msg-Id": msg_id}
            )
        except Exception as exc:  # reconnecting and its buffer full, closed: retried below
            sent = self._loop.create_future()
            sent.set_exception(exc)
        return sent

    async def _confirm(self, item: tuple[str, bytes, str], sent: asyncio.Future[Any]) -> None:
        """Wait for the ack; resend under the same message id until the deadline."""
        end = self._loop.time() + self.deadline
        try:
            while True:
                left = end - self._loop.time()
                try:
                    await asyncio.wait_for(sent, max(0.01, min(self.ack_timeout, left)))
                    self._settle(ok=True)
                    return
                except Exception as exc:  # an ack timeout, an API error, a lost connection
                    self.errors.append(exc)
                if self._loop.time() >= end:
                    self._settle(ok=False)
                    return
                while not self._nc.is_connected and self._loop.time() < end:
                    await asyncio.sleep(0.05)  # resending into a dead socket only fills buffers
                with self._lock:
                    self.stats.retried += 1
                sent = await self._send(item)
        except asyncio.CancelledError:
            self._settle(ok=False)
            raise

    def _settle(self, *, ok: bool) -> None:
        with self._lock:
            self._pending -= 1
            if ok:
                self.stats.acked += 1
            else:
                self.stats.failed += 1

    def close(self, timeout: float = 5.0) -> PublishStats:
        """Wait up to ``timeout`` s for the acks due, count what is left, disconnect."""
        if self._thread.is_alive() and self._queue is not None:
            future = asyncio.run_coroutine_threadsafe(self._finish(timeout), self._loop)
            try:
                future.result(timeout + 5)
            except Exception as exc:  # never let closing the bus fail the caller
                self.errors.append(exc)
        self._stop_loop()
        with self._lock:
            self.stats.failed += self._pending  # whatever never settled
            self._pending = 0
        return self.stats

    async def _finish(self, timeout: float) -> None:
        """Let the pump and the acks due finish within ``timeout``; a broker that stays away
        for ``GRACE_S`` ends the wait early (its events are lost either way)."""
        assert self._queue is not None
        self._queue.put_nowait(None)
        end = self._loop.time() + timeout
        away_since: float | None = None
        while not self._pump.done() or self._inflight:
            now = self._loop.time()
            connected = self._nc.is_connected
            away_since = None if connected else (away_since or now)
            if now >= end or (away_since is not None and now - away_since > GRACE_S):
                break
            await asyncio.sleep(0.01)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._nc.close(), 1.0 if self._nc.is_connected else 0.1)
        # whatever is left (our tasks, the client's readers and reconnect loop) ends here, so
        # that stopping the loop leaves no pending task behind
        current = asyncio.current_task()
        others = [t for t in asyncio.all_tasks() if t is not current]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    def _stop_loop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
        if not self._loop.is_running():
            self._loop.close()

    def last_error(self) -> str:
        return _why(self.errors[-1] if self.errors else None)
