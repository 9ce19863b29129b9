"""The event bus: an adapter to NATS JetStream, the broker the project starts itself.

Kafka's semantics are what matter, on the broker that installs here (no Kafka broker can): a
durable log (one file-stored JetStream stream, ``HPCSCHED_EVENTS``, over ``hpcsched.events.>``),
consumer groups (a durable pull consumer shared by its members: each event to one of them) and
replay from an offset (a consumer starting at a stream sequence). The bus only carries events;
it decides nothing (``shared/ARCHITECTURE.md``: an adapter called from above, never from
``core``/``policies``).

- :mod:`.address`: ``nats://host:port/SUBJECT`` and the stream's names
- :mod:`.server`: the local ``nats-server -js`` of ``hpcsched bus serve``
- :mod:`.connection`: the first connection (a refused port at once), the stream made when missing
- :mod:`.publisher`: at-least-once publishing from a background thread (bounded buffer, acks,
  retries under one ``Nats-Msg-Id``)
- :mod:`.consumer`: replay from an offset, consumer groups, stream statistics
"""
