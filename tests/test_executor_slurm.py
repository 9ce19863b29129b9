"""The ``slurm`` executor against a REAL slurmctld (``sudo bash scripts/slurm-local.sh start``).

``hpcsched run --executor slurm`` runs the diamond workflow as Slurm jobs and as job steps inside
a real ``salloc`` allocation, and gives the same files and provenance as the local executor; a task
larger than the allocation is refused before anything runs. :func:`slurm_executor` also serves the
compliance suite (``tests/test_executors.py``). Without a cluster these skip, or fail under CI=true.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from hpcsched.runtime.executors.slurm import SlurmExecutor
from hpcsched.slurm import DELIMITER, SlurmAdapter
from test_runtime_e2e import DIAMOND

from slurm_support import require_slurm

pytestmark = pytest.mark.slurm


def allocate(adapter: SlurmAdapter, cpus: int, name: str = "hs-alloc") -> str:
    """A real allocation of ``cpus`` cpus (``salloc --no-shell``); the caller scancels it."""
    argv = ["salloc", "--no-shell", f"--ntasks={cpus}", "--time=10", f"-J{name}"]
    adapter.run(argv, timeout=60)  # returns once granted ("Granted job allocation N", stderr)
    mine = [job for job in adapter.squeue() if job.get("name") == name]
    running = [job for job in mine if job.get("job_state") == "RUNNING"]
    assert running, f"salloc granted nothing named {name}: {mine}"
    return str(max(job["job_id"] for job in running))


class _OwnAllocation(SlurmExecutor):
    """A steps-mode executor that releases the test's allocation when it shuts down."""

    def shutdown(self) -> None:
        super().shutdown()
        assert self.job_id is not None
        self.adapter.scancel(self.job_id)


def slurm_executor(mode: str, workers: int = 2) -> SlurmExecutor:
    """The compliance suite's executor: jobs in the default partition, or steps in an
    allocation of ``2 * workers`` cpus (the local cluster's nodes have 2 each)."""
    adapter = require_slurm()
    if mode == "jobs":
        return SlurmExecutor("jobs", adapter, poll=0.5)
    job_id = allocate(adapter, 2 * workers, name=f"hs-steps-{os.getpid()}")
    try:
        return _OwnAllocation("steps", adapter, job_id=job_id)
    except BaseException:
        adapter.scancel(job_id)
        raise


def hpcsched(
    *args: str, inside: list[str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """The CLI, optionally under a launcher (``salloc ...``) that runs it inside an allocation."""
    argv = [*(inside or []), sys.executable, "-c", "from hpcsched.cli import main; main()", *args]
    return subprocess.run(argv, capture_output=True, text=True, cwd=cwd, timeout=180)


def final_json(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    return json.loads(proc.stdout.strip().splitlines()[-1])


def provenance_of(run_dir: Path, task: str) -> list[dict[str, Any]]:
    proc = hpcsched("provenance", str(run_dir), task, "--json")
    assert proc.returncode == 0, proc.stderr
    attempts: list[dict[str, Any]] = json.loads(proc.stdout)
    return attempts


def comparable(attempts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What must not depend on the executor: files and their hashes, exit, outcome."""
    keep = ("exit_code", "ok", "reason", "inputs", "outputs", "attempt")
    return [{k: a.get(k) for k in keep if k in a} for a in attempts]


@pytest.fixture(scope="module")
def local_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The diamond run by the local executor: the reference."""
    folder = tmp_path_factory.mktemp("local")
    (folder / "wf.yaml").write_text(DIAMOND)
    proc = hpcsched("run", str(folder / "wf.yaml"), "--cpus", "2", "--json")
    assert proc.returncode == 0, proc.stderr
    return folder


def check_same_as_local(folder: Path, local: Path, summary: dict[str, Any]) -> None:
    assert summary["executor"] == "slurm"
    assert {k: summary[k] for k in ("tasks", "succeeded", "failed")} == {
        "tasks": 4,
        "succeeded": 4,
        "failed": 0,
    }
    for name in ("a.txt", "left.txt", "right.txt", "joined.txt"):
        assert (folder / name).read_bytes() == (local / name).read_bytes(), name
    assert (folder / "joined.txt").read_text() == "HELLO\nolleh\n"
    for task in ("make", "left", "right", "join"):
        ours = provenance_of(folder / "wf.run", task)
        assert comparable(ours) == comparable(provenance_of(local / "wf.run", task)), task
        assert ours[0]["host"]


def sacct_rows(adapter: SlurmAdapter, fields: tuple[str, ...]) -> list[dict[str, str]]:
    text = adapter.sacct(fields=fields, since="now-15minutes")
    return [dict(zip(fields, line.split(DELIMITER), strict=True)) for line in text.splitlines()[1:]]


def test_diamond_as_slurm_jobs_matches_local(tmp_path: Path, local_run: Path) -> None:
    adapter = require_slurm()
    (tmp_path / "wf.yaml").write_text(DIAMOND)
    argv = ["run", str(tmp_path / "wf.yaml"), "--executor", "slurm", "--slurm-mode", "jobs"]
    proc = hpcsched(*argv, "--partition", "batch", "--json")
    assert proc.returncode == 0, proc.stderr
    check_same_as_local(tmp_path, local_run, final_json(proc))
    # Each task was a Slurm job of its own, named after it, in the partition asked for, run in
    # its attempt's staging folder under this run.
    # slurmdbd stores what slurmctld sends one record at a time: ask until the 4 jobs are in.
    fields = ("JobID", "JobName", "Partition", "WorkDir")
    deadline, ours = time.monotonic() + 20, []
    while time.monotonic() < deadline:
        rows = sacct_rows(adapter, fields)
        jobs = [row for row in rows if row["JobID"].isdigit()]  # not their steps (N.batch)
        ours = [row for row in jobs if row["WorkDir"].startswith(str(tmp_path))]
        if len(ours) >= 4 and all(row["Partition"] for row in ours):
            break
        time.sleep(0.5)
    assert sorted(row["JobName"] for row in ours) == ["join", "left", "make", "right"], ours
    assert {row["Partition"] for row in ours} == {"batch"}


def test_diamond_as_job_steps_inside_an_allocation_matches_local(
    tmp_path: Path, local_run: Path
) -> None:
    adapter = require_slurm()
    (tmp_path / "wf.yaml").write_text(DIAMOND)
    # salloc runs the pilot here with the allocation's SLURM_* variables, as a user would.
    name = f"hs-diamond-{os.getpid()}"
    inside = ["salloc", "--nodes=1", "--ntasks=2", "--time=5", f"-J{name}"]
    argv = ["run", str(tmp_path / "wf.yaml"), "--executor", "slurm", "--json"]
    proc = hpcsched(*argv, inside=inside)
    assert proc.returncode == 0, proc.stderr
    summary = final_json(proc)
    check_same_as_local(tmp_path, local_run, summary)
    # The tasks ran as job steps (JobID N.k) of that one allocation, named after them.
    deadline, steps = time.monotonic() + 20, []
    while time.monotonic() < deadline:
        rows = sacct_rows(adapter, ("JobID", "JobName"))
        allocations = [row["JobID"] for row in rows if row["JobName"] == name]
        steps = [
            row["JobName"]
            for row in rows
            if allocations and row["JobID"].startswith(allocations[0] + ".")
        ]
        steps = sorted(step for step in steps if step not in ("extern", "batch"))
        if len(steps) >= 4:
            break
        time.sleep(0.5)
    assert len(allocations) == 1 and steps == ["join", "left", "make", "right"], rows


def test_a_task_larger_than_the_allocation_is_refused_before_anything_runs(
    tmp_path: Path,
) -> None:
    require_slurm()
    (tmp_path / "wf.yaml").write_text("jobs:\n  - id: big\n    command: 'touch ran'\n    cpus: 3\n")
    inside = ["salloc", "--nodes=1", "--ntasks=2", "--time=5", "-Jhs-refuse"]
    proc = hpcsched("run", str(tmp_path / "wf.yaml"), "--executor", "slurm", inside=inside)
    assert proc.returncode == 2
    (line,) = [line for line in proc.stderr.splitlines() if not line.startswith("salloc:")]
    assert "wf.yaml:4:" in line and "3 cpus" in line
    assert not (tmp_path / "ran").exists() and not (tmp_path / "wf.run").exists()


def test_steps_mode_outside_an_allocation_is_one_line(tmp_path: Path) -> None:
    require_slurm()
    (tmp_path / "wf.yaml").write_text(DIAMOND)
    env_free = ["env", "-u", "SLURM_JOB_ID"]
    proc = hpcsched("run", str(tmp_path / "wf.yaml"), "--executor", "slurm", inside=env_free)
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert "salloc or sbatch" in line and "--slurm-mode jobs" in line


def test_a_job_cancelled_from_outside_still_gives_one_result(tmp_path: Path) -> None:
    from test_executors import attempt, collect, started

    executor = slurm_executor("jobs")
    try:
        run = attempt(tmp_path, "outside", command="echo $SLURM_JOB_ID > pid; sleep 30")
        executor.submit(run)
        executor.adapter.scancel(str(started(run.workdir / "pid")))  # not through the executor
        result = collect(executor, {run.key})[run.key]
        assert result.reason == "cancelled" and not result.ok
        assert "ended CANCELLED without a result" in result.message
    finally:
        executor.shutdown()


def test_a_step_slurm_cannot_launch_gives_one_result_with_srun_s_reason(tmp_path: Path) -> None:
    from test_executors import attempt, collect

    executor = slurm_executor("steps", workers=1)
    try:
        assert executor.pool().total.cpus == 2
        run = attempt(tmp_path, "toobig", command="touch ran", mem="1G")  # allocation: 200M
        executor.submit(run)
        result = collect(executor, {run.key})[run.key]
        assert not result.ok and result.reason == "lost"
        assert "srun" in result.message and "error" in result.message.lower()
        assert not (run.workdir / "ran").exists()
    finally:
        executor.shutdown()
