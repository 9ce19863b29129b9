"""Out-of-memory only on evidence: the kernel's OOM-kill counter rose, or the task's own memory
limit was hit; otherwise a SIGKILL is a signal from outside."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hpcsched.runtime.executors import attempt_runner, oom_record


def _spec(tmp_path: Path, command: str, **fields: Any) -> dict[str, Any]:
    task = {"id": "victim", "command": command, **fields}
    return {"key": "victim#1", "task": task, "attempt": 1, "workdir": str(tmp_path)}


def test_a_sigkill_the_kernel_counted_is_out_of_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    counts = iter([3, 4])  # before the attempt, after it: the kernel killed one process
    monkeypatch.setattr(oom_record, "oom_kills", lambda: next(counts))
    monkeypatch.setattr(attempt_runner, "oom_kills", oom_record.oom_kills)
    result = attempt_runner.run_attempt(_spec(tmp_path, "kill -9 $$"))
    assert (result["reason"], result["message"]) == (
        "out-of-memory",
        "killed by the kernel's OOM killer",
    )


def test_a_sigkill_the_kernel_did_not_count_is_a_signal_from_outside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(oom_record, "oom_kills", lambda: 3)
    monkeypatch.setattr(attempt_runner, "oom_kills", oom_record.oom_kills)
    result = attempt_runner.run_attempt(_spec(tmp_path, "kill -9 $$"))
    assert (result["reason"], result["message"]) == (
        "signal",
        "killed by signal 9 (SIGKILL) from outside",
    )


def test_out_of_memory_words_count_only_under_a_memory_limit(tmp_path: Path) -> None:
    said = "echo 'fatal: out of memory' >&2; exit 1"
    assert attempt_runner.run_attempt(_spec(tmp_path, said))["reason"] == "exit"
    limited = attempt_runner.run_attempt(_spec(tmp_path, said, mem="4G"))
    assert limited["reason"] == "out-of-memory"


def test_the_counter_is_read_from_cgroup_v1_and_v2_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(oom_record, "CGROUP_ROOT", tmp_path)
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "memory.events").write_text("low 0\nhigh 0\nmax 2\noom 1\noom_kill 7\n")
    v2 = oom_record._candidates("0::/a\n")[0]
    assert v2 == tmp_path / "a" / "memory.events"
    v1 = oom_record._candidates("4:memory:/b\n")[0]
    assert v1 == tmp_path / "memory" / "b" / "memory.oom_control"
