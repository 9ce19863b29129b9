"""The process a Slurm job step or batch job runs: one attempt, through the shared attempt runner.

``python -m hpcsched.runtime.executors.slurm_runner SPEC.json RESULT.json`` reads an
:func:`~hpcsched.runtime.executors.attempt_runner.attempt_spec`, runs it with
:func:`~hpcsched.runtime.executors.attempt_runner.run_attempt` (so a command, a callable, a
timeout, an exit status or an out-of-memory behave exactly as under the local executor) and writes
the result atomically, so the executor never reads half a file. ``attempt_runner``'s own ``main``
runs only callables, hence this small entry point.

On SIGTERM (``scancel`` signals every process of the job, then SIGKILLs after ``KillWait``) it
kills the command's process group, which runs in a session of its own, and exits; the executor
reports the attempt as cancelled.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from hpcsched.runtime.executors import attempt_runner

MODULE = "hpcsched.runtime.executors.slurm_runner"


def write_result(path: Path, result: dict[str, Any]) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(result))
    partial.replace(path)


def _on_terminate(key: str) -> Any:
    def handler(signum: int, frame: FrameType | None) -> None:
        # The main thread may hold the registry lock right now: cancel from another thread.
        killer = threading.Thread(target=attempt_runner.cancel, args=(key,))
        killer.start()
        killer.join(timeout=5)
        os._exit(128 + signum)

    return handler


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: python -m {MODULE} SPEC.json RESULT.json", file=sys.stderr)
        return 2
    spec_path, result_path = Path(argv[0]), Path(argv[1])
    spec: dict[str, Any] = json.loads(spec_path.read_text())
    signal.signal(signal.SIGTERM, _on_terminate(spec["key"]))
    write_result(result_path, attempt_runner.run_attempt(spec))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
