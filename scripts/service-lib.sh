# service-lib.sh -- sourced by llm-local.sh and bus-local.sh: one local server in the background,
# known by its pid file, for hpcsched's tests.
#
# The caller sets NAME (for messages), STATE (pid file and log), URL, PORT_ENV (the variable that
# moves the port), MATCH (grep patterns the server's command line matches, e.g. (-e 'llm serve')),
# SERVE (the server's command, run in the foreground under setsid), START_TIMEOUT and POLL (s),
# START_NOTE (said when starting), and defines `answers` (exit 0 when the server answers) and
# `install` (installs what is missing). Then `service_main "$@"` runs start|stop|status:
# - start: idempotent; prints the URL on stdout (so `export X=$(bash scripts/X-local.sh start)`);
# - stop: signals only the recorded PID, after checking it still runs our server (not a recycled
#   PID); TERM, then KILL after 5 s;
# - status: exit 0 when the recorded server is alive and answers.

PIDFILE=$STATE/server.pid
LOG=$STATE/server.log

say() { printf '[%s %s] %s\n' "$NAME" "$(date +%T)" "$*" >&2; }
die() { printf '%s: %s\n' "$NAME" "$*" >&2; exit 1; }

pid() { [[ -s $PIDFILE ]] && cat "$PIDFILE"; }
alive() {  # the recorded PID still runs our server (guards against a recycled PID)
  local p; p=$(pid) || return 1
  tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q "${MATCH[@]}"
}

service_start() {
  mkdir -p "$STATE"
  if alive; then  # our server: a busy one may be slow to answer (a model generating), so wait
    local t0=$SECONDS
    until answers; do
      alive || break
      (( SECONDS - t0 > START_TIMEOUT )) && die "our server (pid $(pid)) does not answer at $URL within $START_TIMEOUT s (log: $LOG)"
      sleep "$POLL"
    done
    if alive; then say "already running (pid $(pid))"; echo "$URL"; return 0; fi
  fi
  if answers; then die "port $PORT already answers but not through $PIDFILE: stop that server or set $PORT_ENV"; fi
  install
  say "$START_NOTE"
  setsid "${SERVE[@]}" >"$LOG" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  local t0=$SECONDS
  until answers; do
    alive || { tail -20 "$LOG" >&2; die "the server exited during start (log above: $LOG)"; }
    (( SECONDS - t0 > START_TIMEOUT )) && { tail -20 "$LOG" >&2; die "no answer from $URL within $START_TIMEOUT s"; }
    sleep "$POLL"
  done
  say "ready in $((SECONDS - t0)) s (pid $(pid))"
  echo "$URL"
}

service_stop() {
  if ! alive; then rm -f "$PIDFILE"; say "not running"; return 0; fi
  local p; p=$(pid)
  kill -TERM "$p"
  for _ in $(seq 1 50); do alive || break; sleep 0.1; done
  alive && kill -KILL "$p"
  rm -f "$PIDFILE"
  say "stopped (pid $p)"
}

service_status() {
  if alive && answers; then echo "running: $URL (pid $(pid))"; return 0; fi
  if alive; then echo "starting or stuck: pid $(pid), no answer from $URL (log: $LOG)"; return 1; fi
  echo "not running"; return 1
}

service_main() {
  case ${1:-} in
    start) service_start ;;
    stop) service_stop ;;
    status) service_status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
  esac
}
