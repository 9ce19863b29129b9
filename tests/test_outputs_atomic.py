"""Issue 22: every output option other than ``--out`` (``run --events``, ``report --ledger``,
``campaign --ledger``) is checked before work starts, in one line naming the option; files are
written through a temporary file and a rename, so an interrupted write leaves no file under the
final name and no temporary file (the append logs ``--events`` and ``--ledger`` are appended to,
not replaced: only checked)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import pytest
from typer.testing import CliRunner

from hpcsched.cli import app

SWF = "; MaxProcs: 8\n" + "".join(
    f"{i} {i * 10} 0 100 4 -1 -1 4 200 -1 1 7 3 -1 1 1 -1 -1\n" for i in range(1, 6)
)
CASES = ["proc", "under-a-file", "missing-parent", "a-folder"]


def _bad(tmp_path: Path, case: str) -> tuple[Path, str]:
    a_file = tmp_path / "plain-file"
    a_file.write_text("x")
    (tmp_path / "a-folder").mkdir(exist_ok=True)
    missing = tmp_path / "no" / "such"
    return {
        "proc": (Path("/proc/x.jsonl"), "cannot write in /proc"),
        "under-a-file": (a_file / "x.jsonl", f"{a_file} is a file, not a folder"),
        "missing-parent": (
            missing / "x.jsonl",
            f"does not exist (create it first: mkdir -p {missing})",
        ),
        "a-folder": (tmp_path / "a-folder", "it is a folder; give a file name in it"),
    }[case]


def _one_error_line(result: Any, option: str, says: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"hpcsched: error: {option} cannot write"), result.stderr
    assert says in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize("case", CASES)
def test_report_ledger_is_checked_before_work(tmp_path: Path, case: str) -> None:
    trace = tmp_path / "t.swf"
    trace.write_text(SWF)
    ledger, says = _bad(tmp_path, case)
    out = tmp_path / "report"
    result = CliRunner().invoke(
        app, ["report", str(trace), "--out", str(out), "--narrate", "--ledger", str(ledger)]
    )
    _one_error_line(result, "--ledger", says)
    assert not out.exists() and not (tmp_path / "no").exists()


@pytest.mark.parametrize("case", ["proc", "a-folder"])
def test_campaign_ledger_is_checked_before_work(tmp_path: Path, case: str) -> None:
    ledger, says = _bad(tmp_path, case)
    result = CliRunner().invoke(app, ["campaign", "materials", "--ledger", str(ledger)])
    _one_error_line(result, "--ledger", says)


@pytest.mark.parametrize("case", CASES)
def test_run_events_is_checked_before_work(tmp_path: Path, case: str) -> None:
    workflow = tmp_path / "wf.yaml"
    workflow.write_text("jobs:\n  - id: one\n    command: 'touch ran'\n")
    events, says = _bad(tmp_path, case)
    result = CliRunner().invoke(app, ["run", str(workflow), "--events", str(events)])
    _one_error_line(result, "--events", says)
    assert not (tmp_path / "wf.run").exists() and not (tmp_path / "ran").exists()


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _half_then_fail(monkeypatch: pytest.MonkeyPatch, method: str) -> None:
    """``Path.<method>`` writes half its data, then the process is interrupted."""
    real = getattr(Path, method)

    def broken(self: Path, data: Any, *args: Any, **kwargs: Any) -> None:
        real(self, data[: len(data) // 2], *args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(Path, method, broken)


def test_an_interrupted_png_batch_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import plotly.io as pio

    from hpcsched.analytics.report import write_pngs

    def broken(figs: Any, paths: list[Path], **_: Any) -> None:
        Path(paths[0]).write_bytes(b"\x89PNG half")
        raise KeyboardInterrupt

    monkeypatch.setattr(pio, "write_images", broken)
    with pytest.raises(KeyboardInterrupt):
        write_pngs([{"a": go.Figure(), "b": go.Figure()}], [""], tmp_path / "png")
    assert _names(tmp_path / "png") == []


def test_png_batch_lands_under_the_final_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import plotly.io as pio

    from hpcsched.analytics.report import write_pngs

    def fake(figs: Any, paths: list[Path], **_: Any) -> None:
        for p in paths:
            Path(p).write_bytes(b"\x89PNG")

    monkeypatch.setattr(pio, "write_images", fake)
    paths = write_pngs([{"a": go.Figure(), "b": go.Figure()}], [""], tmp_path / "png")
    assert _names(tmp_path / "png") == ["a.png", "b.png"] == [p.name for p in paths]


def test_an_interrupted_ledger_write_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hpcsched.llm.ledger import TokenLedger

    path = tmp_path / "llm-ledger.json"
    path.write_text("old\n")
    _half_then_fail(monkeypatch, "write_text")
    with pytest.raises(KeyboardInterrupt):
        TokenLedger("report").write(path)
    assert path.read_text() == "old\n"
    assert _names(tmp_path) == ["llm-ledger.json"]


def test_an_interrupted_pull_window_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hpcsched.slurm.pull import _write

    path = tmp_path / "2026-01.txt"
    _half_then_fail(monkeypatch, "write_text")
    with pytest.raises(KeyboardInterrupt):
        _write(path, "JobID|State\n1|COMPLETED\n")
    assert _names(tmp_path) == []


def test_an_interrupted_damaged_copy_keeps_the_synthetic_trace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hpcsched.workloads.sacct_synth import write_swf_trace

    path = tmp_path / "t.swf"
    write_swf_trace(path, 20, seed=1)
    before = path.read_bytes()
    _half_then_fail(monkeypatch, "write_bytes")
    with pytest.raises(KeyboardInterrupt):
        write_swf_trace(path, 20, seed=1, malformed=3)
    assert _names(tmp_path) == ["t.swf"]
    assert path.read_bytes() == before
