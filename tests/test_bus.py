"""The bus itself: addresses, `hpcsched bus serve`, at-least-once publishing with de-duplication,
a broker that goes away (and comes back) during a run, and the watch events' sink."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hpcsched.bus.address import AddressError, parse_address
from hpcsched.bus.consumer import TailOptions, run_sync, tail
from hpcsched.bus.publisher import JetStreamPublisher
from hpcsched.runtime.events_bus import BusEventSink, open_event_sink

from bus_support import free_port, fresh_subject, require_bus

CLI = [sys.executable, "-c", "from hpcsched.cli import main; main()"]


def hpcsched(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=cwd, timeout=timeout)


def read_all(url: str) -> list[dict[str, object]]:
    seen: list[dict[str, object]] = []
    run_sync(tail(parse_address(url), TailOptions(), lambda _, data: seen.append(json.loads(data))))
    return seen


def test_addresses() -> None:
    where = parse_address("nats://127.0.0.1:4300/run1.step")
    assert (where.server, where.subject) == ("nats://127.0.0.1:4300", "hpcsched.events.run1.step")
    assert parse_address("nats://h", default="watch").subject == "hpcsched.events.watch"
    assert parse_address("nats://h/>", wildcards=True).subject == "hpcsched.events.>"
    for bad, why in [
        ("http://h:1/x", "not a bus address"),
        ("nats://h:1", "no subject"),
        ("nats://h:1/a.>", "not allowed"),  # wildcards only where reading
        ("nats://h:1/>.a", "not allowed"),
        ("nats://h:99999/x", "port"),
    ]:
        with pytest.raises(AddressError, match=why):
            parse_address(bad, wildcards=bad.endswith(">.a"))


def test_ci_without_a_bus_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HPCSCHED_BUS_URL", raising=False)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="HPCSCHED_BUS_URL is not set"):
        require_bus()


def test_serve_on_a_taken_port_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = hpcsched("bus", "serve", "--port", str(port), "--store", "log", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"hpcsched: error: 127.0.0.1:{port} is already in use (another bus or server listens "
        "there): stop it or pick another --port"
    ]


@pytest.mark.bus
def test_a_resend_is_stored_once(bus_url: str) -> None:
    # at-least-once: the same message id twice (an ack lost, the message sent again) is one
    # message in the log, JetStream's duplicate window
    url = f"{bus_url}/{fresh_subject('dedup')}"
    where = parse_address(url)
    publisher = JetStreamPublisher(where.server)
    publisher.start()
    for n in (1, 2, 1, 3, 2):
        msg_id = f"{where.suffix}-{n}"  # the window is the stream's: ids are unique across runs
        assert publisher.publish(where.subject, json.dumps({"n": n}).encode(), msg_id)
    stats = publisher.close()
    assert (stats.submitted, stats.acked, stats.undelivered) == (5, 5, 0)
    assert [e["n"] for e in read_all(url)] == [1, 2, 3]


@pytest.mark.bus
def test_watch_events_go_to_the_bus(bus_url: str) -> None:
    subject = fresh_subject("watch")
    sink = open_event_sink(f"{bus_url}/{subject}", source="watch")
    assert isinstance(sink, BusEventSink)
    with sink:
        sent = sink.emit("watch-pass", {"user": "u", "following": ["7"], "ended": []})
    assert sink.report() is None
    assert read_all(f"{bus_url}/{subject}") == [sent]
    assert sent["source"] == "watch" and sent["event_id"]


# -- a broker of this test's own, stopped and started during a run ------------------------------

SLOW = """\
jobs:
  - {id: first, command: "sleep 0.2"}
  - {id: second, command: "sh -c 'touch {folder}/second-started; sleep 2'", depends: [first]}
  - {id: third, command: "sleep 1", depends: [second]}
  - {id: last, command: "true", depends: [third]}
"""


class OwnBroker:
    def __init__(self, store: Path) -> None:
        self.port, self.store = free_port(), store
        self.url = f"nats://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        argv = [*CLI, "bus", "serve", "--port", str(self.port), "--store", str(self.store)]
        self.process = subprocess.Popen(argv, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    if s.makefile("rb").readline().startswith(b"INFO "):
                        return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"hpcsched bus serve did not answer on {self.url}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)  # the server we started, by its pid
            self.process.wait(10)


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[OwnBroker]:
    broker = OwnBroker(tmp_path / "store")
    broker.start()
    yield broker
    broker.stop()


def wait_for(path: Path, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def start_run(folder: Path, target: str) -> subprocess.Popen[str]:
    folder.mkdir()
    (folder / "wf.yaml").write_text(SLOW.replace("{folder}", str(folder)))
    argv = [*CLI, "run", "wf.yaml", "--cpus", "1", "--events", target]
    return subprocess.Popen(
        argv, cwd=folder, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )


@pytest.mark.bus
def test_a_broker_that_goes_away_costs_events_not_the_run(
    own_broker: OwnBroker, tmp_path: Path
) -> None:
    run = start_run(tmp_path / "run", f"{own_broker.url}/gone")
    wait_for(tmp_path / "run" / "second-started")
    own_broker.stop()
    _, err = run.communicate(timeout=60)
    assert run.returncode == 0  # every task succeeded
    lost = [line for line in err.splitlines() if "not delivered" in line]
    assert len(lost) == 1 and lost[0].startswith(f"--events {own_broker.url}/gone: ")
    undelivered, total = (int(w) for w in lost[0].split(": ")[1].split(" events")[0].split(" of "))
    assert 0 < undelivered < total  # what came before the broker went is in its log


@pytest.mark.bus
def test_a_broker_that_comes_back_gets_every_event_once(
    own_broker: OwnBroker, tmp_path: Path
) -> None:
    target = f"{own_broker.url}/back"
    run = start_run(tmp_path / "run", target)
    wait_for(tmp_path / "run" / "second-started")
    own_broker.stop()
    time.sleep(0.5)
    own_broker.start()  # the same store: the log kept what it had
    _, err = run.communicate(timeout=60)
    assert run.returncode == 0 and "not delivered" not in err
    events = read_all(target)
    ids = [e["event_id"] for e in events]
    assert len(ids) == len(set(ids)) == 14  # run, 4 x (submitted, started, finished), run end
    assert {e["event"] for e in events} >= {"run-started", "task-finished", "run-finished"}


def test_serve_says_where_it_listens_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    argv = [*CLI, "bus", "serve", "--port", str(port), "--store", str(tmp_path / "log")]
    server = subprocess.Popen(
        argv,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as from a terminal
    )
    try:
        assert server.stderr is not None
        first = server.stderr.readline().strip()
        assert first == (
            f"bus on nats://127.0.0.1:{port} (JetStream, log in {tmp_path / 'log'}; "
            "Ctrl-C stops it)"
        )
        deadline = time.monotonic() + 20
        while not (tmp_path / "log" / "jetstream").is_dir():
            assert time.monotonic() < deadline, "no JetStream store was made"
            time.sleep(0.05)
    finally:
        server.send_signal(signal.SIGINT)  # the server we started, by its pid
        server.communicate(timeout=20)
    assert server.returncode == 0
