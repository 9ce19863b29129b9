"""Stop what a killed pilot left running.

A pilot killed with SIGKILL cannot stop its children; a command it started keeps running in its
own session. Before a restart retries such an attempt, every process whose current directory is
inside this run's staging area is killed with its process group (Linux ``/proc``; elsewhere this
is a no-op and the retry may overlap the orphan, which staging keeps harmless).
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path


def kill_orphans(staging_root: Path) -> int:
    """Kill the process groups whose members work under ``staging_root``; returns how many."""
    proc = Path("/proc")
    if not proc.is_dir() or not staging_root.exists():
        return 0
    root = str(staging_root.resolve())
    me = os.getpgrp()
    groups: set[int] = set()
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            cwd = os.readlink(entry / "cwd")
            if cwd == root or cwd.startswith(root + os.sep):
                group = os.getpgid(int(entry.name))
                if group != me:
                    groups.add(group)
    for group in groups:
        with contextlib.suppress(OSError):
            os.killpg(group, signal.SIGKILL)
    return len(groups)
