"""`hpcsched run wf.yaml --rerun TASK`: that task again (succeeded or failed) with what depends on
it; what it needs is replayed if it succeeded; other unfinished tasks are left alone."""

from __future__ import annotations

import json
from pathlib import Path

from fault_harness import final_json, hpcsched

WF = """\
jobs:
  - id: make
    command: "echo made >> {log}; echo m > m.txt"
    outputs: [m.txt]
  - id: use
    command: "echo used >> {log}; cat m.txt > u.txt"
    inputs: [m.txt]
    outputs: [u.txt]
  - id: report
    command: "echo reported >> {log}"
    depends: [use]
  - id: flaky
    command: "echo flaky >> {log}; test -f {ok}"
"""


def _states(run_dir: Path) -> dict[str, tuple[str, int]]:
    rows = json.loads(hpcsched("tasks", str(run_dir), "--json").stdout)
    return {row["task"]: (row["state"], row["attempts"]) for row in rows}


def test_rerun_runs_the_task_and_its_dependents_again_and_nothing_else(tmp_path: Path) -> None:
    log, ok = tmp_path / "log.txt", tmp_path / "ok"
    wf = tmp_path / "wf.yaml"
    wf.write_text(WF.format(log=log, ok=ok))
    first = hpcsched("run", str(wf), "--cpus", "1", "--json")
    assert first.returncode == 1  # flaky failed
    assert sorted(log.read_text().split()) == ["flaky", "made", "reported", "used"]
    log.write_text("")
    again = hpcsched("run", str(wf), "--cpus", "1", "--rerun", "use", "--json")
    assert again.returncode == 0, again.stderr
    summary = final_json(again)
    # make is replayed (it succeeded), use and report run again, flaky is left for a plain run
    assert (summary["tasks"], summary["succeeded"], summary["replayed"]) == (3, 3, 1)
    assert log.read_text().split() == ["used", "reported"]
    assert _states(tmp_path / "wf.run") == {
        "make": ("succeeded", 1),
        "use": ("succeeded", 2),
        "report": ("succeeded", 2),
        "flaky": ("failed", 1),
    }
    log.write_text("")
    ok.touch()
    fixed = hpcsched("run", str(wf), "--cpus", "1", "--rerun", "flaky", "--json")
    assert fixed.returncode == 0 and log.read_text().split() == ["flaky"]
    assert _states(tmp_path / "wf.run")["flaky"] == ("succeeded", 2)


def test_rerun_of_an_unknown_task_is_one_line_with_the_closest_ids(tmp_path: Path) -> None:
    wf = tmp_path / "wf.yaml"
    wf.write_text(WF.format(log=tmp_path / "log.txt", ok=tmp_path / "ok"))
    proc = hpcsched("run", str(wf), "--rerun", "uses")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert f"--rerun uses: {wf}: no task 'uses' in the workflow; did you mean use" in proc.stderr
    assert not (tmp_path / "wf.run").exists()
