"""Every command of the README's bash blocks runs as a user would type it, in README order.

The commands run through a shell in a scratch project folder (``examples/`` and ``scripts/`` of
this checkout, ``../shared`` beside it), with ``hpcsched`` on PATH. The README's placeholders
(``TRACE``, ``sacct.txt``, ``job.sbatch``, ...) are real files there; optional parts written
``[--flag]`` are left out. A line that cannot run here is listed in SKIPPED with the reason and
where it is covered instead, so a new README line fails this test until it runs or is listed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from test_readme_examples import README, blocks

from bus_support import require_bus
from conftest import SHARED, require_shared
from llm_support import require_llm
from slurm_support import require_slurm

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 300.0

SKIPPED = {
    "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/hpcsched demo": (
        "the README's set-up command: .ci/run runs it on a fresh clone"
    ),
    "python3 -m venv .venv && .venv/bin/pip install -e '.[dev]' && .venv/bin/python -m pytest -q": (
        "the README's test command: .ci/run runs it on a fresh clone"
    ),
    "hpcsched --install-completion": (
        "changes the user's shell start-up file; --show-completion prints the same script"
    ),
    "hpcsched run wf.yaml --executor dask --dask-address tcp://host:8786": (
        "needs a Dask scheduler at host:8786; tests/test_executors_dask*.py run that executor"
    ),
    "export HPCSCHED_LLM_URL=$(bash scripts/llm-local.sh start)": (
        ".ci/run starts the model server for the whole test session"
    ),
    "bash scripts/llm-local.sh stop": "would stop the model server of the whole test session",
    "hpcsched watch --history pulled.parquet --site examples/site-local.yaml"
    " --events watch.jsonl": (
        "follows the cluster until Ctrl-C; tests/test_watch*.py run it with --once"
    ),
    ".venv/bin/python -m pytest -m slurm": "this test suite's own Slurm subset",
    "python benchmarks/replay_fidelity.py": (
        "a benchmark (30 jobs on the cluster); tests/test_replay_fidelity.py runs 8"
    ),
    "hpcsched cancel wf.run": (
        "needs a run going on in wf.run; tests/test_run_cancel.py cancels one and resumes it"
    ),
    "bash scripts/slurm-local.sh stop": "would stop the cluster of the whole test session",
    "export HPCSCHED_BUS_URL=$(bash scripts/bus-local.sh start)": (
        ".ci/run starts the bus for the whole test session"
    ),
    "bash scripts/bus-local.sh stop": "would stop the bus of the whole test session",
    "hpcsched watch --observe --events $HPCSCHED_BUS_URL/watch": (
        "follows the cluster until Ctrl-C; tests/test_agents_slurm.py runs it with --once"
    ),
    "hpcsched bench scheduling --sizes 10,50,100 --seeds 3 --out bench": (
        "the full table (~4 min on 2 cores); tests/test_bench_scheduling.py runs the harness on "
        "small instances, tests/test_cpsat.py and test_bounds.py CP-SAT and the bounds"
    ),
    "python benchmarks/swarm_protocols.py --jobs 1000 --out swarm-bench/": (
        "a benchmark (8 live runs of 20 s, a 1,000-agent simulation); tests/test_swarm*.py "
        "run both protocols live and simulated at small n"
    ),
}

#: What a line needs that the machine may not have (fails under CI=true, skips elsewhere).
NEEDS = {
    "llm": (
        "hpcsched llm check",
        "--narrate",
        "--explain",
        "--planner llm",
        "--policy llm",
        ",llm",
    ),
    "slurm": ("trace pull", "salloc ", "--executor slurm", "pulled.parquet", "slurm-local.sh"),
    "bus": ("$HPCSCHED_BUS_URL", "hpcsched bus "),
}
REQUIRE = {"llm": require_llm, "slurm": require_slurm, "bus": require_bus}

JOB_SCRIPT = """#!/bin/bash
#SBATCH --job-name=relax
#SBATCH --nodes=1
#SBATCH --ntasks=2
#SBATCH --time=02:00:00
#SBATCH --mem=1G
srun sleep 1
"""


def readme_commands() -> list[str]:
    """Each command of the bash blocks, comments dropped, ``\\``-continued lines joined."""
    commands = []
    for block in blocks("bash"):
        pending = ""
        for line in block.splitlines():
            command = re.sub(r"\s+#\s.*$", "", line).strip()
            if command.endswith("\\"):
                pending += command[:-1].strip() + " "
                continue
            command, pending = (pending + command).strip(), ""
            if command:
                commands.append(command)
    return commands


def typed(command: str) -> str:
    """The command as run here: optional ``[...]`` parts left out, TRACE a small real trace."""
    command = re.sub(r"\s*\[[^\]]*\]", "", command)
    return re.sub(r"\bTRACE\b", "../shared/data/traces/lublin_256.swf.gz", command)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("readme")
    data = require_shared(SHARED / "data")
    (base / "shared").symlink_to(SHARED)
    home = base / "project"
    home.mkdir()
    for name in ("examples", "scripts", "benchmarks"):
        (home / name).symlink_to(ROOT / name)
    sample = data / "sacct"
    links = {
        "sacct.txt": sample / "local-slurm-sample.txt",
        "sacct.json": sample / "local-slurm-sample.sacct.json",
        "squeue.json": sample / "local-slurm-squeue-during.json",
        "sinfo.json": sample / "local-slurm-sinfo.json",
        "KTH.swf.gz": data / "traces" / "KTH-SP2-1996-2.1-cln.swf.gz",
        "instance.json": data / "wfcommons" / "srasearch-chameleon-10a-001.json",
    }
    for name, target in links.items():
        (home / name).symlink_to(target)
    (workflow,) = [b for b in blocks("yaml") if b.lstrip().startswith("name: hello")]
    (home / "wf.yaml").write_text(workflow)
    (home / "job.sbatch").write_text(JOB_SCRIPT)
    bin_dir = base / "bin"
    bin_dir.mkdir()
    launcher = bin_dir / "hpcsched"
    launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m hpcsched.cli "$@"\n')
    launcher.chmod(0o755)
    # `python` as in an activated virtual environment (a script: a symlink to the venv's python
    # from another folder would not find the venv's pyvenv.cfg)
    (bin_dir / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (bin_dir / "python").chmod(0o755)
    for policy in ("easy", "fcfs"):
        shell(home, f"hpcsched simulate {typed('TRACE')} --policy {policy} --out {policy}.parquet")
    return home


def shell(home: Path, command: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, SHELL="/bin/bash", COLUMNS="120")
    env["PATH"] = f"{home.parent / 'bin'}{os.pathsep}{env['PATH']}"
    proc = subprocess.run(
        ["bash", "-c", command], cwd=home, env=env, capture_output=True, text=True, timeout=TIMEOUT
    )
    assert proc.returncode == 0, f"{command}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return proc


def _json_last_line(proc: subprocess.CompletedProcess[str], home: Path) -> None:
    json.loads(proc.stdout.strip().splitlines()[-1])


def _version(proc: subprocess.CompletedProcess[str], home: Path) -> None:
    assert re.fullmatch(r"hpcsched \d+\.\d+\.\d+\S*", proc.stdout.strip()), proc.stdout


def _landscape(proc: subprocess.CompletedProcess[str], home: Path) -> None:
    svg = (home / "usi" / "work" / "plots" / "landscape.svg").read_text()
    assert svg.startswith("<svg") and "<circle" in svg


def _report(proc: subprocess.CompletedProcess[str], home: Path) -> None:
    assert (home / "report" / "report.html").stat().st_size > 10_000


#: What the user is promised beyond the exit status, by the start of the line.
CHECKS: dict[str, Callable[[subprocess.CompletedProcess[str], Path], None]] = {
    "hpcsched --version": _version,
    "hpcsched simulate ../shared/data/traces/SDSC-SP2": _json_last_line,
    "hpcsched run wf.yaml --cpus 8 --mem 16G --json": _json_last_line,
    "hpcsched campaign materials --goal usi --clock live": _landscape,
    "hpcsched report jobs.parquet --out report/": _report,
    "hpcsched plan tools examples/plan-tools.yaml --require-utility": _json_last_line,
}


COMMANDS = readme_commands()


def test_every_readme_command_is_run_or_listed_with_a_reason() -> None:
    assert COMMANDS, f"no bash block in {README}"
    assert not set(SKIPPED) - set(COMMANDS), "SKIPPED lists a line the README no longer has"


#: Commands that serve until Ctrl-C, by their start: covered elsewhere.
SERVERS = {
    "hpcsched dashboard ": "serves until Ctrl-C; tests/test_dashboard*.py drive it in Chromium",
    "hpcsched bus serve": (
        "serves until Ctrl-C; tests/test_bus*.py start it on a free port (and on a taken one)"
    ),
}


@pytest.mark.parametrize("command", COMMANDS)
def test_the_readme_command_runs(project: Path, command: str) -> None:
    if command in SKIPPED:
        pytest.skip(SKIPPED[command])
    for start, reason in SERVERS.items():
        if command.startswith(start):
            pytest.skip(reason)
    for need, markers in NEEDS.items():
        if any(marker in command for marker in markers):
            REQUIRE[need]()
    proc = shell(project, typed(command))
    for prefix, check in CHECKS.items():
        if command.startswith(prefix):
            check(proc, project)
