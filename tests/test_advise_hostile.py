"""Issue 22, findings 10 and 12 (advise): nothing a user did not write is executed by the
submit chain, and a count beyond Slurm's 32 bits is one refusal line, not a traceback."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hpcsched.cli import app
from hpcsched.workloads.load import write_table
from hpcsched.workloads.sacct import read_sacct
from test_advise import EXAMPLE_SITE, SACCT, SCRIPT

from conftest import require_shared

HOSTILE = "r$(touch${IFS}pwned);`id`.sbatch"


def _advise(tmp_path: Path, script: str, out: Path | None) -> tuple[int, str, str]:
    sample = require_shared(SACCT / "local-slurm-sample.txt")
    write_table(read_sacct(sample).table, tmp_path / "h.parquet")
    (tmp_path / "job.sbatch").write_text(script)
    args = ["advise", str(tmp_path / "job.sbatch"), "--history", str(tmp_path / "h.parquet")]
    args += ["--site", str(EXAMPLE_SITE), "--user", "root"]
    args += ["--queue", str(SACCT / "local-slurm-squeue-during.json")]
    result = CliRunner().invoke(app, [*args, *(["--out", str(out)] if out else [])])
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("name", [HOSTILE, "my job.sbatch"])
def test_submit_chain_runs_nothing_it_was_not_asked_to(tmp_path: Path, name: str) -> None:
    out = tmp_path / "out" / name
    out.parent.mkdir()
    code, stdout, stderr = _advise(tmp_path, SCRIPT.replace("-t 60", "-t 45 -p debug"), out)
    assert code == 0, stdout + stderr
    chain = out.with_name("submit-chain.sh")
    assert chain.exists()
    bin_dir, ledger = tmp_path / "bin", tmp_path / "sbatch-args"
    bin_dir.mkdir()
    fake = bin_dir / "sbatch"  # records the path it was given, answers with a job id
    fake.write_text(f'#!/bin/bash\nprintf "%s\\n" "${{@: -1}}" >> {ledger}\necho 42\n')
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    run = subprocess.run(
        ["bash", str(chain)], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stderr
    assert not list(tmp_path.rglob("pwned")) and not list(Path.cwd().glob("pwned"))
    given = ledger.read_text().splitlines()
    stem = name.removesuffix(".sbatch")
    assert given == [str(out.with_name(f"{stem}.part{k}.sbatch")) for k in (1, 2)]
    assert all(Path(p).exists() for p in given)


@pytest.mark.parametrize(
    "line", ["-N 99999999999999999999", "-N 2147483648", "-n ١٢", "--gpus=99999999999999"]
)
def test_sbatch_counts_beyond_32_bits_are_one_line(tmp_path: Path, line: str) -> None:
    code, _, stderr = _advise(tmp_path, SCRIPT.replace("-N 1 -n 2", line), None)
    assert code == 2
    assert stderr.strip().count("\n") == 0 and "Traceback" not in stderr
    assert "is above Slurm's largest" in stderr or "is not a whole number" in stderr
