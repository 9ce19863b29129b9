"""Stop what a killed pilot left running, and nothing else.

A pilot killed with SIGKILL cannot stop its children; a command it started keeps running in its
own session. Before a restart retries such an attempt, the process groups of that attempt are
killed. Only attempts the journal records as started and unfinished are candidates, and a process
belongs to one when its environment names it (``HPCSCHED_TASK_ID`` + ``HPCSCHED_ATTEMPT`` +
``HPCSCHED_WORKDIR`` under this run's staging root, set by the attempt runner and inherited by
everything the command starts) or when its current directory is that attempt's own folder. A
process of another run, or of another attempt of this one, is never touched (Linux ``/proc``;
elsewhere this is a no-op and the retry may overlap the orphan, which staging keeps harmless).
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterable
from pathlib import Path


def kill_orphans(run_dir: Path, attempts: Iterable[tuple[str, int]]) -> int:
    """Kill the process groups of the journal's unfinished ``attempts``; returns how many."""
    from hpcsched.runtime.staging import attempt_dir

    proc = Path("/proc")
    live = set(attempts)
    staging = Path(run_dir, "attempts")
    if not proc.is_dir() or not live or not staging.exists():
        return 0
    root = str(staging.resolve())
    folders = {str(attempt_dir(run_dir, tid, n).resolve()) for tid, n in live}
    me = os.getpgrp()
    groups: set[int] = set()
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if _ours(entry, root, folders, live):
                group = os.getpgid(int(entry.name))
                if group != me:
                    groups.add(group)
    for group in groups:
        with contextlib.suppress(OSError):
            os.killpg(group, signal.SIGKILL)
    return len(groups)


def _ours(entry: Path, root: str, folders: set[str], live: set[tuple[str, int]]) -> bool:
    cwd = os.readlink(entry / "cwd")
    if any(cwd == folder or cwd.startswith(folder + os.sep) for folder in folders):
        return True
    items = (entry / "environ").read_bytes().split(b"\0")
    env = dict(item.split(b"=", 1) for item in items if b"=" in item)
    workdir = env.get(b"HPCSCHED_WORKDIR", b"").decode(errors="replace")
    if workdir != root and not workdir.startswith(root + os.sep):
        return False
    task_id = env.get(b"HPCSCHED_TASK_ID", b"").decode(errors="replace")
    try:
        number = int(env.get(b"HPCSCHED_ATTEMPT", b""))
    except ValueError:
        return False
    return (task_id, number) in live
