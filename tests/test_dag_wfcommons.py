"""A real WfCommons instance (../shared/data/wfcommons) replayed at 48 cpus."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from hpcsched.cli import app

from conftest import SHARED, require_shared

SEISMOLOGY = SHARED / "data" / "wfcommons" / "seismology-chameleon-1000p-001.json"


def _simulate(*args: str) -> dict[str, float]:
    result = CliRunner().invoke(app, ["simulate", str(SEISMOLOGY), "--cpus", "48", *args])
    assert result.exit_code == 0, result.output
    summary: dict[str, float] = json.loads(result.output)
    return summary


def test_seismology_at_48_cpus_gains_from_the_bottom_level_order() -> None:
    require_shared(SEISMOLOGY)
    fcfs = _simulate("--policy", "fcfs", "--json")
    assert fcfs["tasks"] == 1001
    # one sG1IterDecon fan of 1,000 short tasks into one wrapper: work / 48 binds
    assert fcfs["critical_path"] == pytest.approx(5.44, abs=0.01)
    assert fcfs["lower_bound"] == pytest.approx(11.22, abs=0.01)
    ranked = _simulate("--policy", "easy", "--order", "bottom-level", "--json")
    classes = _simulate("--policy", "prioritybf", "--classes", "bottom-level", "--json")
    for run in (fcfs, ranked, classes):
        assert run["makespan"] >= run["lower_bound"]
    assert fcfs["ratio"] > 1.2
    assert ranked["makespan"] < fcfs["makespan"]
    assert ranked["ratio"] < 1.05
    assert classes["makespan"] < fcfs["makespan"]
