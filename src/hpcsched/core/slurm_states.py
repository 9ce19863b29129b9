"""The one table from Slurm job state codes to the job table's canonical states.

Source: "JOB STATE CODES" in the squeue and sacct man pages,
https://slurm.schedmd.com/squeue.html#SECTION_JOB-STATE-CODES and
https://slurm.schedmd.com/sacct.html#SECTION_JOB-STATE-CODES (Slurm 22.05, checked against the
man pages shipped by Debian 12's slurm-client). sacct lists the subset a finished job can carry;
squeue adds the transient ones. Anything else (a newer Slurm, a typo) maps to ``unknown``.

It sits in ``core``, below both of its users: the sacct reader (``workloads``) and the Slurm
adapter (``slurm``, which re-exports it), so that the reader need not import the adapter.
"""

from __future__ import annotations

import re
from typing import Final

from hpcsched.core.schema import TERMINAL_STATES

#: Slurm long name -> (compact code, canonical state).
SLURM_JOB_STATES: Final[dict[str, tuple[str, str]]] = {
    "BOOT_FAIL": ("BF", "boot_fail"),
    "CANCELLED": ("CA", "cancelled"),
    "COMPLETED": ("CD", "completed"),
    # allocated, nodes still booting: the start time is already set
    "CONFIGURING": ("CF", "running"),
    # processes or the epilog still ending; the final state is not known yet
    "COMPLETING": ("CG", "running"),
    "DEADLINE": ("DL", "deadline"),
    "FAILED": ("F", "failed"),
    "NODE_FAIL": ("NF", "node_fail"),
    "OUT_OF_MEMORY": ("OOM", "out_of_memory"),
    "PENDING": ("PD", "pending"),
    "PREEMPTED": ("PR", "preempted"),
    "RUNNING": ("R", "running"),
    # held because its reservation was deleted
    "RESV_DEL_HOLD": ("RD", "pending"),
    "REQUEUE_FED": ("RF", "requeued"),
    "REQUEUE_HOLD": ("RH", "requeued"),
    # the job id goes back to the queue; with ``sacct -D`` the old record keeps this state
    "REQUEUED": ("RQ", "requeued"),
    "RESIZING": ("RS", "running"),
    # federation: a sibling cluster started the job, so this cluster withdrew its copy
    "REVOKED": ("RV", "cancelled"),
    "SIGNALING": ("SI", "running"),
    # requeued and held after the epilog asked for it: the run itself failed
    "SPECIAL_EXIT": ("SE", "failed"),
    "STAGE_OUT": ("SO", "running"),
    # SIGSTOP'd, still holding its resources
    "STOPPED": ("ST", "suspended"),
    "SUSPENDED": ("S", "suspended"),
    "TIMEOUT": ("TO", "timeout"),
}

UNKNOWN: Final = "unknown"

_BY_CODE: Final[dict[str, str]] = {
    **{name: canonical for name, (_, canonical) in SLURM_JOB_STATES.items()},
    **dict(SLURM_JOB_STATES.values()),
}
_CANCELLED_BY: Final = re.compile(r"^CANCELLED\s+by\s+(\d+)$", re.IGNORECASE)


def canonical_state(slurm_state: str) -> str:
    """Map a Slurm state (``COMPLETED``, ``CD``, ``CANCELLED by 123``) to a canonical state.

    Only the first word counts, so sacct's ``CANCELLED by <uid>`` is ``cancelled``; a trailing
    ``+`` (squeue/sacct mark of a truncated value) is ignored. Unknown codes give ``unknown``.
    """
    words = slurm_state.strip().split()
    if not words:
        return UNKNOWN
    return _BY_CODE.get(words[0].rstrip("+").upper(), UNKNOWN)


def cancelled_by(slurm_state: str) -> int | None:
    """The uid in sacct's ``CANCELLED by <uid>`` (0 = root), else None."""
    match = _CANCELLED_BY.match(slurm_state.strip())
    return int(match.group(1)) if match else None


def is_terminal(slurm_state: str) -> bool:
    """True when the Slurm state means the job will not change again."""
    return canonical_state(slurm_state) in TERMINAL_STATES
