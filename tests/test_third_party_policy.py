"""A policy from a third-party package runs unchanged in ``simulate``, in a simulated campaign and
in ``run``.

The package (``tests/plugins/hpcsched_widest``) is installed for this test run with pip into a
folder of its own and put on ``PYTHONPATH`` of the commands, as a site's package would be: it
registers ``widest`` under the ``hpcsched.policies`` entry-point group and imports nothing but the
policy protocol. It is not a compiled twin, so every command runs it through the reference path.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PLUGIN = Path(__file__).parent / "plugins" / "hpcsched_widest"
TRACE = """; MaxProcs: 8
1 0 -1 50 2 -1 -1 2 60 -1 1 1 1 -1 -1 -1 -1 -1
2 1 -1 50 8 -1 -1 8 60 -1 1 1 1 -1 -1 -1 -1 -1
3 2 -1 20 4 -1 -1 4 30 -1 1 1 1 -1 -1 -1 -1 -1
4 3 -1 20 6 -1 -1 6 30 -1 1 1 1 -1 -1 -1 -1 -1
"""


@pytest.fixture(scope="module")
def site_packages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("plugin")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",  # built in pip's isolated environment, as a user's install is
            "--target",
            str(target),
            str(PLUGIN),
        ],
        check=True,
        capture_output=True,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    return target


def hpcsched(site: Path, *args: str, cwd: Path) -> tuple[int, str, str]:
    env = {**os.environ, "PYTHONPATH": str(site)}
    done = subprocess.run(
        [sys.executable, "-m", "hpcsched.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )
    return done.returncode, done.stdout, done.stderr


def test_simulate_runs_the_registered_policy(site_packages: Path, tmp_path: Path) -> None:
    (tmp_path / "t.swf").write_text(TRACE)
    code, out, err = hpcsched(
        site_packages, "simulate", "t.swf", "--policy", "widest", "--json", "--out", "s.parquet",
        cwd=tmp_path,
    )  # fmt: skip
    assert code == 0, err
    metrics = json.loads(out.strip().splitlines()[-1])
    assert metrics["policy"] == "widest" and metrics["engine"] == "reference"
    assert metrics["jobs"] == 4 and metrics["violations"] == 0
    import polars as pl

    starts = dict(pl.read_parquet(tmp_path / "s.parquet").select("job_id", "start").iter_rows())
    # widest first, no reservations: the 8-wide job 2 waits for job 1 (t=50) while narrower
    # ones start when they fit (job 3 at once; job 4, 6 wide, when job 3 ends at t=22)
    assert starts == {"1": 0.0, "2": 50.0, "3": 2.0, "4": 22.0}


def test_a_simulated_campaign_runs_the_registered_policy(
    site_packages: Path, tmp_path: Path
) -> None:
    code, out, err = hpcsched(
        site_packages, "campaign", "materials", "--clock", "sim", "--policy", "widest",
        "--window", "20m", "--json", cwd=tmp_path,
    )  # fmt: skip
    assert code == 0, err
    report = json.loads(out.strip().splitlines()[-1])
    assert report["policy"] == "widest"
    assert report["materials_investigated"] > 0 and report["prediction_tasks"] > 0
    assert 0 < report["utilisation"] <= 1


def test_run_runs_the_registered_policy(site_packages: Path, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.txt"
    jobs = "\n".join(
        f"  - {{id: t{i}, command: 'echo t{i} >> {ledger}', cpus: {1 + i % 2}}}" for i in range(6)
    )
    (tmp_path / "wf.yaml").write_text(f"jobs:\n{jobs}\n")
    code, out, err = hpcsched(
        site_packages, "run", "wf.yaml", "--policy", "widest", "--cpus", "2", "--json",
        cwd=tmp_path,
    )  # fmt: skip
    assert code == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["policy"] == "widest"
    assert summary["succeeded"] == 6
    assert sorted(ledger.read_text().split()) == sorted(f"t{i}" for i in range(6))
