"""`hpcsched run --dry-run`: the DAG as levels, every refusal, the policy's start order on the
simulated clock; no task runs and the run directory is not created."""

from __future__ import annotations

import json
from pathlib import Path

from fault_harness import hpcsched

WF = """\
jobs:
  - id: make
    command: "echo a > a.txt"
    outputs: [a.txt]
    runtime: 2
  - id: left
    command: "cat a.txt > l.txt"
    inputs: [a.txt]
    outputs: [l.txt]
    runtime: 5
  - id: right
    command: "cat a.txt > r.txt"
    inputs: [a.txt]
    runtime: 3
  - id: join
    command: "touch joined.txt"
    depends: [left, right]
    runtime: 1
"""
HUGE = """\
  - id: huge
    command: "true"
    cpus: 64
  - id: after-huge
    command: "true"
    depends: [huge]
"""


def test_dry_run_prints_levels_and_the_simulated_start_order_and_runs_nothing(
    tmp_path: Path,
) -> None:
    wf = tmp_path / "wf.yaml"
    wf.write_text(WF)
    proc = hpcsched("run", str(wf), "--dry-run", "--cpus", "2")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"dry run of {wf}: 4 tasks in 3 levels on 2 cpus")
    assert lines[0].endswith("nothing is run and nothing is written")
    assert lines[1:5] == ["levels:", "  0: make", "  1: left, right", "  2: join"]
    assert lines[5].startswith("start order (prioritybf, simulated clock")
    assert lines[6:] == [
        "  make   starts at    0.0 s, ends at    2.0 s",
        "  left   starts at    2.0 s, ends at    7.0 s",
        "  right  starts at    2.0 s, ends at    5.0 s",
        "  join   starts at    7.0 s, ends at    8.0 s",
        "simulated makespan: 8.0 s",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wf.yaml"]  # no wf.run, no outputs


def test_dry_run_lists_every_refusal_and_what_it_blocks_then_exits_1(tmp_path: Path) -> None:
    wf = tmp_path / "wf.yaml"
    wf.write_text(WF + HUGE + HUGE.replace("huge", "wide").replace("cpus: 64", "gpus: 2"))
    proc = hpcsched("run", str(wf), "--dry-run", "--cpus", "2", "--gpus", "0")
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    start = lines.index("refused (4; a real run stops at the first):")
    assert lines[start + 1 : start + 5] == [
        "  huge: needs 64 cpus, the pool has 2; lower cpus or add more",
        "  after-huge: blocked: depends on refused huge",
        "  wide: needs 2 gpus, the pool has 0; lower gpus or add more",
        "  after-wide: blocked: depends on refused wide",
    ]
    plan = json.loads(hpcsched("run", str(wf), "--dry-run", "--cpus", "2", "--json").stdout)
    assert plan["levels"] == [
        ["make", "huge", "wide"],
        ["left", "right", "after-huge", "after-wide"],
        ["join"],
    ]
    assert [r["task"] for r in plan["refused"]] == ["huge", "after-huge", "wide", "after-wide"]
    assert [(s["task"], s["start"], s["end"]) for s in plan["order"]] == [
        ("make", 0.0, 2.0),
        ("left", 2.0, 7.0),
        ("right", 2.0, 5.0),
        ("join", 7.0, 8.0),
    ]
    assert plan["makespan"] == 8.0 and plan["policy"] == "prioritybf"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wf.yaml"]
