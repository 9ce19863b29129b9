"""The live Slurm cluster the ``slurm``-marked tests use (``scripts/slurm-local.sh start``).

Without a cluster the tests are skipped with the one-line reason (and the reason the last
``start`` gave, if it said the cluster is not runnable here); under ``CI=true`` they fail.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hpcsched.slurm.adapter import SlurmAdapter

STATE_DIR = Path(os.environ.get("HPCSCHED_SLURM_STATE", "/tmp/hpcsched-slurm"))


def require_slurm() -> SlurmAdapter:
    """A live cluster, else skip (fail under CI=true) with the one-line reason."""
    adapter = SlurmAdapter()
    reason = adapter.available()
    if reason is None:
        return adapter
    why = STATE_DIR / "not-runnable"  # written by scripts/slurm-local.sh when it exits 3
    if why.exists():
        reason = f"{reason} (last start said: {why.read_text().strip()})"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"no Slurm cluster: {reason}")
    pytest.skip(f"no Slurm cluster: {reason}")
