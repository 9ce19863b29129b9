"""Slurm's job states as the adapter uses them.

The one table (citing Slurm's man pages) is :mod:`hpcsched.core.slurm_states`: the sacct reader
in ``workloads`` maps states too, and ``workloads`` may not import this adapter.
"""

from hpcsched.core.slurm_states import (
    SLURM_JOB_STATES,
    UNKNOWN,
    cancelled_by,
    canonical_state,
    is_terminal,
)

__all__ = ["SLURM_JOB_STATES", "UNKNOWN", "cancelled_by", "canonical_state", "is_terminal"]
