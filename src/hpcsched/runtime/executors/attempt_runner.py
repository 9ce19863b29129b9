"""Runs one attempt: the code both executors share, so that an attempt behaves the same wherever
it runs.

Input and output are plain JSON-able dicts (:func:`attempt_spec` in, a dict that
``TaskResult.model_validate`` accepts out) so the same function ships to a process-pool worker or
a Dask worker. A command runs as its own process group in a new session so that a timeout or a
cancel kills everything it started. A callable runs in the calling process, unless it has a
timeout: then it runs in a child ``python -m hpcsched.runtime.executors.attempt_runner`` that can
be killed like a command. Input/output hashing is the pilot's; ``inputs``/``outputs`` stay empty.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpcsched.campaigns.task import Task
from hpcsched.runtime.executors.oom_record import kernel_killed_since, oom_kills

if TYPE_CHECKING:
    from hpcsched.runtime.executors.base import Attempt

TAIL_LINES = 20
TAIL_CHARS = 2000
MODULE = "hpcsched.runtime.executors.attempt_runner"
_OOM_MARKERS = ("memoryerror", "cannot allocate memory", "bad_alloc", "out of memory")

_imports: dict[str, Callable[..., Any]] = {}
# The current directory and os.environ belong to the whole process, so in-process callables take
# turns (one at a time per process; a pool worker or a 1-thread Dask worker runs one anyway).
_inside_lock = threading.Lock()
# Running commands by attempt key, so another thread can kill them; ``_cancelled`` also holds keys
# cancelled before their Popen, which closes the gap between a thread picking an attempt up and
# the process existing.
_registry_lock = threading.Lock()
_running: dict[str, subprocess.Popen[bytes]] = {}
_cancelled: set[str] = set()


def attempt_spec(attempt: Attempt) -> dict[str, Any]:
    """The JSON-able description of an attempt that :func:`run_attempt` takes."""
    return {
        "key": attempt.key,
        "task": attempt.task.model_dump(mode="json"),
        "attempt": attempt.number,
        "workdir": str(attempt.workdir),
    }


def outcome(
    task_id: str, attempt: int, reason: str, message: str, start: float | None = None
) -> dict[str, Any]:
    """A failed result made by an executor itself (cancelled before it ran, worker lost)."""
    spec = {"task": {"id": task_id}, "attempt": attempt}
    return _result(spec, time.time() if start is None else start, reason=reason, message=message)


def cancel(*keys: str, remember: bool = True) -> int:
    """Kill the process groups of the commands running under ``keys`` in this process.

    With ``remember`` a key not started yet is refused when it starts (the caller must
    :func:`forget` it once its result is in); without, only running commands are touched (Dask
    broadcasts this to every worker). Returns how many process groups were signalled.
    """
    killed = 0
    with _registry_lock:
        for key in keys:
            process = _running.get(key)
            if process is not None or remember:
                _cancelled.add(key)  # so the run reports "cancelled", not an unexplained SIGKILL
            if process is not None and _kill_group(process):
                killed += 1
    return killed


def forget(key: str) -> None:
    """Drop a cancel mark once the attempt's result is collected."""
    with _registry_lock:
        _cancelled.discard(key)


def run_attempt(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one attempt to its end and describe it: a failing task is a result, not an error."""
    task = Task.model_validate(spec["task"])
    try:
        if task.command is not None:
            return _run_command(spec, task, task.command)
        if task.timeout is not None:
            return _run_isolated(spec, task)
        return _run_callable(spec, task)
    finally:
        with _registry_lock:
            _running.pop(spec["key"], None)
            _cancelled.discard(spec["key"])


def _result(spec: dict[str, Any], start: float, **fields: Any) -> dict[str, Any]:
    return {
        "task_id": spec["task"]["id"],
        "attempt": spec["attempt"],
        "ok": False,
        "start": start,
        "end": time.time(),
        "host": socket.gethostname(),
    } | fields


def _environment(spec: dict[str, Any], task: Task) -> dict[str, str]:
    return task.env | {
        "HPCSCHED_TASK_ID": task.id,
        "HPCSCHED_ATTEMPT": str(spec["attempt"]),
        "HPCSCHED_WORKDIR": spec["workdir"],
    }


def _kill_group(process: subprocess.Popen[bytes]) -> bool:
    # poll() first: once the leader is reaped its pid (the group id) may belong to someone else.
    if process.poll() is not None:
        return False
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
        return True
    return False


def _run_command(spec: dict[str, Any], task: Task, command: str) -> dict[str, Any]:
    key, workdir, start = spec["key"], Path(spec["workdir"]), time.time()
    if task.mem > 0:
        # No preexec_fn (unsafe in a threaded process): the shell lowers its own limit first and
        # everything it starts inherits it.
        command = f"ulimit -v {max(1, int(task.mem // 1024))} || exit 125\n{command}"
    oom_before = oom_kills()
    with (workdir / "stdout.txt").open("wb") as out, (workdir / "stderr.txt").open("wb") as err:
        with _registry_lock:
            if key in _cancelled:
                return _result(spec, start, reason="cancelled", message="cancelled before it ran")
            try:
                process = subprocess.Popen(
                    command,
                    shell=True,
                    cwd=workdir,
                    start_new_session=True,
                    stdout=out,
                    stderr=err,
                    env=os.environ | _environment(spec, task),
                )
            except OSError as exc:
                return _result(spec, start, reason="exit", message=f"cannot start: {exc}")
            _running[key] = process
        timed_out = False
        try:
            process.wait(timeout=task.timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(process)
            process.wait()
    with _registry_lock:
        _running.pop(key, None)
        cancelled = key in _cancelled
    code, tail = process.returncode, _tail(workdir / "stderr.txt")
    done = functools.partial(_result, spec, start, exit_code=code, stderr_tail=tail)
    if cancelled:
        return done(reason="cancelled", message="cancelled")
    if timed_out:
        return done(reason="timeout", message=f"killed after {task.timeout:g} s (timeout)")
    if code == 0:
        return done(ok=True)
    # Out of memory only on evidence: the task's own limit was hit (ulimit -v makes allocations
    # fail, which the program reports), or the kernel counted an OOM kill while it ran. Any other
    # SIGKILL came from outside (an operator, a health check); a shell that did not exec its last
    # command reports a signal as 128 + N.
    signalled = -code if code < 0 else code - 128 if code > 128 else 0
    if signalled == signal.SIGKILL and kernel_killed_since(oom_before):
        return done(reason="out-of-memory", message="killed by the kernel's OOM killer")
    if task.mem > 0 and _looks_oom(tail):
        return done(reason="out-of-memory", message=f"exit status {code} (memory limit)")
    if code < 0 or signalled == signal.SIGKILL:
        number = f"{signalled} ({_signal_name(signalled)})"
        outside = " from outside" if signalled == signal.SIGKILL else ""
        return done(reason="signal", message=f"killed by signal {number}{outside}")
    if signalled and _signal_name(signalled).startswith("SIG"):  # or a script's own exit 130
        name = _signal_name(signalled)
        return done(reason="exit", message=f"exit status {code} (signal {name}?)")
    return done(reason="exit", message=f"exit status {code}")


def _run_isolated(spec: dict[str, Any], task: Task) -> dict[str, Any]:
    """A callable with a timeout: run it in a child Python that can be killed like a command."""
    with tempfile.TemporaryDirectory(prefix="hpcsched-attempt-") as scratch:
        spec_path, result_path = Path(scratch, "spec.json"), Path(scratch, "result.json")
        spec_path.write_text(json.dumps(spec))
        child = shlex.join([sys.executable, "-m", MODULE, str(spec_path), str(result_path)])
        ran = _run_command(spec, task, child)
        if ran.get("reason") in ("timeout", "cancelled") or not result_path.exists():
            return ran  # killed, or the child died before it could report (its stderr says why)
        # The outer times include the child's start-up: that is what the attempt cost.
        inner: dict[str, Any] = json.loads(result_path.read_text())
        return inner | {"start": ran["start"], "end": ran["end"]}


def _run_callable(spec: dict[str, Any], task: Task) -> dict[str, Any]:
    start = time.time()
    assert task.callable is not None
    try:
        function = _resolve(task.callable)
        with _inside(Path(spec["workdir"]), _environment(spec, task)):
            value = function(*task.args, **task.kwargs)
    except (Exception, SystemExit) as exc:
        exit_code = exc.code if isinstance(exc, SystemExit) and isinstance(exc.code, int) else 1
        reason = "out-of-memory" if isinstance(exc, MemoryError) else "exit"
        lines = str(exc).strip().splitlines()
        message = type(exc).__name__ + (f": {lines[0][:300]}" if lines else "")
        tail = _last(traceback.format_exc())
        return _result(
            spec, start, exit_code=exit_code, reason=reason, message=message, stderr_tail=tail
        )
    try:
        # Round-trip so that every path returns the same thing (a tuple becomes a list).
        value = json.loads(json.dumps(value))
    except (TypeError, ValueError) as exc:
        message = f"the return value ({type(value).__name__}) is not JSON-serialisable: {exc}"
        return _result(spec, start, exit_code=None, reason="exit", message=message)
    return _result(spec, start, ok=True, value=value, exit_code=0)


def _resolve(name: str) -> Callable[..., Any]:
    function = _imports.get(name)
    if function is None:
        module_name, _, attribute = name.partition(":")
        function = getattr(importlib.import_module(module_name), attribute)
        if not callable(function):
            raise TypeError(f"{name} is not callable")
        _imports[name] = function
    return function


@contextlib.contextmanager
def _inside(workdir: Path, env: dict[str, str]) -> Iterator[None]:
    with _inside_lock:
        previous_dir = os.getcwd()
        previous_env = {name: os.environ.get(name) for name in env}
        os.environ.update(env)
        try:
            os.chdir(workdir)
            yield
        finally:
            os.chdir(previous_dir)
            for name, value in previous_env.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def _looks_oom(tail: str) -> bool:
    lowered = tail.lower()
    return any(marker in lowered for marker in _OOM_MARKERS)


def _last(text: str) -> str:
    return "\n".join(text.rstrip("\n").splitlines()[-TAIL_LINES:])[-TAIL_CHARS:]


def _tail(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 64 * TAIL_CHARS))
            return _last(handle.read().decode(errors="replace"))
    except OSError:
        return ""


def main(argv: list[str]) -> int:
    """The child of :func:`_run_isolated`: run the callable, write its result atomically."""
    spec_path, result_path = argv
    spec = json.loads(Path(spec_path).read_text())
    result = _run_callable(spec, Task.model_validate(spec["task"]))
    partial = Path(f"{result_path}.partial")
    partial.write_text(json.dumps(result))
    partial.replace(result_path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
