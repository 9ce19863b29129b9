"""The config file of defaults (issue 21, item 1): flag > environment > file > built-in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hpcsched.cli import app
from hpcsched.llm.settings import load_settings
from hpcsched.workloads.load import write_table
from test_advise import EXAMPLE_SITE, SCRIPT, synthetic_history
from test_predict_estimators import synthetic_jobs


def config(tmp_path: Path, text: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    monkeypatch.setenv("HPCSCHED_CONFIG", str(path))
    return path


@pytest.fixture
def jobs(tmp_path: Path) -> Path:
    path = tmp_path / "jobs.parquet"  # cpus 1..63 on a machine of 64
    write_table(synthetic_jobs(300), path, machine_procs=64)
    return path


def simulate(jobs: Path, *extra: str) -> dict[str, object]:
    result = CliRunner().invoke(app, ["simulate", str(jobs), "--json", *extra])
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout.splitlines()[-1]))


def test_procs_from_the_file_and_a_flag_overrides_it(
    jobs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert simulate(jobs)["refused"] == 0  # the table's own machine: 64
    config(tmp_path, "procs = 16\n", monkeypatch)
    assert simulate(jobs)["refused"] > 0  # jobs of 17..63 cpus do not fit 16
    assert simulate(jobs, "--procs", "64")["refused"] == 0


def test_advise_takes_its_site_from_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synthetic_history(tmp_path / "h.parquet", jobs=150)
    (tmp_path / "job.sbatch").write_text(SCRIPT)
    args = ["advise", str(tmp_path / "job.sbatch"), "--history", str(tmp_path / "h.parquet")]
    missing = CliRunner().invoke(app, [*args, "--json"])
    assert missing.exit_code == 2 and "--site" in missing.output
    config(tmp_path, f'site = "{EXAMPLE_SITE}"\n', monkeypatch)
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.splitlines()[-1])


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ('procs = 8\nsitee = "x.yaml"\n', "config.toml:2: unknown setting 'sitee' (known: site, "),
        ('procs = "64"\n', "config.toml:1: procs must be a positive integer, not '64' (str)"),
        ("procs = 0\n", "config.toml:1: procs must be a positive integer, not 0 (int)"),
        ("partition = 3\n", "config.toml:1: partition must be a partition name (string), not 3"),
        ("procs = \n", "config.toml: not valid TOML"),
    ],
)
def test_a_bad_file_is_one_line_naming_file_and_key(
    text: str, line: str, jobs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config(tmp_path, text, monkeypatch)
    for args in (["simulate", str(jobs)], ["config", "show"]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2
        assert result.stdout == ""
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
        assert line in result.stderr, result.stderr
    where = CliRunner().invoke(app, ["config", "path"])  # to find the file to fix
    assert where.exit_code == 0 and where.stdout.endswith("config.toml\n")


def test_show_says_where_each_value_comes_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = config(tmp_path, 'procs = 128\nllm_model = "file-m"\n', monkeypatch)
    monkeypatch.setenv("HPCSCHED_LLM_URL", "http://env:1")
    shown = CliRunner().invoke(app, ["config", "show", "--json"])
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.stdout)
    rows = {row["setting"]: (row["value"], row["source"]) for row in data["settings"]}
    assert data["file"] == str(path) and data["exists"] is True
    assert rows["procs"] == ("128", "file")
    assert rows["site"][1] == "default" and rows["partition"][1] == "default"
    assert rows["llm_model"] == ("file-m", "file")
    assert rows["llm_url"] == ("http://env:1/v1", "env HPCSCHED_LLM_URL")
    table = CliRunner().invoke(app, ["config", "show"]).stdout
    assert f"config file: {path}" in table
    assert "│ procs     │ 128" in table and "│ file" in table


def test_path_follows_hpcsched_config_then_xdg(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HPCSCHED_CONFIG")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    shown = CliRunner().invoke(app, ["config", "path"])
    assert shown.stdout == f"{tmp_path}/xdg/hpcsched/config.toml\n"
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/ignored")  # the spec: absolute paths only
    assert (
        CliRunner()
        .invoke(app, ["config", "path"])
        .stdout.endswith("/.config/hpcsched/config.toml\n")
    )
    monkeypatch.setenv("HPCSCHED_CONFIG", str(tmp_path / "other.toml"))
    assert CliRunner().invoke(app, ["config", "path"]).stdout == f"{tmp_path}/other.toml\n"


def test_llm_endpoint_flag_over_env_over_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('llm_url = "http://file:1"\nllm_model = "file-m"\n')
    env = {"HPCSCHED_CONFIG": str(path)}
    assert load_settings({}, env=env).url == "http://file:1/v1"
    assert load_settings({}, env=env).model == "file-m"
    env["HPCSCHED_LLM_URL"] = "http://env:2"
    assert load_settings({}, env=env).url == "http://env:2/v1"
    assert load_settings({"url": "http://flag:3"}, env=env).url == "http://flag:3/v1"
    path.write_text('llm_url = "http://file:1"\n[llm]\nurl = "http://file:2"\n')
    with pytest.raises(ValueError, match="both llm_url and \\[llm\\] url are set"):
        load_settings({}, env={"HPCSCHED_CONFIG": str(path)})


def test_a_file_partition_does_not_trip_slurm_steps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "wf.yaml").write_text("tasks: []\n")
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    args = ["run", str(tmp_path / "wf.yaml"), "--executor", "slurm", "--slurm-mode", "steps"]
    flagged = CliRunner().invoke(app, [*args, "--partition", "debug"])
    assert "--partition goes with --slurm-mode jobs" in flagged.stderr
    config(tmp_path, 'partition = "debug"\n', monkeypatch)
    from_file = CliRunner().invoke(app, args)
    assert from_file.exit_code == 2
    assert "--partition goes with" not in from_file.stderr
    assert "SLURM_JOB_ID is not set" in from_file.stderr


def test_the_readme_example_file_is_valid(tmp_path: Path) -> None:
    import re

    from hpcsched.core.config_file import load_config

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    (text,) = re.findall(r"```toml\n(.*?)```", readme, flags=re.S)
    (tmp_path / "config.toml").write_text(text)
    assert load_config(tmp_path / "config.toml") == {
        "site": "examples/site-local.yaml",
        "procs": 256,
        "partition": "debug",
        "llm_url": "http://127.0.0.1:8765/v1",
        "llm_model": "smollm2",
    }


def test_report_sinfo_flag_beats_the_file_procs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from conftest import SHARED, require_shared

    sample = require_shared(SHARED / "data" / "sacct" / "local-slurm-sample.txt")
    sinfo = require_shared(SHARED / "data" / "sacct" / "local-slurm-sinfo.json")  # 8 cpus
    config(tmp_path, "procs = 64\n", monkeypatch)
    args = ["report", str(sample), "--out", str(tmp_path / "r")]
    from_file = CliRunner().invoke(app, args)
    assert "of 64 processors" in " ".join(from_file.stdout.split())
    flagged = CliRunner().invoke(app, [*args, "--sinfo", str(sinfo)])
    assert flagged.exit_code == 0, flagged.output
    assert "of 8 processors" in " ".join(flagged.stdout.split())
