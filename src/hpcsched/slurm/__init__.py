"""Talking to a real Slurm cluster: the only package that runs Slurm commands."""

from hpcsched.core.schema import TERMINAL_STATES
from hpcsched.slurm.adapter import DEFAULT_FIELDS, DELIMITER, SlurmAdapter, SlurmError
from hpcsched.slurm.states import (
    SLURM_JOB_STATES,
    cancelled_by,
    canonical_state,
    is_terminal,
)

__all__ = [
    "DEFAULT_FIELDS",
    "DELIMITER",
    "SLURM_JOB_STATES",
    "TERMINAL_STATES",
    "SlurmAdapter",
    "SlurmError",
    "cancelled_by",
    "canonical_state",
    "is_terminal",
]
