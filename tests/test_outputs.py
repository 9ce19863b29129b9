"""Issue 22, finding 13: every ``--out`` is checked before work starts (one line, never a
traceback, nothing created), the suffix says the format, and files are written atomically."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from hpcsched.cli import app
from hpcsched.workloads.load import write_table

SWF = "; MaxProcs: 8\n" + "".join(
    f"{i} {i * 10} 0 100 4 -1 -1 4 200 -1 1 7 3 -1 1 1 -1 -1\n" for i in range(1, 6)
)


def _bad_outs(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    a_file = tmp_path / "plain-file"
    a_file.write_text("x")
    (tmp_path / "a-folder").mkdir(exist_ok=True)
    return {
        "proc": (Path("/proc/x.parquet"), "cannot write in /proc"),
        "under-a-file": (a_file / "x.parquet", "is a file, not a folder"),
        "missing-parent": (tmp_path / "no" / "such" / "x.parquet", "does not exist"),
        "a-folder": (tmp_path / "a-folder", "it is a folder"),
        "json-suffix": (tmp_path / "x.json", "must end in .parquet"),
    }


@pytest.mark.parametrize(
    "case", ["proc", "under-a-file", "missing-parent", "a-folder", "json-suffix"]
)
@pytest.mark.parametrize("command", ["simulate", "convert"])
def test_out_is_checked_before_work(tmp_path: Path, case: str, command: str) -> None:
    trace = tmp_path / "t.swf"
    trace.write_text(SWF)
    out, says = _bad_outs(tmp_path)[case]
    args = ["simulate", str(trace)] if command == "simulate" else ["trace", "convert", str(trace)]
    result = CliRunner().invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert says in result.stderr and result.stderr.count("\n") == 1
    assert "Traceback" not in result.output
    assert not (tmp_path / "no").exists() and not (tmp_path / "x.json").exists()


def test_simulate_writes_the_parquet_it_was_asked_for(tmp_path: Path) -> None:
    trace = tmp_path / "t.swf"
    trace.write_text(SWF)
    result = CliRunner().invoke(app, ["simulate", str(trace), "--out", str(tmp_path / "s.parquet")])
    assert result.exit_code == 0, result.output
    assert pl.read_parquet(tmp_path / "s.parquet").height == 5
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left


def test_report_out_folder_is_checked(tmp_path: Path) -> None:
    trace = tmp_path / "t.swf"
    trace.write_text(SWF)
    for out in (Path("/proc/report"), tmp_path / "missing" / "report"):
        result = CliRunner().invoke(app, ["report", str(trace), "--out", str(out)])
        assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.output


def test_an_interrupted_table_write_leaves_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyarrow.parquet as pq

    path = tmp_path / "t.parquet"
    write_table(pl.DataFrame({"job_id": ["1"]}), path)
    before = path.read_bytes()

    def broken(table: object, where: object, **_: object) -> None:
        Path(str(where)).write_bytes(b"PAR1 half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(pq, "write_table", broken)
    with pytest.raises(KeyboardInterrupt):
        write_table(pl.DataFrame({"job_id": ["2"]}), path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.parquet"]
