"""Reading the log back: replay from an offset, consumer groups, what the stream holds.

- Replay (Kafka's "seek to an offset"): an ephemeral pull consumer starting at a stream
  sequence (``DeliverPolicy.BY_START_SEQUENCE``), acknowledging nothing; the stream is not
  changed by reading it.
- A group (Kafka's consumer group): a durable pull consumer named after the group; every member
  pulls from it, so each event goes to one member, acknowledged after it was handed on. The
  group remembers its position: a member started later goes on where the group stopped, and an
  event pulled but never acknowledged (a member that died) is delivered again after ``ack_wait``.

https://docs.nats.io/nats-concepts/jetstream/consumers (pull consumers, deliver policies).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hpcsched.bus.address import STREAM, BusAddress
from hpcsched.bus.connection import BusError, connect, why

#: One event read: (stream sequence, the message's bytes).
OnEvent = Callable[[int, bytes], None]


@dataclass(frozen=True)
class TailOptions:
    start: int = 1  # the stream sequence to begin at (1: the oldest kept)
    follow: bool = False  # keep waiting for new events (until Ctrl-C) rather than stop
    group: str | None = None  # share a durable consumer of this name with other members
    batch: int = 256
    idle: float = 1.0  # seconds without a message after which a non-following tail stops
    ack_wait: float = 30.0  # a group's unacknowledged events are delivered again after this


async def tail(address: BusAddress, options: TailOptions, on_event: OnEvent) -> int:
    """Hand every event of ``address.subject`` from ``options.start`` to ``on_event``; the number
    handed. Without ``follow``, stops once caught up."""
    from nats.errors import TimeoutError as NatsTimeout
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    nc = await connect(address.server, 3.0)
    js = nc.jetstream()
    config = ConsumerConfig(
        deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
        opt_start_seq=max(1, options.start),
        ack_policy=AckPolicy.EXPLICIT if options.group else AckPolicy.NONE,
        ack_wait=options.ack_wait if options.group else None,
        inactive_threshold=None if options.group else 30.0,
    )
    handed = 0
    try:
        sub = await js.pull_subscribe(
            address.subject, durable=options.group, stream=STREAM, config=config
        )
        while True:
            try:
                messages = await sub.fetch(options.batch, timeout=options.idle)
            except (NatsTimeout, TimeoutError):
                if options.follow:
                    continue
                break
            for message in messages:
                on_event(message.metadata.sequence.stream, message.data)
                handed += 1
                if options.group:
                    await message.ack()
            caught_up = messages and messages[-1].metadata.num_pending == 0
            if caught_up and not options.follow and not options.group:
                break  # a group waits one idle period: other members may still hold events
        if not options.group:  # a replay's consumer is gone with it (not left for 30 s)
            with contextlib.suppress(Exception):
                await js.delete_consumer(STREAM, (await sub.consumer_info()).name)
    finally:  # flush (the group's acks are sent) then close: a drain after an empty fetch
        with contextlib.suppress(Exception):  # waits out its whole 30 s timeout (nats-py 2.16)
            await nc.flush(2)
        await nc.close()
    return handed


@dataclass(frozen=True)
class StreamStats:
    messages: int
    bytes: int
    first_seq: int
    last_seq: int
    subjects: dict[str, int]  # events kept per subject
    consumers: dict[str, int]  # durable consumer (group) -> events not yet delivered to it

    def as_dict(self) -> dict[str, Any]:
        return {"stream": STREAM, **self.__dict__}


async def stream_stats(address: BusAddress) -> StreamStats:
    """What the stream holds, and how far behind each group is."""
    nc = await connect(address.server, 3.0)
    try:
        js = nc.jetstream()
        info = await js.stream_info(STREAM, subjects_filter=">")
        consumers = {
            c.name: int(c.num_pending or 0)
            for c in await js.consumers_info(STREAM)
            if c.config is not None and c.config.durable_name  # groups, not replays
        }
        state = info.state
        return StreamStats(
            messages=state.messages,
            bytes=state.bytes,
            first_seq=state.first_seq,
            last_seq=state.last_seq,
            subjects=dict(sorted((state.subjects or {}).items())),
            consumers=consumers,
        )
    finally:
        await nc.close()


def run_sync(coro: Any) -> Any:
    """Run a bus coroutine from synchronous code; BusError for a broker error."""
    from nats.errors import Error as NatsError

    try:
        return asyncio.run(coro)
    except NatsError as exc:
        raise BusError(why(exc)) from None
