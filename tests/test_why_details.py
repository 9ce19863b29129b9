"""`hpcsched why` on a par with pegasus-analyzer: for each root cause the command, host, folder,
the captured files and both tails (stdout too), `--json`, the command that runs it again; a
SIGKILL from outside is a signal, not out-of-memory."""

from __future__ import annotations

import json
from pathlib import Path

from fault_harness import hpcsched

WF = """\
jobs:
  - id: check
    command: "echo checking; echo 'assertion failed: m.txt is empty'; exit 3"
  - id: report
    command: "true"
    depends: [check]
"""


def test_why_shows_command_host_folder_files_and_the_stdout_tail(tmp_path: Path) -> None:
    wf = tmp_path / "wf.yaml"
    wf.write_text(WF)
    assert hpcsched("run", str(wf)).returncode == 1
    run_dir = tmp_path / "wf.run"
    proc = hpcsched("why", str(run_dir))
    assert proc.returncode == 1
    folder = run_dir.resolve() / "attempts" / "check.1"
    lines = proc.stdout.splitlines()
    start = lines.index("✗ check failed: exit status 3 after 1 attempt")
    host = lines[start + 2].split(":", 1)[1].strip()
    assert host
    assert lines[start + 1 :] == [
        "  command: echo checking; echo 'assertion failed: m.txt is empty'; exit 3",
        f"  host:    {host}",
        f"  folder:  {folder}",
        f"  stdout:  {folder}/stdout.txt",
        f"  stderr:  {folder}/stderr.txt",
        "  stdout tail:",
        "    | checking",
        "    | assertion failed: m.txt is empty",
        "  stderr tail: (empty)",
        f"  re-run:  hpcsched run {wf} --rerun check",
        "  blocks: report",
        "",
        f"re-run all: hpcsched run {wf}  (succeeded tasks are kept, the rest run again)",
    ]
    body = json.loads(hpcsched("why", str(run_dir), "--json").stdout)
    (failure,) = body["failures"]
    assert failure["task_id"] == "check" and failure["exit_code"] == 3
    assert failure["stdout_tail"] == "checking\nassertion failed: m.txt is empty"
    assert failure["files"] == {
        "stdout": f"{folder}/stdout.txt",
        "stderr": f"{folder}/stderr.txt",
    }
    assert failure["folder"] == str(folder) and failure["blocked"] == ["report"]
    assert failure["rerun"] == f"hpcsched run {wf} --rerun check"
    assert body["rerun"] == f"hpcsched run {wf}"
    assert body["diagnosis"]["counts"]["blocked"] == 1


def test_a_sigkill_from_outside_is_a_signal_not_out_of_memory(tmp_path: Path) -> None:
    wf = tmp_path / "wf.yaml"
    wf.write_text("jobs:\n  - id: victim\n    command: 'kill -9 $$'\n")
    assert hpcsched("run", str(wf)).returncode == 1
    why = hpcsched("why", str(tmp_path / "wf.run")).stdout
    assert "✗ victim failed: killed by signal 9 (SIGKILL) from outside after 1 attempt" in why
    assert "out-of-memory" not in why
