"""The README's runtime examples are executed: the workflow file and the campaign script."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.S)


def test_the_readme_workflow_runs(tmp_path: Path) -> None:
    (workflow,) = [b for b in blocks("yaml") if b.lstrip().startswith("name: hello")]
    (tmp_path / "wf.yaml").write_text(workflow)
    argv = [sys.executable, "-c", "from hpcsched.cli import main; main()"]
    proc = subprocess.run(
        [*argv, "run", str(tmp_path / "wf.yaml"), "--json"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.splitlines()[-1])
    assert summary["succeeded"] == summary["tasks"] == 3
    assert (tmp_path / "b.txt").read_text() == "hello\n"
    assert (tmp_path / "loud.txt").read_text() == "HELLO"


def test_the_readme_campaign_runs_and_prints_what_it_says(tmp_path: Path) -> None:
    (script,) = [b for b in blocks("python") if "class Screening" in b]
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0] == "['predict0', 'predict1', 'predict2']"
    promised = re.search(r"# (\d+) (\d+) (\d+)\n", script)
    assert promised is not None
    assert lines[1] == " ".join(promised.groups())
