"""`hpcsched trace convert` and `trace synth`: every --from on real samples, the --json summary,
--fields/--delimiter, keyed anonymization, one-line errors (exit 2), synth for both formats."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from hpcsched.cli import app
from hpcsched.workloads.anonymize import anonymized_columns
from hpcsched.workloads.load import load_jobs
from hpcsched.workloads.sacct import read_sacct
from hpcsched.workloads.sacct_json import read_sacct_json
from hpcsched.workloads.swf import read_swf

from conftest import SHARED, require_shared

SACCT = SHARED / "data" / "sacct"
runner = CliRunner()


def _run(*args: str | Path, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, [str(a) for a in args], env=env)
    return result.exit_code, result.stdout, result.stderr


def _summary(stdout: str) -> dict[str, object]:
    parsed = json.loads(stdout.strip().splitlines()[-1])
    assert isinstance(parsed, dict)
    return parsed


def _table(path: Path) -> pl.DataFrame:
    return pl.read_parquet(path)


def test_convert_sacct_text_json_summary(tmp_path: Path) -> None:
    sample = require_shared(SACCT / "local-slurm-sample-duplicates.txt")
    code, out, err = _run("trace", "convert", sample, "--out", tmp_path / "t.parquet", "--json")
    assert code == 0, err
    read = read_sacct(sample)
    summary = _summary(out)
    assert summary["source"] == "sacct"
    assert {k: summary[k] for k in ("rows_read", "jobs", "steps", "malformed")} == {
        "rows_read": 86,
        "jobs": 27,
        "steps": 58,
        "malformed": 0,
    }
    assert (summary["requeues"], summary["duplicates"], summary["orphan_steps"]) == (1, 0, 0)
    assert summary["states"] == read.states()
    assert_frame_equal(_table(tmp_path / "t.parquet"), read.table)


def test_convert_sniffs_sacct_json(tmp_path: Path) -> None:
    sample = require_shared(SACCT / "local-slurm-sample.sacct.json")
    code, out, err = _run("trace", "convert", sample, "--out", tmp_path / "j.parquet", "--json")
    assert code == 0, err
    summary = _summary(out)
    read = read_sacct_json(sample)
    assert (summary["source"], summary["jobs"], summary["requeues"]) == ("sacct-json", 27, 1)
    assert summary["states"] == read.states()
    assert_frame_equal(_table(tmp_path / "j.parquet"), read.table)


def test_convert_swf_keeps_the_machine_size(traces_dir: Path, tmp_path: Path) -> None:
    trace_path = traces_dir / "KTH-SP2-1996-2.1-cln.swf.gz"
    out = tmp_path / "kth.parquet"
    code, stdout, err = _run("trace", "convert", trace_path, "--out", out, "--json")
    assert code == 0, err
    trace = read_swf(trace_path)
    summary = _summary(stdout)
    assert (summary["source"], summary["jobs"], summary["steps"]) == ("swf", trace.table.height, 0)
    loaded = load_jobs(out)
    assert loaded.machine_procs == trace.machine_procs == 100
    assert_frame_equal(loaded.table, trace.table)


def test_convert_noheader_fields_and_delimiter(tmp_path: Path) -> None:
    sample = require_shared(SACCT / "local-slurm-sample.txt")
    header, *lines = sample.read_text().splitlines()
    reference = read_sacct(sample).table.drop("sacct_line")
    bare = tmp_path / "bare.txt"
    bare.write_text("\n".join(lines) + "\n")
    fields = ",".join(header.split("|"))
    code, _, err = _run(
        "trace", "convert", bare, "--fields", fields, "--out", tmp_path / "b.parquet"
    )
    assert code == 0, err
    assert_frame_equal(_table(tmp_path / "b.parquet").drop("sacct_line"), reference)
    # without --fields the first data line is not a header: one clear error
    code, _, err = _run("trace", "convert", bare, "--out", tmp_path / "x.parquet")
    assert code == 2 and "not a sacct header" in err and "\n" not in err.strip()
    unit = tmp_path / "unit.txt"
    unit.write_text(sample.read_text().replace("|", "\x1f"))
    code, _, err = _run(
        "trace", "convert", unit, "--delimiter", "\x1f", "--out", tmp_path / "u.parquet"
    )
    assert code == 0, err
    assert_frame_equal(_table(tmp_path / "u.parquet"), read_sacct(sample).table)


def test_anonymize_is_stable_keyed_and_removes_names(tmp_path: Path) -> None:
    sample = require_shared(SACCT / "local-slurm-sample.txt")
    # user root, account research, paths /home/ci/...; not "physics": a job is named
    # "acct-physics" and job names are kept
    raw_names = (b"research", b"/home/ci", b"root")

    def convert(name: str, *extra: str) -> Path:
        out = tmp_path / name
        code, _, err = _run("trace", "convert", sample, "--out", out, *extra)
        assert code == 0, err
        return out

    clear = convert("clear.parquet")
    assert all(name in clear.read_bytes() for name in raw_names)  # the check below can fail
    one = convert("one.parquet", "--anonymize-key", "k1")
    again = convert("again.parquet", "--anonymize-key", "k1")
    other = convert("other.parquet", "--anonymize-key", "k2")
    assert not any(name in one.read_bytes() for name in raw_names)
    a, b, c, plain = (_table(p) for p in (one, again, other, clear))
    assert_frame_equal(a, b)  # same key: the same pseudonyms
    for column in ("user", "account", "workdir", "sacct_group", "sacct_submitline"):
        assert a[column].n_unique() == plain[column].n_unique(), column  # groups survive
        names = set(a[column]) - {""}  # empty stays empty: "not set" says nothing about anyone
        assert names.isdisjoint(set(plain[column])), column
        assert names.isdisjoint(set(c[column])), column  # another key: other names
    assert a["workdir"].str.starts_with("/anon/").all()
    changed = set(anonymized_columns(plain))
    assert {"user", "account", "workdir", "sacct_group", "sacct_comment"} <= changed
    untouched = [col for col in plain.columns if col not in changed]
    assert_frame_equal(a.select(untouched), plain.select(untouched))


def test_anonymize_key_from_environment_then_key_file(tmp_path: Path) -> None:
    sample = require_shared(SACCT / "local-slurm-sample.txt")
    env = {"HPCSCHED_ANON_KEY": "k1", "HOME": str(tmp_path)}
    code, _, err = _run(
        "trace", "convert", sample, "--anonymize", "--out", tmp_path / "e.parquet", env=env
    )
    assert code == 0, err
    _run("trace", "convert", sample, "--anonymize-key", "k1", "--out", tmp_path / "k.parquet")
    assert_frame_equal(_table(tmp_path / "e.parquet"), _table(tmp_path / "k.parquet"))
    env = {"HPCSCHED_ANON_KEY": "", "HOME": str(tmp_path)}
    for name in ("f1.parquet", "f2.parquet"):
        code, _, err = _run(
            "trace", "convert", sample, "--anonymize", "--out", tmp_path / name, env=env
        )
        assert code == 0, err
    key_file = tmp_path / ".config" / "hpcsched" / "anon.key"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert_frame_equal(_table(tmp_path / "f1.parquet"), _table(tmp_path / "f2.parquet"))
    assert not _table(tmp_path / "f1.parquet")["user"].equals(
        _table(tmp_path / "k.parquet")["user"]
    )


def test_malformed_lines_reported_and_strict(tmp_path: Path) -> None:
    synth = tmp_path / "s.txt"
    code, out, err = _run(
        "trace", "synth", "--jobs", "400", "--malformed", "3", "--seed", "2", "--out", synth
    )
    assert code == 0, err
    code, out, err = _run("trace", "convert", synth, "--out", tmp_path / "s.parquet", "--json")
    assert code == 0
    assert _summary(out)["malformed"] == 3
    warned = [line for line in err.splitlines() if line.startswith(f"  {synth}:")]
    assert len(warned) == 3 and "3 malformed line(s)" in err
    read = read_sacct(synth)
    assert [w.split(":")[1] for w in warned] == [str(m.line) for m in read.malformed]
    code, _, err = _run("trace", "convert", synth, "--strict", "--out", tmp_path / "z.parquet")
    assert code == 2 and err.count("\n") == 1 and f"{synth}:{read.malformed[0].line}:" in err
    assert not (tmp_path / "z.parquet").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--from", "csv"), "is not one of sacct, sacct-json, swf"),
        (("--from", "swf", "--delimiter", ";"), "--delimiter and --fields are for --from sacct"),
        (("--fields", ""), "--fields is empty"),
    ],
)
def test_bad_options_are_one_line_errors(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    sample = require_shared(SACCT / "local-slurm-sample.txt")
    code, _, err = _run("trace", "convert", sample, *args, "--out", tmp_path / "t.parquet")
    assert code == 2 and message in err and err.count("\n") == 1 and "Traceback" not in err


def test_bad_inputs_are_one_line_errors(tmp_path: Path) -> None:
    binary = tmp_path / "blob.txt"
    binary.write_bytes(b"\x00\x01\x02garbage\x00")
    broken_json = tmp_path / "j.json"
    broken_json.write_text('{"jobs": [')
    cases = [
        (tmp_path / "missing.txt", "no such file"),
        (binary, "binary data"),
        (broken_json, "not JSON"),
        (tmp_path, "it is a directory"),
    ]
    for path, message in cases:
        code, _, err = _run("trace", "convert", path, "--out", tmp_path / "t.parquet")
        assert code == 2 and message in err and err.count("\n") == 1, (path, err)
    code, _, err = _run("trace", "convert", broken_json, "--out", tmp_path / "t.txt")
    assert code == 2 and "must end in .parquet or .csv" in err


def test_synth_both_formats(tmp_path: Path) -> None:
    sacct = tmp_path / "s.txt.gz"
    code, out, err = _run("trace", "synth", "--jobs", "250", "--seed", "7", "--out", sacct)
    assert code == 0, err
    read = read_sacct(sacct)
    assert read.jobs >= 240 and read.steps > 250 and not read.malformed  # pending ranges fold
    swf = tmp_path / "s.swf"
    code, out, err = _run(
        "trace", "synth", "--jobs", "250", "--format", "swf", "--malformed", "2", "--out", swf
    )
    assert code == 0, err
    trace = read_swf(swf)
    assert trace.table.height == 248
    assert f"broken lines: {trace.malformed[0].line}, {trace.malformed[1].line}" in out
    code, _, err = _run("trace", "synth", "--jobs", "0", "--out", swf)
    assert code == 2 and "at least 1 job" in err
    code, _, err = _run("trace", "synth", "--jobs", "5", "--format", "csv", "--out", swf)
    assert code == 2 and "is not sacct or swf" in err
