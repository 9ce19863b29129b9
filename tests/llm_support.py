"""The real language model the ``llm``-marked tests use (``scripts/llm-local.sh start``).

The endpoint is ``$HPCSCHED_LLM_URL`` (``.ci/run`` exports it after starting the local server).
Without one that answers, the tests are skipped with the one-line reason; under ``CI=true`` they
fail, as the data and Slurm tests do.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import pytest

from hpcsched.llm import LLMSettings, load_settings

STATE_DIR = Path(os.environ.get("HPCSCHED_LLM_STATE", "/tmp/hpcsched-llm"))
#: Generous limits: a 135M model on 2 shared cores, grammar-constrained, is slow but must finish.
TIMEOUT_S = 240.0
DEADLINE_S = 300.0


#: how long a busy server may take to answer ``/models`` (llama-cpp-python's server answers
#: after the generation it is running, e.g. one an earlier test abandoned at its deadline)
BUSY_S = 90.0


def _answers(url: str) -> str | None:
    """None when ``url/models`` answers 200; a refused connection fails at once, a read timeout
    (a server busy generating) is retried until :data:`BUSY_S`."""
    give_up = time.monotonic() + BUSY_S
    while True:
        try:
            status = httpx.get(url.rstrip("/") + "/models", timeout=10.0).status_code
            return None if status == 200 else f"{url}/models answered HTTP {status}"
        except httpx.ReadTimeout:
            if time.monotonic() > give_up:
                return f"{url}/models did not answer within {BUSY_S:g} s: ReadTimeout"
        except httpx.HTTPError as exc:
            return f"{url}/models did not answer: {type(exc).__name__}"


def require_llm() -> LLMSettings:
    """The live endpoint's settings, else skip (fail under CI=true) with the reason."""
    url = os.environ.get("HPCSCHED_LLM_URL")
    reason = None
    if not url:
        reason = "HPCSCHED_LLM_URL is not set (start the local model: scripts/llm-local.sh start)"
    else:
        reason = _answers(url)
    if reason is None:
        env = {k: v for k, v in os.environ.items() if k != "HPCSCHED_CONFIG"}
        env["HPCSCHED_CONFIG"] = "/nonexistent"  # the endpoint under test, not a user's file
        return load_settings({"timeout": TIMEOUT_S, "deadline": DEADLINE_S}, env=env)
    log = STATE_DIR / "server.log"
    if log.exists():
        reason += f" (server log: {log})"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"no language model: {reason}")
    pytest.skip(f"no language model: {reason}")
