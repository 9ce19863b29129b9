"""advise with too little history changes nothing it did not learn, picks no dearer QoS unless
asked (--prefer fastest), and prints a unit beside every number of its table (issue r21, item 1).
"""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from hpcsched.advise.sbatch_script import parse_script
from hpcsched.cli import app
from test_advise import EXAMPLE_SITE, SCRIPT, synthetic_history

from conftest import SHARED, require_shared

QUEUE = SHARED / "data" / "sacct" / "local-slurm-squeue-during.json"


def run_advise(tmp_path: Path, jobs: int, *extra: str) -> tuple[str, str]:
    """advise the 1G script on a ``jobs``-long history and the real queue: (stdout, script)."""
    synthetic_history(tmp_path / "h.parquet", jobs=jobs)
    (tmp_path / "job.sbatch").write_text(SCRIPT.replace("--mem=500M", "--mem=1G"))
    args = ["advise", str(tmp_path / "job.sbatch"), "--history", str(tmp_path / "h.parquet")]
    args += ["--site", str(EXAMPLE_SITE), "--user", "alice"]
    args += ["--queue", str(require_shared(QUEUE)), *extra]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return result.stdout, (tmp_path / "job.advised.sbatch").read_text()


def test_a_short_history_keeps_the_scripts_memory_and_time_and_says_why(tmp_path: Path) -> None:
    out, written = run_advise(tmp_path, 3)
    script = parse_script(written)
    assert script.get("--mem") == "1G"  # was rewritten to 1100M from nothing learnt
    assert "--mem changed" not in written and "--time changed" not in written
    assert "--mem kept: only 3 past jobs with a known peak memory, 100 needed" in out
    assert "--time kept: only 3 past jobs with a known run time, 100 needed" in out


def test_the_default_never_picks_a_dearer_qos_and_fastest_must_be_asked(tmp_path: Path) -> None:
    out, written = run_advise(tmp_path, 3, "--json")
    report = json.loads(out)
    advised = next(row for row in report["what_if"] if row["advised"])
    assert advised["cost"] == min(row["cost"] for row in report["what_if"])
    assert parse_script(written).get("--qos") != "high"  # high: 2x the charge, 5 min earlier
    fastest, written = run_advise(tmp_path, 3, "--json", "--prefer", "fastest")
    assert parse_script(written).get("--qos") == "high"
    assert json.loads(fastest)["advised"]["qos"] == "high"


def test_every_column_of_the_what_if_table_has_its_unit(tmp_path: Path) -> None:
    out, _ = run_advise(tmp_path, 3)
    assert "1.0 GiB" in out  # the request's memory, not "1100 MB"
    header = next(line for line in out.splitlines() if "partition" in line and "QoS" in line)
    assert "cost (SU)" in header and "max (SU)" in header
    row = next(line for line in out.splitlines() if "ADVISED" in line)
    assert " min" in row and "+" in row  # limit, start and end in minutes
    site = EXAMPLE_SITE.read_text().replace("max_chain_parts: 10", "charge_unit: core-h")
    (tmp_path / "site.yaml").write_text(site)
    synthetic_history(tmp_path / "h.parquet", jobs=3)
    args = ["advise", str(tmp_path / "job.sbatch"), "--history", str(tmp_path / "h.parquet")]
    args += ["--site", str(tmp_path / "site.yaml"), "--user", "alice"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "cost (core-h)" in result.stdout


def test_a_learnt_history_still_rewrites_and_says_so_in_mib(tmp_path: Path) -> None:
    out, written = run_advise(tmp_path, 150)
    assert "kept:" not in out
    assert parse_script(written).get("--mem") == "400M"  # ~300 MiB used of the 1G asked
    assert "rounded up to 100 MiB per node); was: #SBATCH --mem=1G" in written
