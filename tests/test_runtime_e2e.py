"""The live runtime end to end, on real processes: DAGs with files, retries, failures and `why`,
dynamic and periodic campaigns, the same order as in simulation, refusals, export."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from hpcsched.campaigns import Periodic, Task, TaskResult
from hpcsched.campaigns.api import Context
from hpcsched.core.pool import Pool
from hpcsched.policies.registry import get_policy
from hpcsched.runtime.executors.local import LocalExecutor
from hpcsched.runtime.journal import read_journal
from hpcsched.runtime.pilot import Pilot, RunSummary
from hpcsched.sim.campaign import simulate_campaign

PBF = get_policy("prioritybf")
DIAMOND = """\
jobs:
  - id: make
    command: "sh -c 'echo hello > a.txt'"
    outputs: [a.txt]
    cpus: 1
    priority: 1
    runtime: 2          # expected seconds, used by the policy
    retries: 2
  - id: left
    command: "tr a-z A-Z < a.txt > left.txt"
    inputs: [a.txt]
    outputs: [left.txt]
  - id: right
    command: "rev a.txt > right.txt"
    inputs: [a.txt]
    outputs: [right.txt]
  - id: join
    command: "cat left.txt right.txt > joined.txt"
    inputs: [left.txt, right.txt]
    outputs: [joined.txt]
    depends: [left]
"""


def hpcsched(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-c", "from hpcsched.cli import main; main()", *args]
    return subprocess.run(argv, capture_output=True, text=True, cwd=cwd, timeout=120)


def final_json(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_diamond_dag_with_files_runs_and_records_provenance(tmp_path: Path) -> None:
    wf = tmp_path / "wf.yaml"
    wf.write_text(DIAMOND)
    proc = hpcsched("run", str(wf), "--cpus", "2", "--json")
    assert proc.returncode == 0, proc.stderr
    summary = final_json(proc)
    assert {k: summary[k] for k in ("tasks", "succeeded", "failed", "retried")} == {
        "tasks": 4,
        "succeeded": 4,
        "failed": 0,
        "retried": 0,
    }
    assert summary["wall_seconds"] > 0
    assert (tmp_path / "joined.txt").read_text() == "HELLO\nolleh\n"
    prov = json.loads(hpcsched("provenance", str(tmp_path / "wf.run"), "join", "--json").stdout)
    import hashlib

    (attempt,) = prov
    assert attempt["exit_code"] == 0 and attempt["host"]
    digest = hashlib.sha256((tmp_path / "joined.txt").read_bytes()).hexdigest()
    assert attempt["outputs"] == [{"path": "joined.txt", "sha256": digest, "size": 12}]
    assert {f["path"] for f in attempt["inputs"]} == {"left.txt", "right.txt"}
    # the journal as a job table: canonical schema, readable by the simulator's loader
    out = tmp_path / "jobs.parquet"
    assert hpcsched("export", str(tmp_path / "wf.run"), "-o", str(out)).returncode == 0
    table = pl.read_parquet(out)
    assert table["state"].to_list() == ["completed"] * 4
    starts = dict(zip(table["job_id"], table["start"], strict=True))
    ends = dict(zip(table["job_id"], table["end"], strict=True))
    assert starts["join"] >= max(ends["left"], ends["right"])
    # running it again does nothing new
    again = final_json(hpcsched("run", str(wf), "--json"))
    assert again["replayed"] == 4 and again["succeeded"] == 4


def test_a_failing_task_is_retried_then_succeeds(tmp_path: Path) -> None:
    wf = tmp_path / "wf.yaml"
    wf.write_text(
        "jobs:\n"
        "  - id: flaky\n"
        "    command: \"sh -c '[ $HPCSCHED_ATTEMPT -ge 3 ] && echo ok > r.txt'\"\n"
        "    outputs: [r.txt]\n"
        "    retries: 2\n"
        "    backoff: 0.05\n"
    )
    summary = final_json(hpcsched("run", str(wf), "--json"))
    assert summary["succeeded"] == 1 and summary["retried"] == 2
    record = read_journal(tmp_path / "wf.run")
    codes = [a.result.exit_code for a in record.tasks["flaky"].attempts if a.result]
    assert codes == [1, 1, 0]


def test_a_permanent_failure_is_named_by_why_with_what_it_blocks(tmp_path: Path) -> None:
    wf = tmp_path / "wf.yaml"
    wf.write_text(DIAMOND.replace("echo hello > a.txt", "echo disk quota exceeded >&2; exit 4"))
    proc = hpcsched("run", str(wf), "--json")
    assert proc.returncode == 1
    summary = final_json(proc)
    assert (summary["failed"], summary["blocked"], summary["retried"]) == (1, 3, 2)
    why = hpcsched("why", str(tmp_path / "wf.run"))
    assert why.returncode == 1
    assert "make failed: exit status 4 after 3 attempts" in why.stdout
    assert "disk quota exceeded" in why.stdout
    assert "blocks: left, right, join" in why.stdout


@pytest.mark.parametrize(
    ("body", "phrase"),
    [
        ("command: 'true'\n    outputs: [never.txt]", "declared output never.txt was not written"),
        ("command: 'cat nope.txt'\n    inputs: [nope.txt]", "input 'nope.txt' does not exist"),
        ("command: 'sleep 30'\n    timeout: 0.5", "timeout"),
    ],
)
def test_why_names_each_root_cause(tmp_path: Path, body: str, phrase: str) -> None:
    wf = tmp_path / "wf.yaml"
    wf.write_text(
        f"jobs:\n  - id: broken\n    {body}\n  - id: after\n    command: 'true'\n"
        "    depends: [broken]\n"
    )
    assert hpcsched("run", str(wf), "--json").returncode == 1
    why = hpcsched("why", str(tmp_path / "wf.run")).stdout
    assert phrase in why and "blocks: after" in why


def run_pilot(campaign: Any, tmp_path: Path, cpus: int) -> tuple[RunSummary, Any]:
    executor = LocalExecutor(max_workers=cpus)
    try:
        pilot = Pilot(campaign, PBF, Pool.uniform(1, cpus), executor, tmp_path / "run", tmp_path)
        return pilot.run(), read_journal(tmp_path / "run")
    finally:
        executor.shutdown()


def call(tid: str, function: str, *args: Any, **fields: Any) -> Task:
    return Task.model_validate(
        {
            "id": tid,
            "callable": f"hpcsched.runtime.builtin_tasks:{function}",
            "args": list(args),
            **fields,
        }
    )


class Squares:
    """Each result creates the next task: x -> x*x until it exceeds 10,000."""

    def __init__(self) -> None:
        self.values: list[int] = []

    def start(self, ctx: Context) -> None:
        ctx.submit(call("sq0", "square", 2, runtime=0.05))

    def on_result(self, task: Task, result: TaskResult, ctx: Context) -> None:
        self.values.append(result.value)
        if result.value < 10_000:
            ctx.submit(call(f"sq{len(self.values)}", "square", result.value, runtime=0.05))


def test_a_dynamic_campaign_creates_tasks_from_results(tmp_path: Path) -> None:
    campaign = Squares()
    summary, _ = run_pilot(campaign, tmp_path, cpus=2)
    assert campaign.values == [4, 16, 256, 65536]
    assert summary.succeeded == 4


class Flood:
    """High-priority surrogate predictions that never let the queue drain, and a periodic
    low-priority drift check every 5 predictions that must start within 3 more."""

    def __init__(self, n: int) -> None:
        self.n, self.limit = 0, n
        self.checks = Periodic(
            every=5,
            of_kind="predict",
            within=3,
            make=lambda k: call(f"drift{k}", "sleep", 0.02, priority=2, kind="check", runtime=0.02),
        )

    def more(self, ctx: Context) -> None:
        if self.n < self.limit:
            self.n += 1
            ctx.submit(call(f"p{self.n}", "sleep", 0.02, priority=0, kind="predict", runtime=0.02))

    def start(self, ctx: Context) -> None:
        for _ in range(8):
            self.more(ctx)

    def on_result(self, task: Task, result: TaskResult, ctx: Context) -> None:
        self.checks.on_result(task, result, ctx)
        if task.kind == "predict":
            self.more(ctx)
            self.more(ctx)


def test_periodic_low_priority_task_is_never_starved_under_a_flood(tmp_path: Path) -> None:
    campaign = Flood(150)
    summary, record = run_pilot(campaign, tmp_path, cpus=2)
    assert summary.failed == 0
    assert campaign.checks.submitted >= 25
    assert campaign.checks.misses == 0, campaign.checks.summary()
    # the flood really was a flood: predictions were queued whenever a check started
    assert max(len(rec.attempts) for rec in record.tasks.values()) == 1


class Chain:
    """Deterministic dynamic campaign: two kinds, priorities, results that spawn work."""

    def start(self, ctx: Context) -> None:
        for i in range(4):
            ctx.submit(call(f"gen{i}", "sleep", 0.05, runtime=0.05, priority=1, kind="gen"))

    def on_result(self, task: Task, result: TaskResult, ctx: Context) -> None:
        if task.kind == "gen":
            ctx.submit(call(f"{task.id}-urgent", "sleep", 0.05, runtime=0.05, priority=0))
            ctx.submit(call(f"{task.id}-later", "sleep", 0.05, runtime=0.05, priority=2))


def test_the_same_campaign_gives_the_same_order_in_sim_and_runtime(tmp_path: Path) -> None:
    pool = Pool.uniform(1, 1)
    simulated = simulate_campaign(Chain(), PBF, pool, duration=lambda task: 0.05)
    _, record = run_pilot(Chain(), tmp_path, cpus=1)
    live = sorted((a.started_wall, tid) for tid, rec in record.tasks.items() for a in rec.attempts)
    assert [tid for _, tid in live] == simulated.order
    assert simulated.order[:3] == ["gen0", "gen0-urgent", "gen1"]


def test_bad_workflows_are_refused_before_anything_runs(tmp_path: Path) -> None:
    wf = tmp_path / "wf.yaml"
    wf.write_text(
        "jobs:\n  - id: a\n    command: 'true'\n    depends: [b]\n"
        "  - id: b\n    command: 'true'\n    depends: [a]\n"
    )
    proc = hpcsched("run", str(wf))
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert "wf.yaml:2:" in line and "a -> b -> a" in line
    wf.write_text("jobs:\n  - id: big\n    command: 'true'\n    cpus: 64\n")
    proc = hpcsched("run", str(wf), "--cpus", "4")
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert "wf.yaml:4:" in line and "64 cpus" in line
    assert not (tmp_path / "wf.run").exists()


def test_crash_safety_twenty_sigkills_during_a_500_task_workflow(tmp_path: Path) -> None:
    script = Path(__file__).resolve().parents[1] / "scripts" / "crash_safety.py"
    proc = subprocess.run(
        [sys.executable, str(script), "--dir", str(tmp_path), "--json", "--seed", "3"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.stdout.strip(), proc.stderr  # the script says why a restart was refused
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["kills"] == 20, report
    assert report["succeeded_exactly_once"] == 500
    assert report["outputs_committed_once"] == 500
    assert report["outputs_wrong_or_missing"] == 0
    assert report["unfinished_attempts"] == 0
    assert report["interrupted_attempts"] > 0  # the kills really did interrupt work
    assert proc.returncode == 0


def test_the_dask_executor_runs_the_same_workflow(tmp_path: Path) -> None:
    wf = tmp_path / "wf.yaml"
    wf.write_text(DIAMOND)
    proc = hpcsched("run", str(wf), "--executor", "dask", "--dask-workers", "2", "--json")
    assert proc.returncode == 0, proc.stderr
    summary = final_json(proc)
    assert summary["executor"] == "dask" and summary["succeeded"] == 4
    assert (tmp_path / "joined.txt").read_text() == "HELLO\nolleh\n"
    record = read_journal(tmp_path / "wf.run")
    assert "2 cpus" in record.runs[0]["pool"] and "dask" in record.runs[0]["pool"]


def test_a_terminal_gets_a_live_progress_bar(tmp_path: Path) -> None:
    import os
    import pty

    wf = tmp_path / "wf.yaml"
    wf.write_text(DIAMOND)
    controller, terminal = pty.openpty()
    argv = [sys.executable, "-c", "from hpcsched.cli import main; main()", "run", str(wf)]
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=terminal, timeout=120)
    os.close(terminal)
    drawn = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:
            break
        if not chunk:
            break
        drawn += chunk
    os.close(controller)
    assert proc.returncode == 0
    assert b"4/4" in drawn and b"running" in drawn and b"\xe2\x94\x81" in drawn  # the bar
    # without a terminal (the other tests) nothing is drawn on stderr
    plain = hpcsched("run", str(wf))
    assert "━" not in plain.stderr
