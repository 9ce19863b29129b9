"""Shared fixtures: where ../shared data lives, and the rule that CI must have it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hpcsched.slurm.adapter import SlurmAdapter

from bus_support import require_bus
from slurm_support import require_slurm

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
TRACES = SHARED / "data" / "traces"
GOLDEN = SHARED / "data" / "golden"


def require_shared(path: Path) -> Path:
    """Return ``path``; when it is missing, fail under CI=true and skip elsewhere."""
    if path.exists():
        return path
    message = f"{path} is missing: tests read ../shared/data beside the checkout"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def traces_dir() -> Path:
    return require_shared(TRACES)


@pytest.fixture
def golden_dir() -> Path:
    return require_shared(GOLDEN)


@pytest.fixture(scope="module")
def slurm() -> SlurmAdapter:
    """The live Slurm cluster (skip, or fail under CI=true, when there is none)."""
    return require_slurm()


@pytest.fixture(scope="session")
def bus_url() -> str:
    """The live event bus, ``nats://host:port`` (skip, or fail under CI=true, when none)."""
    return require_bus()


@pytest.fixture(autouse=True)
def _no_user_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads the config file of whoever runs the suite (a test names its own)."""
    monkeypatch.setenv("HPCSCHED_CONFIG", "/nonexistent/hpcsched-config.toml")
