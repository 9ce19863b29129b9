"""Running `hpcsched run` as a user would, and hurting it: shared by the runtime fault tests and
``benchmarks/faults.py``.

Every workflow here appends one line per execution of a task body to a ledger file outside the run
folder, so "lost" and "run twice" are read from what really ran, not from the journal.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

CLI = [sys.executable, "-c", "from hpcsched.cli import main; main()"]


def hpcsched(*args: str, timeout: float = 120, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, **kw)


def start(*args: str, **kw: Any) -> subprocess.Popen[str]:
    """``hpcsched run ...`` in the background (its pid is the pilot's)."""
    return subprocess.Popen(
        [*CLI, "run", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def final_json(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def status(run_dir: Path) -> dict[str, Any] | None:
    """``status --json``, or None when it refuses the journal (or there is none yet)."""
    proc = hpcsched("status", str(run_dir), "--json")
    return final_json(proc) if proc.returncode == 0 else None


def ledger_workflow(folder: Path, tasks: int, sleep: float = 0.15, *, tail: str = "") -> Path:
    """``tasks`` independent shell tasks, each appending its id to ``ledger.txt`` *after* its
    sleep (a body killed mid-sleep leaves no line; a body that ran leaves exactly one) and writing
    a declared output. ``tail``: the body of one more task, run after all of them."""
    ledger = folder / "ledger.txt"
    lines = ["jobs:"]
    for i in range(tasks):
        body = f"sleep {sleep}; echo t{i} >> {ledger}; echo t{i} > t{i}.out"
        lines += [f"  - id: t{i}", f'    command: "{body}"', f"    outputs: [t{i}.out]"]
    if tail:
        needs = ", ".join(f"t{i}" for i in range(tasks))
        lines += ["  - id: tail", f'    command: "{tail}"', f"    depends: [{needs}]"]
    wf = folder / "wf.yaml"
    wf.write_text("\n".join(lines) + "\n")
    return wf


def ledger(folder: Path) -> Counter[str]:
    path = folder / "ledger.txt"
    return Counter(path.read_text().split()) if path.exists() else Counter()


def wait_for(condition: Callable[[], bool], timeout: float, every: float = 0.05) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(every)
    return condition()


def kill(proc: subprocess.Popen[str]) -> None:
    """SIGKILL the pilot (its commands, in sessions of their own, live on as orphans)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)


def tally(folder: Path, tasks: int, before: Counter[str]) -> dict[str, int]:
    """Lost: a task whose body never completed. Run twice after it finished: a task whose body
    completed again after a completion recorded before the fault (``before``)."""
    now = ledger(folder)
    lost = sum(1 for i in range(tasks) if now[f"t{i}"] == 0)
    again = sum(1 for tid, n in before.items() if n >= 1 and now[tid] > n)
    return {"lost": lost, "run_twice": again}


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (Linux ``/proc``)."""
    parent: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = (entry / "stat").read_text()
                parent[int(entry.name)] = int(stat[stat.rindex(")") + 2 :].split()[1])
    found, frontier = [], [pid]
    while frontier:
        here = frontier.pop()
        kids = [child for child, up in parent.items() if up == here]
        found += kids
        frontier += kids
    return found


def finished_in_journal(run_dir: Path) -> set[str]:
    """The tasks the journal durably records as succeeded (empty if it cannot be read)."""
    from hpcsched.runtime.journal import JournalError, read_journal

    try:
        record = read_journal(run_dir)
    except JournalError:
        return set()
    return {tid for tid, rec in record.tasks.items() if rec.state == "succeeded"}


# -- one trial per fault ------------------------------------------------------------------------
# Each returns {"runs": hpcsched run processes started, "lost": tasks whose body never completed,
# "run_twice": tasks whose body ran again after the journal recorded them finished,
# "refused": runs refused with one line (a lock held, a damaged journal)}.

TASKS = 12
RUN = ("--cpus", "2", "--json")


def _finish(folder: Path, wf: Path, out: dict[str, int], *, force: bool = False) -> None:
    """Run again until the run ends (the fault is over)."""
    for _ in range(12):
        proc = hpcsched("run", str(wf), *RUN, *(("--force",) if force else ()))
        out["runs"] += 1
        if proc.returncode in (0, 1):
            return
        if proc.returncode == 2:
            out["refused"] += 1
            if "--force" in proc.stderr and not force:
                force = True  # the journal was refused: accepting the loss is the user's call
                continue
        assert proc.returncode in (-9, 2), proc.stderr


def _killed_run(folder: Path, wf: Path, rng: Any, out: dict[str, int]) -> set[str]:
    """Start a run, SIGKILL it at a random moment; returns what its journal says finished."""
    proc = start(str(wf), *RUN)
    out["runs"] += 1
    # a random moment while tasks run: after a random number more of them completed
    target = sum(ledger(folder).values()) + rng.randint(1, 4)
    wait_for(lambda: sum(ledger(folder).values()) >= target, timeout=60, every=0.01)
    time.sleep(rng.uniform(0.0, 0.1))
    kill(proc)
    return finished_in_journal(folder / "wf.run")


def trial_kill_runtime(folder: Path, rng: Any) -> dict[str, int]:
    wf = ledger_workflow(folder, TASKS)
    out = {"runs": 0, "lost": 0, "run_twice": 0, "refused": 0}
    done: set[str] = set()
    marks: Counter[str] = Counter()
    for _ in range(2):
        done |= _killed_run(folder, wf, rng, out)
        marks = ledger(folder)
    _finish(folder, wf, out)
    return out | _counted(folder, done, marks)


def _counted(folder: Path, done: set[str], marks: Counter[str]) -> dict[str, int]:
    now = ledger(folder)
    lost = sum(1 for i in range(TASKS) if now[f"t{i}"] == 0)
    return {"lost": lost, "run_twice": sum(1 for tid in done if now[tid] > marks[tid])}


def trial_kill_worker(folder: Path, rng: Any) -> dict[str, int]:
    """SIGKILL a random process the run started (a command's shell, a pool worker)."""
    wf = ledger_workflow(folder, TASKS, sleep=0.2)
    wf.write_text(wf.read_text().replace("    outputs:", "    retries: 3\n    outputs:"))
    out = {"runs": 1, "lost": 0, "run_twice": 0, "refused": 0}
    proc = start(str(wf), *RUN)
    for _ in range(2):
        wait_for(lambda: bool(descendants(proc.pid)), timeout=60, every=0.02)
        time.sleep(rng.uniform(0.0, 0.3))
        victims = descendants(proc.pid)
        if victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(rng.choice(victims), signal.SIGKILL)
    proc.communicate(timeout=120)
    if proc.returncode not in (0, 1):
        _finish(folder, wf, out)
    return out | _counted(folder, set(), Counter())


def trial_kill_parent(folder: Path, rng: Any) -> dict[str, int]:
    """One task kills its parent (the runtime) once, after a random delay."""
    wf = ledger_workflow(folder, TASKS)
    victim = rng.randrange(TASKS)
    once = f"[ -e {folder}/killed ] || {{ touch {folder}/killed; kill -9 $PPID; }}"
    text = wf.read_text().replace(
        f'command: "sleep 0.15; echo t{victim} ',
        f'command: "sleep {rng.uniform(0, 0.3):.2f}; {once}; echo t{victim} ',
    )
    wf.write_text(text)
    out = {"runs": 0, "lost": 0, "run_twice": 0, "refused": 0}
    _finish(folder, wf, out)
    return out | _counted(folder, set(), Counter())


def trial_concurrent(folder: Path, rng: Any) -> dict[str, int]:
    """Two runs on one directory, started a random fraction of a second apart."""
    wf = ledger_workflow(folder, TASKS)
    first = start(str(wf), *RUN)
    time.sleep(rng.uniform(0.0, 0.8))
    second = hpcsched("run", str(wf), *RUN)
    first.communicate(timeout=120)
    # whichever takes the lock first runs; the other is refused
    refused = int(first.returncode == 2) + int(second.returncode == 2)
    out = {"runs": 2, "lost": 0, "run_twice": 0, "refused": refused}
    now = ledger(folder)
    return out | {
        "lost": sum(1 for i in range(TASKS) if now[f"t{i}"] == 0),
        "run_twice": sum(1 for n in now.values() if n > 1),
    }


def _wal_trial(folder: Path, rng: Any, damage: Callable[[Path], None]) -> dict[str, int]:
    wf = ledger_workflow(folder, TASKS)
    out = {"runs": 0, "lost": 0, "run_twice": 0, "refused": 0}
    done = _killed_run(folder, wf, rng, out)
    marks = ledger(folder)
    wal = folder / "wf.run" / "journal.sqlite-wal"
    if wal.exists():
        damage(wal)
    # without --force: refused, or (nothing lost) resumed; either way nothing finished runs again
    proc = hpcsched("run", str(wf), *RUN)
    out["runs"] += 1
    out["refused"] += int(proc.returncode == 2)
    result = _counted(folder, done, marks)
    if proc.returncode not in (0, 1):
        _finish(folder, wf, out, force=proc.returncode == 2)
    return out | {"run_twice": result["run_twice"], "lost": _counted(folder, done, marks)["lost"]}


def trial_wal_deleted(folder: Path, rng: Any) -> dict[str, int]:
    return _wal_trial(folder, rng, lambda wal: wal.unlink())


def trial_wal_corrupted(folder: Path, rng: Any) -> dict[str, int]:
    def corrupt(wal: Path) -> None:
        size = wal.stat().st_size
        if size > 32:
            with wal.open("r+b") as f:
                f.seek(rng.randrange(32, size))
                f.write(os.urandom(64))

    return _wal_trial(folder, rng, corrupt)


def trial_disk_full(folder: Path, rng: Any) -> dict[str, int]:
    """The journal's files may not grow past a random size (``RLIMIT_FSIZE``): a full disk."""
    import resource

    limit = rng.randrange(40_000, 120_000)

    def small_disk() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    wf = ledger_workflow(folder, TASKS)
    out = {"runs": 1, "lost": 0, "run_twice": 0, "refused": 0}
    proc = subprocess.run(
        [*CLI, "run", str(wf), *RUN],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=small_disk,  # only sets a limit in the child
    )
    full = proc.returncode == 2 and "cannot write the journal" in proc.stderr
    assert proc.returncode in (0, 1) or full, proc.stderr
    out["refused"] += int(full)
    done = finished_in_journal(folder / "wf.run")
    marks = ledger(folder)
    if full:
        _finish(folder, wf, out)
    return out | _counted(folder, done, marks)


TRIALS: dict[str, Callable[[Path, Any], dict[str, int]]] = {
    "SIGKILL runtime": trial_kill_runtime,
    "SIGKILL worker": trial_kill_worker,
    "task kills parent": trial_kill_parent,
    "two concurrent runs": trial_concurrent,
    "-wal deleted": trial_wal_deleted,
    "-wal corrupted": trial_wal_corrupted,
    "disk full (journal)": trial_disk_full,
}
