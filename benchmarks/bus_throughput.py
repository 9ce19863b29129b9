"""Event bus speed: the NATS sink's throughput (all acked) against the JSON-lines file sink in the
same run, and publish -> consume latency at a steady rate.

    python benchmarks/bus_throughput.py [--events 20000] [--rate 1000] [--seconds 5] [--url URL]

The broker is --url, else $HPCSCHED_BUS_URL, else one this script starts (`hpcsched bus serve`
on a free port, its log in a temporary folder) and stops.
- throughput: --events task-finished events through ``BusEventSink.emit`` (what ``run --events
  nats://`` does), timed from the first emit until every ack is in (``close``); then the log is
  read back to check every event is there once. The reference: the same events through the file
  sink (``EventSink``, one flushed line each) of ``run --events FILE``.
- latency: events at --rate per second for --seconds; a JetStream push consumer (ordered,
  new events only) in the same process notes when each arrives; p50/p95 of arrival - emit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from hpcsched.bus.address import STREAM, parse_address
from hpcsched.bus.consumer import TailOptions, run_sync, tail
from hpcsched.runtime.events import EventSink
from hpcsched.runtime.events_bus import BusEventSink


def fields(i: int) -> dict[str, Any]:
    """A task-finished event as a run writes it."""
    return {
        "run": "/scratch/wf.run", "t": i * 0.001, "task": f"t{i}", "attempt": 1, "ok": True,
        "exit_code": 0, "reason": None, "message": "", "elapsed": 1.25, "host": "node17",
    }  # fmt: skip


def own_broker(folder: Path) -> tuple[str, subprocess.Popen[bytes]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    argv = [sys.executable, "-c", "from hpcsched.cli import main; main()", "bus", "serve"]
    server = subprocess.Popen(
        [*argv, "--port", str(port), "--store", str(folder / "store")], stderr=subprocess.DEVNULL
    )
    for _ in range(200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as c:
                if c.makefile("rb").readline().startswith(b"INFO "):
                    return f"nats://127.0.0.1:{port}", server
        except OSError:
            time.sleep(0.05)
    server.kill()
    raise SystemExit("hpcsched bus serve did not answer")


def bus_rate(url: str, n: int) -> dict[str, Any]:
    target = f"{url}/bench-{uuid.uuid4().hex[:8]}"
    sink = BusEventSink(parse_address(target), source="runtime")
    start = time.perf_counter()
    for i in range(n):
        sink.emit("task-finished", fields(i))
    stats = sink.publisher.close(timeout=120)
    seconds = time.perf_counter() - start
    ids: list[str] = []
    run_sync(
        tail(
            parse_address(target), TailOptions(), lambda _, d: ids.append(json.loads(d)["event_id"])
        )
    )
    return {
        "events_per_s": n / seconds, "acked": stats.acked, "retried": stats.retried,
        "undelivered": stats.undelivered, "in_log": len(ids), "in_log_unique": len(set(ids)),
    }  # fmt: skip


def file_rate(folder: Path, n: int) -> float:
    with EventSink(folder / "events.jsonl", source="runtime") as sink:
        start = time.perf_counter()
        for i in range(n):
            sink.emit("task-finished", fields(i))
        seconds = time.perf_counter() - start
    return n / seconds


def latency(url: str, rate: float, seconds: float) -> dict[str, float]:
    """Emit at ``rate``/s; a push consumer in another thread records each arrival."""
    import nats
    from nats.js.api import DeliverPolicy

    target = parse_address(f"{url}/latency-{uuid.uuid4().hex[:8]}")
    arrived: dict[str, float] = {}
    ready, done = threading.Event(), threading.Event()
    loop = asyncio.new_event_loop()

    async def consume() -> None:
        nc = await nats.connect(target.server)
        js = nc.jetstream()

        async def seen(msg: Any) -> None:
            arrived[json.loads(msg.data)["event_id"]] = time.perf_counter()

        sub = await js.subscribe(
            target.subject, stream=STREAM, cb=seen, ordered_consumer=True,
            deliver_policy=DeliverPolicy.NEW,
        )  # fmt: skip
        ready.set()
        while not done.is_set():
            await asyncio.sleep(0.05)
        await sub.unsubscribe()
        await nc.close()
        current = asyncio.current_task()
        rest = [t for t in asyncio.all_tasks() if t is not current]
        for task in rest:
            task.cancel()
        await asyncio.gather(*rest, return_exceptions=True)

    thread = threading.Thread(target=lambda: loop.run_until_complete(consume()), daemon=True)
    thread.start()
    ready.wait(10)
    sink = BusEventSink(target, source="runtime")
    sent: dict[str, float] = {}
    n = int(rate * seconds)
    start = time.perf_counter()
    for i in range(n):
        due = start + i / rate
        if (wait := due - time.perf_counter()) > 0:
            time.sleep(wait)
        event = sink.emit("task-finished", fields(i))
        sent[event["event_id"]] = time.perf_counter()
    sink.close()
    deadline = time.monotonic() + 10
    while len(arrived) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    done.set()
    thread.join(5)
    delays = sorted((arrived[k] - sent[k]) * 1e3 for k in sent if k in arrived)
    q = statistics.quantiles(delays, n=100)
    return {
        "rate": rate, "events": n, "received": len(delays), "p50_ms": q[49], "p95_ms": q[94],
        "max_ms": delays[-1],
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--url", default=os.environ.get("HPCSCHED_BUS_URL"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        server = None
        url = args.url
        if not url:
            url, server = own_broker(folder)
        try:
            bus = bus_rate(url, args.events)
            file = file_rate(folder, args.events)
            late = latency(url, args.rate, args.seconds)
        finally:
            if server is not None:
                os.kill(server.pid, signal.SIGTERM)
                server.wait(10)
    print(f"broker {url}{' (started here)' if server else ''}")
    print(
        f"NATS sink: {bus['events_per_s']:,.0f} events/s, {bus['acked']:,} of {args.events:,} "
        f"acked ({bus['retried']} resent, {bus['undelivered']} undelivered), "
        f"{bus['in_log_unique']:,} in the log ({bus['in_log']:,} with repeats)"
    )
    print(f"file sink: {file:,.0f} events/s; NATS / file = {bus['events_per_s'] / file:.2f}")
    print(
        f"latency at {late['rate']:,.0f} events/s for {args.seconds:g} s: p50 {late['p50_ms']:.2f} "
        f"ms, p95 {late['p95_ms']:.2f} ms, max {late['max_ms']:.1f} ms "
        f"({late['received']:,} of {late['events']:,} received)"
    )
    print(json.dumps({"bus": bus, "file_events_per_s": file, "latency": late}))


if __name__ == "__main__":
    main()
