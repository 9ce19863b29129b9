"""The README's runtime examples are executed as a user runs them: the workflow file, the campaign
script saved to a file and run with ``python``, and the same script without its main guard."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
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


def test_the_readme_campaign_runs_as_a_script_and_prints_what_it_says(tmp_path: Path) -> None:
    (script,) = [b for b in blocks("python") if "class Screening" in b]
    (tmp_path / "screen.py").write_text(script)
    proc = subprocess.run(
        [sys.executable, "screen.py"], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0] == "['predict0', 'predict1', 'predict2']"
    promised = re.search(r"# (\d+) (\d+) (\d+)\n", script)
    assert promised is not None
    assert lines[1] == " ".join(promised.groups())


def unguarded(script: str) -> str:
    """The script with its ``if __name__ == "__main__":`` block moved to the top level."""
    head, guard, body = script.partition('if __name__ == "__main__":')
    assert guard, "the README's campaign script has no main guard"
    body = body.split("\n", 1)[1]
    return head + textwrap.dedent(body)


def test_a_script_without_the_main_guard_is_refused_at_once_naming_the_line(
    tmp_path: Path,
) -> None:
    (script,) = [b for b in blocks("python") if "class Screening" in b]
    source = unguarded(script)
    (tmp_path / "screen.py").write_text(source)
    proc = subprocess.run(
        [sys.executable, "screen.py"], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert proc.returncode != 0
    line = next(n for n, text in enumerate(source.splitlines(), 1) if ").run()" in text)
    last = proc.stderr.strip().splitlines()[-1]
    assert f"screen.py:{line} starts worker processes at the top level of the script" in last
    assert 'if __name__ == "__main__":' in last
    # refused before any worker started: the virtual-time line is printed once, not per worker
    assert proc.stdout.count("predict0") == 1


def test_a_script_piped_to_python_is_refused_at_once(tmp_path: Path) -> None:
    # before: every worker looked for a file named "<stdin>", every attempt came back lost and
    # each worker printed a traceback
    (script,) = [b for b in blocks("python") if "class Screening" in b]
    proc = subprocess.run(
        [sys.executable, "-"],
        input=script,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert "the script was read from <stdin>" in last and "save it to a file" in last
    assert "FileNotFoundError" not in proc.stderr
