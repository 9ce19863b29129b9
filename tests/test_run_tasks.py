"""`hpcsched tasks` and the one name for a task that never ran because a dependency failed:
`blocked` in `status`, `tasks`, `why` and `export` alike."""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl
import pytest

from fault_harness import final_json, hpcsched

CHAIN = """\
jobs:
  - id: make
    command: "echo built > m.txt"
    outputs: [m.txt]
  - id: check
    command: "echo checking; echo 'assertion failed: m.txt is empty'; exit 3"
    inputs: [m.txt]
  - id: report
    command: "true"
    depends: [check]
  - id: publish
    command: "true"
    depends: [report]
"""


@pytest.fixture(scope="module")
def failed_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("chain")
    wf = folder / "wf.yaml"
    wf.write_text(CHAIN)
    proc = hpcsched("run", str(wf), "--json")
    assert proc.returncode == 1, proc.stderr
    return folder / "wf.run"


def test_tasks_lists_each_task_with_state_attempts_times_and_duration(failed_run: Path) -> None:
    proc = hpcsched("tasks", str(failed_run))
    assert proc.returncode == 0, proc.stderr
    header, *lines = proc.stdout.splitlines()
    assert re.fullmatch(r"TASK +STATE +ATTEMPTS  START \(UTC\) +END \(UTC\) +DURATION", header)
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"
    assert re.fullmatch(rf"make +succeeded +1  {stamp}  {stamp}  \d+\.\d s", lines[0])
    assert re.fullmatch(rf"check +failed +1  {stamp}  {stamp}  \d+\.\d s", lines[1])
    assert re.fullmatch(r"report +blocked +0  — +— +—", lines[2])
    assert re.fullmatch(r"publish +blocked +0  — +— +—", lines[3])
    rows = json.loads(hpcsched("tasks", str(failed_run), "--json").stdout)
    assert [(r["task"], r["state"], r["attempts"], r["reason"]) for r in rows] == [
        ("make", "succeeded", 1, None),
        ("check", "failed", 1, "exit"),
        ("report", "blocked", 0, "dependency-failed"),
        ("publish", "blocked", 0, "dependency-failed"),
    ]
    make = rows[0]
    assert make["end"] >= make["start"] > 0
    assert make["duration"] == pytest.approx(make["end"] - make["start"])
    assert rows[2]["start"] is None and rows[2]["duration"] is None


def test_blocked_is_one_name_in_status_why_and_export(failed_run: Path) -> None:
    info = final_json(hpcsched("status", str(failed_run), "--json"))
    assert (info["succeeded"], info["failed"], info["blocked"], info["cancelled"]) == (1, 1, 2, 0)
    text = hpcsched("status", str(failed_run)).stdout
    assert re.search(r"│ failed +│ 1 ", text) and re.search(r"│ blocked +│ 2 ", text)
    why = hpcsched("why", str(failed_run)).stdout
    assert why.splitlines()[0] == "1 failed, 2 blocked (never ran: a dependency failed)"
    out = failed_run.parent / "jobs.csv"
    assert hpcsched("export", str(failed_run), "-o", str(out)).returncode == 0
    states = dict(pl.read_csv(out).select("job_id", "state").iter_rows())
    assert states == {
        "make": "completed",
        "check": "failed",
        "report": "blocked",
        "publish": "blocked",
    }
    # SWF has no word for it: a task that never ran is status 5, as a cancelled job
    swf = failed_run.parent / "jobs.swf"
    assert hpcsched("export", str(failed_run), "-o", str(swf)).returncode == 0
    rows = [line.split() for line in swf.read_text().splitlines() if not line.startswith(";")]
    assert [row[10] for row in rows] == ["1", "0", "5", "5"]


def test_tasks_refuses_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    proc = hpcsched("tasks", str(tmp_path))
    assert proc.returncode != 0
    assert "not a run directory" in proc.stderr and "Traceback" not in proc.stderr
