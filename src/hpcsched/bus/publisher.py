"""At-least-once publishing to JetStream from a background thread, so a caller never waits on
the broker.

``publish`` puts a message in a bounded buffer and returns. A full buffer slows the caller by at
most ``max_block`` s while the broker acks (a burst is slowed, not lost) and drops the message,
counted, while the broker is away (a run never waits on a dead broker). An asyncio loop on its
own thread sends what the buffer holds, in order, each with a reply subject, and settles each
message when JetStream's ack comes back on it. A message whose ack has not come within
``ack_timeout`` is sent again with the same ``Nats-Msg-Id`` header, so JetStream stores it once
even when the first copy did arrive (its duplicate window,
https://docs.nats.io/nats-concepts/jetstream/model_deep_dive#message-deduplication), until
``deadline`` s after it was first sent; then it is counted undelivered. A resent message may land
after later ones (as with Kafka's retries); ``event_id`` and ``t`` put them back in order.

There is no task or future per message: one subscription receives every ack, one sweep resends
what is overdue (the pending messages are kept in the order of their last send, so a sweep
stops at the first one not yet due).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

from hpcsched.bus.connection import connect, why

#: At close, a broker away this long is not waited for any more.
GRACE_S = 1.0
#: How often overdue acks are looked for, and how many messages one pass handles at most.
SWEEP_S = 0.05
SWEEP_MAX = 2_000


@dataclass
class PublishStats:
    """What became of the messages given to ``publish``."""

    submitted: int = 0
    acked: int = 0  # stored by JetStream (a duplicate ack counts: the message is in the log)
    retried: int = 0  # resends after an ack did not come in time
    dropped: int = 0  # refused: the buffer was full
    failed: int = 0  # no ack before the deadline, or still unacked at close

    @property
    def undelivered(self) -> int:
        return self.dropped + self.failed


@dataclass
class _Unacked:
    subject: str
    payload: bytes
    msg_id: str
    first: float  # loop time of the first send
    last: float  # and of the latest


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
        max_block: float = 1.0,
    ) -> None:
        self.server = server
        self.buffer, self.ack_timeout, self.deadline = buffer, ack_timeout, deadline
        self.connect_timeout, self.max_block = connect_timeout, max_block
        self.stats = PublishStats()
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()
        self._space = threading.Condition(self._lock)  # notified when messages settle
        self._pending = 0  # given to publish, not yet acked or failed
        self._incoming: deque[tuple[str, bytes, str]] = deque()  # not yet sent (under _lock)
        self._unacked: dict[str, _Unacked] = {}  # reply token -> message, oldest send first
        self._tokens = itertools.count()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="bus", daemon=True)
        self._wake: asyncio.Event | None = None
        self._nc: Any = None
        self._inbox = ""
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False

    # -- the caller's thread -------------------------------------------------------------------

    def start(self) -> None:
        """Connect and make sure the stream exists; BusError (one line) otherwise."""
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        try:
            future.result(self.connect_timeout * 3)
        except BaseException:
            self._stop_loop()
            raise

    def publish(self, subject: str, payload: bytes, msg_id: str) -> bool:
        """Buffer one message; False when it is dropped (see the module doc)."""
        with self._space:
            self.stats.submitted += 1
            if self._pending >= self.buffer and self._connected():
                self._space.wait_for(lambda: self._pending < self.buffer, self.max_block)
            if self._pending >= self.buffer or self._wake is None or self._closing:
                self.stats.dropped += 1
                return False
            self._pending += 1
            was_empty = not self._incoming
            self._incoming.append((subject, payload, msg_id))
        if was_empty:  # one wake-up per batch, not per message
            self._loop.call_soon_threadsafe(self._wake.set)
        return True

    def close(self, timeout: float = 5.0) -> PublishStats:
        """Wait up to ``timeout`` s for the acks due, count what is left, disconnect."""
        if self._thread.is_alive() and self._wake is not None:
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

    def last_error(self) -> str:
        return why(self.errors[-1] if self.errors else None)

    def _connected(self) -> bool:
        return self._nc is not None and bool(self._nc.is_connected)

    # -- the bus thread ------------------------------------------------------------------------

    async def _start(self) -> None:
        self._nc = await connect(self.server, self.connect_timeout, self.errors)
        self._inbox = self._nc.new_inbox()
        await self._nc.subscribe(f"{self._inbox}.*", cb=self._on_ack)
        self._wake = asyncio.Event()
        self._tasks = [
            asyncio.ensure_future(self._pump()),
            asyncio.ensure_future(self._sweep()),
        ]

    async def _pump(self) -> None:
        """Send what the buffer holds, in order, as it comes."""
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            with self._lock:
                batch = list(self._incoming)
                self._incoming.clear()
            now = self._loop.time()
            for subject, payload, msg_id in batch:
                token = str(next(self._tokens))
                self._unacked[token] = _Unacked(subject, payload, msg_id, now, now)
                await self._send(token, self._unacked[token])
            if self._closing and not self._incoming:
                return

    async def _send(self, token: str, message: _Unacked) -> None:
        try:
            await self._nc.publish(
                message.subject,
                message.payload,
                reply=f"{self._inbox}.{token}",
                headers={"Nats-Msg-Id": message.msg_id},
            )
        except Exception as exc:  # reconnecting with a full buffer, closed: the sweep resends
            self.errors.append(exc)

    async def _on_ack(self, msg: Any) -> None:
        token = msg.subject.rsplit(".", 1)[-1]
        try:
            ack = json.loads(msg.data)
        except ValueError:  # a status reply (503: no stream answers); resent when overdue
            ack = {"error": {"description": (msg.headers or {}).get("Description", "no ack")}}
        if not isinstance(ack, dict) or "error" in ack:
            error = ack.get("error") if isinstance(ack, dict) else ack
            self.errors.append(RuntimeError(f"JetStream refused a message: {error}"))
            return
        if self._unacked.pop(token, None) is not None:
            self._settle(ok=1)

    async def _sweep(self) -> None:
        """Resend what is overdue (same message id), fail what is past its deadline.

        The work of a pass is bounded by what is due (and at most ``SWEEP_MAX``), never the whole
        buffer: the pending messages are in the order of their last send."""
        while True:
            await asyncio.sleep(SWEEP_S)
            now, connected = self._loop.time(), self._connected()
            expired: list[str] = []
            resend: list[str] = []
            for token, message in self._unacked.items():
                if now - message.last < self.ack_timeout or len(expired) + len(resend) >= SWEEP_MAX:
                    break  # none after this one is due yet
                if now - message.first >= self.deadline:
                    expired.append(token)
                elif connected:
                    resend.append(token)
                else:
                    break  # nothing is resent into a dead socket; the later ones expire later
            for token in expired:
                del self._unacked[token]
            if expired:
                self._settle(failed=len(expired))
            for token in resend:
                again = self._unacked.pop(token, None)  # its ack may have come meanwhile
                if again is None:
                    continue
                again.last = now
                self._unacked[token] = again  # to the end: the order of last sends holds
                self.stats.retried += 1
                await self._send(token, again)

    def _settle(self, ok: int = 0, failed: int = 0) -> None:
        with self._space:
            self._pending -= ok + failed
            self.stats.acked += ok
            self.stats.failed += failed
            self._space.notify_all()

    async def _finish(self, timeout: float) -> None:
        """Send what is buffered and wait for its acks within ``timeout``; a broker away for
        ``GRACE_S`` ends the wait early (its messages are lost either way)."""
        assert self._wake is not None
        with self._lock:
            self._closing = True
        self._wake.set()
        end = self._loop.time() + timeout
        away_since: float | None = None
        while self._unacked or self._incoming or not self._tasks[0].done():
            now = self._loop.time()
            away_since = None if self._connected() else (away_since or now)
            if now >= end or (away_since is not None and now - away_since > GRACE_S):
                break
            await asyncio.sleep(0.01)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._nc.close(), 1.0 if self._connected() else 0.1)
        # whatever is left (the sweep, the client's readers and reconnect loop) ends here, so
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
