"""The closed loop's speed: event throughput and event-to-action latency of ``hpcsched agents
run`` with rule decisions, against the bus's own publish -> consume latency in the same run.

    python benchmarks/agents_loop.py [--rate 1000] [--seconds 10] [--url URL]

The broker is --url, else $HPCSCHED_BUS_URL, else one this script starts (as
``bus_throughput.py`` does). Events (``job-ended``, state ``timeout``, each carrying its send time)
are published at --rate per second for --seconds to a fresh subject. Two consumer groups read it
at once, each in its own process:

- the agent (``hpcsched agents run``, as a user runs it), whose rule appends a ledger line per
  event (a real side effect, no Slurm: what is measured is the loop: fetch, decide, journal the
  intent, act, journal the result, ack); event-to-action latency = the result's journal time
  minus the send time;
- the reference: a bare group member (``hpcsched.bus.consumer.tail``, ack after each event)
  noting when each event arrives; publish -> consume latency = arrival minus send time.

Throughput is events acted on per second from the first send to the last result.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from hpcsched.bus.address import parse_address
from hpcsched.bus.consumer import TailOptions, run_sync, stream_stats, tail
from hpcsched.bus.publisher import JetStreamPublisher
from hpcsched.runtime.events import envelope, to_json

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bus_throughput import own_broker

HPCSCHED = [sys.executable, "-c", "from hpcsched.cli import main; main()"]
RULES = """\
subject: {subject}
group: agent-{subject}
batch: 16
rules:
  - name: note
    when: {{event: job-ended, state: timeout}}
    action: ledger
    path: {ledger}
"""


def reference(url: str, subject: str, out: str, idle: float) -> None:
    """The bare consumer group member (run as ``--reference``): one arrival latency a line."""
    address = parse_address(f"{url}/{subject}")
    late: list[float] = []

    def seen(_seq: int, data: bytes) -> None:
        late.append(time.time() - json.loads(data)["sent"])

    options = TailOptions(group=f"raw-{subject}", idle=idle, batch=64)
    run_sync(tail(address, options, seen))
    Path(out).write_text("\n".join(f"{x:.6f}" for x in late))


def wait_for_groups(url: str, groups: set[str], timeout: float = 60) -> None:
    address = parse_address(f"{url}/>", wildcards=True)
    end = time.monotonic() + timeout
    while not groups <= set(run_sync(stream_stats(address)).consumers):
        if time.monotonic() > end:
            raise SystemExit(f"the consumer groups {sorted(groups)} did not appear")
        time.sleep(0.1)


def publish(url: str, subject: str, rate: float, seconds: float) -> tuple[int, float]:
    publisher = JetStreamPublisher(url)
    publisher.start()
    count = int(rate * seconds)
    start = time.time()
    for n in range(count):
        due = start + n / rate
        if (wait := due - time.time()) > 0:
            time.sleep(wait)
        fields = {"job_id": n, "state": "timeout", "user": "bench", "sent": time.time()}
        record = envelope("bench", "job-ended", f"{subject}-{n}", fields)
        publisher.publish(
            f"hpcsched.events.{subject}", to_json(record).encode(), record["event_id"]
        )
    achieved = count / (time.time() - start)
    stats = publisher.close()
    if stats.undelivered:
        raise SystemExit(f"{stats.undelivered} events were not delivered")
    return count, achieved


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] * 1000 if len(values) > 1 else 0.0


def measure(url: str, folder: Path, rate: float, seconds: float) -> dict[str, float]:
    from hpcsched.agents.journal import ActionJournal

    subject = f"agents-bench-{uuid.uuid4().hex[:8]}"
    rules, state, raw = folder / "rules.yaml", folder / "state", folder / "raw.txt"
    rules.write_text(RULES.format(subject=subject, ledger=folder / "ledger.tsv"))
    log = (folder / "agent.log").open("w")  # not a pipe: one nobody reads would stall the agent
    agent = subprocess.Popen(
        [*HPCSCHED, "agents", "run", str(rules), "--bus", url, "--state", str(state),
         "--until-idle", "3"],
        stderr=log,
    )  # fmt: skip
    ref = subprocess.Popen(
        [sys.executable, __file__, "--reference", url, subject, str(raw)],
    )
    wait_for_groups(url, {f"agent-{subject}", f"raw-{subject}"})
    count, achieved = publish(url, subject, rate, seconds)
    agent.wait(seconds * 10 + 120)
    ref.wait(seconds * 10 + 120)
    log.close()
    if agent.returncode != 0:
        raise SystemExit(f"the agent failed: {(folder / 'agent.log').read_text()[-500:]}")
    journal = ActionJournal(state)
    rows = [(e["done_at"], e["event"]["sent"]) for e in journal.entries()]
    journal.close()
    acted = [done - sent for done, sent in rows]
    bare = [float(x) for x in raw.read_text().split()]
    first = min(sent for _, sent in rows)
    return {
        "published": count,
        "publish_rate": achieved,
        "acted": len(rows),
        "throughput": len(rows) / (max(done for done, _ in rows) - first),
        "p50_ms": pct(acted, 50),
        "p95_ms": pct(acted, 95),
        "ref_received": len(bare),
        "ref_p50_ms": pct(bare, 50),
        "ref_p95_ms": pct(bare, 95),
    }


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--reference":
        reference(sys.argv[2], sys.argv[3], sys.argv[4], idle=3.0)
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--url", default=os.environ.get("HPCSCHED_BUS_URL"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        server = None
        url = args.url
        if not url:
            url, server = own_broker(folder)
        try:
            got = measure(url.rstrip("/"), folder, args.rate, args.seconds)
        finally:
            if server is not None:
                os.kill(server.pid, signal.SIGTERM)
                server.wait(10)
    print(f"broker {url}{' (started here)' if server else ''}")
    print(
        f"published {got['published']:,} events at {got['publish_rate']:,.0f}/s; the agent acted "
        f"on {got['acted']:,} at {got['throughput']:,.0f} events/s"
    )
    print(
        f"event -> action (journaled): p50 {got['p50_ms']:.2f} ms, p95 {got['p95_ms']:.2f} ms; "
        f"bare publish -> consume: p50 {got['ref_p50_ms']:.2f} ms, p95 {got['ref_p95_ms']:.2f} "
        f"ms ({got['ref_received']:,} received); p95 ratio "
        f"{got['p95_ms'] / max(got['ref_p95_ms'], 1e-9):.2f}"
    )
    print(json.dumps(got))


if __name__ == "__main__":
    main()
