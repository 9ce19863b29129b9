"""Whether the kernel's OOM killer killed something in our cgroup: its ``oom_kill`` counter.

A process killed by SIGKILL is out of memory only if the kernel says so; a SIGKILL from an
operator, a node health check or another tool is not. The kernel counts its OOM kills per memory
cgroup: ``oom_kill`` in ``memory.events`` (cgroup v2, "Control Group v2", Linux admin guide) or in
``memory.oom_control`` (cgroup v1, since Linux 4.13). An attempt reads the counter before it starts
and after it ends; a rise means the kernel killed a process of this cgroup meanwhile (on a shared
node possibly a neighbour's, the best a process can know without reading the kernel log).
"""

from __future__ import annotations

from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def _candidates(proc_cgroup: str) -> list[Path]:
    files: list[Path] = []
    for line in proc_cgroup.splitlines():
        number, controllers, path = [*line.split(":", 2), "", ""][:3]
        rel = path.lstrip("/")
        if number == "0" and not controllers:  # v2: the one unified hierarchy
            files += [CGROUP_ROOT / rel / "memory.events", CGROUP_ROOT / "memory.events"]
        elif "memory" in controllers.split(","):  # v1: the memory controller's hierarchy
            base = CGROUP_ROOT / "memory"
            files += [base / rel / "memory.oom_control", base / "memory.oom_control"]
    return files


def oom_kills() -> int | None:
    """The kernel's count of OOM kills in this process's memory cgroup, or None (unknown)."""
    try:
        proc_cgroup = Path("/proc/self/cgroup").read_text()
    except OSError:
        return None
    for file in _candidates(proc_cgroup):
        try:
            text = file.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill" and value.strip().isdigit():
                return int(value)
    return None


def kernel_killed_since(before: int | None) -> bool:
    """Whether the kernel recorded an OOM kill since ``before`` (from :func:`oom_kills`)."""
    after = oom_kills()
    return before is not None and after is not None and after > before
