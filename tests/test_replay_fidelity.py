"""A replay of what the REAL local Slurm did, under its own policy, starts jobs when Slurm did.

Eight seeded ``sleep`` jobs of mixed sizes, QoS and partitions on the 8-processor cluster
(``scripts/slurm-local.sh start``), pulled back with ``trace pull`` and replayed with ``simulate
--policy slurm --site examples/site-local.yaml --partitions sinfo --cycle 0``
(``tests/fidelity_harness.py``; ``benchmarks/replay_fidelity.py`` runs 30). Skips without a
cluster, fails under CI=true.
"""

from __future__ import annotations

import pytest

from fidelity_harness import measure
from hpcsched.slurm import SlurmAdapter

pytestmark = pytest.mark.slurm

#: seconds: two of the cluster's bf_interval=2 backfill passes plus sacct's 1-second resolution
TOLERANCE = 5.0


def test_replay_starts_jobs_when_slurm_did(slurm: SlurmAdapter) -> None:
    result = measure(slurm, n=8, seed=2, tolerance=TOLERANCE, longest=6)
    assert len(result.errors) == result.jobs == 8, result.text()
    assert result.median <= TOLERANCE, result.text()
