"""`hpcsched cancel RUN_DIR`: the live run cancels its tasks (killing the running one), ends
with its summary and the cancelled tasks in the journal; running it again resumes."""

from __future__ import annotations

import json
from pathlib import Path

from fault_harness import final_json, hpcsched, start, status, wait_for


def _workflow(folder: Path) -> Path:
    slow = folder / "slow"
    slow.touch()
    body = f"if [ -f {slow} ]; then sleep 60; fi; echo ok > {{}}.out"
    wf = folder / "wf.yaml"
    wf.write_text(
        "jobs:\n"
        f'  - id: first\n    command: "{body.format("first")}"\n    outputs: [first.out]\n'
        f'  - id: second\n    command: "{body.format("second")}"\n    depends: [first]\n'
        f'  - id: other\n    command: "{body.format("other")}"\n'
    )
    return wf


def test_cancel_stops_the_run_records_cancelled_tasks_and_a_second_run_resumes(
    tmp_path: Path,
) -> None:
    wf = _workflow(tmp_path)
    run_dir = tmp_path / "wf.run"
    live = start(str(wf), "--cpus", "1", "--json")
    try:
        assert wait_for(lambda: bool((status(run_dir) or {}).get("running")), timeout=60)
        proc = hpcsched("cancel", str(run_dir))
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith(f"asked the run of {run_dir} (pid {live.pid} on host ")
        assert proc.stdout.rstrip().endswith("ends with its summary; run it again to resume")
        out, _ = live.communicate(timeout=30)
    finally:
        if live.poll() is None:
            live.kill()
    assert live.returncode == 1
    summary = json.loads(out.strip().splitlines()[-1])
    assert (summary["succeeded"], summary["failed"], summary["cancelled"]) == (0, 0, 3)
    rows = json.loads(hpcsched("tasks", str(run_dir), "--json").stdout)
    assert {row["task"]: row["state"] for row in rows} == dict.fromkeys(
        ("first", "second", "other"), "cancelled"
    )
    info = final_json(hpcsched("status", str(run_dir), "--json"))
    assert (info["cancelled"], info["failed"], info["blocked"], info["ended"]) == (3, 0, 0, True)
    # nothing is going on any more: a second cancel says so in one line
    again = hpcsched("cancel", str(run_dir))
    assert again.returncode != 0
    assert "no run is going on there (nothing to cancel)" in again.stderr
    assert "Traceback" not in again.stderr
    (tmp_path / "slow").unlink()
    resumed = hpcsched("run", str(wf), "--cpus", "1", "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert final_json(resumed)["succeeded"] == 3
