"""The events of :mod:`.events` on the bus: ``--events nats://HOST:PORT/SUBJECT``.

Each event is the same JSON object a file sink writes (``event_id`` included), published to
``hpcsched.events.SUBJECT`` in the ``HPCSCHED_EVENTS`` stream at least once, with its
``event_id`` as the ``Nats-Msg-Id``: JetStream drops a resend within its duplicate window, and a
consumer that still sees an id twice (a resend after the window) drops it itself.

The run never waits on the broker: events are buffered and sent by the publisher's own thread
(:mod:`hpcsched.bus.publisher`). An unreachable broker at the start is an error before anything
runs; one that goes away during the run costs events, counted in ``undelivered`` and reported by
the command when it ends.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hpcsched.bus.address import AddressError, BusAddress, is_bus_target, parse_address
from hpcsched.bus.connection import BusError
from hpcsched.bus.publisher import JetStreamPublisher
from hpcsched.runtime.events import EventIds, EventSink, envelope, to_json


class EventTargetError(ValueError):
    """``--events`` names a target that cannot be used; one line, saying what to do."""


class BusEventSink:
    """Publish every event to the bus (see the module doc); ``close`` reports what was lost."""

    def __init__(
        self, address: BusAddress, *, source: str, publisher: JetStreamPublisher | None = None
    ) -> None:
        self.source, self.address = source, address
        self.target = str(address)
        self.ids = EventIds()
        self.publisher = publisher or JetStreamPublisher(address.server)
        self.count = 0
        self.undelivered = 0
        self.publisher.start()

    def emit(self, event: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        record = envelope(self.source, event, self.ids.next(), fields)
        self.publisher.publish(self.address.subject, to_json(record).encode(), record["event_id"])
        self.count += 1
        return record

    def close(self) -> None:
        stats = self.publisher.close()
        self.undelivered = stats.undelivered

    def report(self) -> str | None:
        """One line when events were lost (after ``close``), else None."""
        if not self.undelivered:
            return None
        return (
            f"--events {self.target}: {self.undelivered} of {self.count} events were not "
            f"delivered (last error: {self.publisher.last_error()}); the run's journal has them"
        )

    def __enter__(self) -> BusEventSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_event_sink(target: str, *, source: str) -> EventSink | BusEventSink:
    """The sink ``--events`` names: ``nats://…`` the bus, else a file (appended) or ``-``.

    EventTargetError (one line) for a bus that cannot be reached or a file that cannot be opened.
    """
    if not is_bus_target(target):
        try:
            return EventSink(target, source=source)
        except OSError as exc:
            raise EventTargetError(
                f"--events {target}: cannot open it ({exc.strerror}); give a writable file or -"
            ) from None
    try:
        address = parse_address(target, default=source)
        return BusEventSink(address, source=source)
    except AddressError as exc:
        raise EventTargetError(f"--events {exc}") from None
    except BusError as exc:
        raise EventTargetError(
            f"--events {target}: {exc}; start one with 'hpcsched bus serve'"
        ) from None


def is_file_target(target: str) -> bool:
    """A target a file check applies to (not stdout, not the bus)."""
    return target != "-" and not is_bus_target(target)


__all__ = ["BusEventSink", "EventTargetError", "is_file_target", "open_event_sink"]
