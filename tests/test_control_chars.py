"""Issue 22: control characters (C0 but tab, DEL, C1) in any field of a sacct record make the
record malformed, with its line (``sacct -P``) or its ``jobs`` index (``sacct --json``); a tab
is kept. The compiled scan and its numpy reference find the same lines."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from hpcsched.workloads import sacct_lines as sl
from hpcsched.workloads.sacct_json import read_sacct_json
from hpcsched.workloads.swf import read_swf
from sacct_helpers import job_line, read_lines, step_line

SAMPLE_JSON = Path(__file__).parents[2] / "shared/data/sacct/local-slurm-sample.sacct.json"
CONTROLS = ["\x01", "\x07", "\x1b", "\x1f", "\r", "\x0b", "\x7f", "\x80", "\x85", "\x9f"]


@pytest.fixture(params=["kernel", "numpy"])
def scan_by(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "numpy":
        monkeypatch.setattr(sl, "KERNEL", None)
    elif sl.KERNEL is None:
        pytest.skip("the compiled scan is not built")
    return str(request.param)


@pytest.mark.parametrize("char", CONTROLS)
@pytest.mark.parametrize("field", ["JobName", "User", "Partition", "NodeList"])
def test_sacct_text_control_character_makes_the_line_malformed(
    tmp_path: Path, scan_by: str, field: str, char: str
) -> None:
    bad = job_line("2", **{field: f"ab{char}cd"})
    read = read_lines(tmp_path, job_line("1"), bad, job_line("3"))
    assert read.table["job_id"].to_list() == ["1", "3"]
    assert [m.line for m in read.malformed] == [3]
    reason = read.malformed[0].reason
    assert reason == f"field {field} holds the control character U+{ord(char):04X}"


def test_sacct_text_tab_and_other_text_are_kept(tmp_path: Path, scan_by: str) -> None:
    read = read_lines(tmp_path, job_line("1", JobName="a\tb"), job_line("2", JobName="é\u00a0x"))
    assert read.table["name"].to_list() == ["a\tb", "é\u00a0x"]
    assert read.malformed == []


def test_sacct_text_control_character_in_a_step_row(tmp_path: Path, scan_by: str) -> None:
    bad_step = step_line("1.batch").replace("|batch|", "|ba\x1bch|")
    read = read_lines(tmp_path, job_line("1"), bad_step, job_line("2"))
    assert [m.line for m in read.malformed] == [3]
    assert read.table["job_id"].to_list() == ["1", "2"]


def test_sacct_text_control_characters_in_long_lines(tmp_path: Path, scan_by: str) -> None:
    """Past the scan's eight-byte words, and C1 split across two of them."""
    names = ["x" * 40 + "\x07", "y" * 7 + "\u0085" + "z" * 30, "w" * 6 + "\u0085", "v" * 45]
    read = read_lines(tmp_path, *(job_line(str(i), JobName=n) for i, n in enumerate(names, 1)))
    assert [m.line for m in read.malformed] == [2, 3, 4]
    assert read.table["job_id"].to_list() == ["4"]


@pytest.mark.parametrize("char", [*CONTROLS, "\x00", "\n"])
@pytest.mark.parametrize("key", ["user", "account", "partition", "name", "nodes"])
def test_sacct_json_control_character_makes_the_entry_malformed(
    tmp_path: Path, key: str, char: str
) -> None:
    data = json.loads(SAMPLE_JSON.read_text())
    job = copy.deepcopy(data["jobs"][0])
    job[key] = f"ab{char}cd"
    data["jobs"].insert(1, job)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    read = read_sacct_json(path)
    assert [m.line for m in read.malformed] == [2]
    assert f"{key} holds the control character U+{ord(char):04X}" in read.malformed[0].reason
    assert read.rows_read == len(data["jobs"]) - 1


SWF_LINE = " ".join(["1"] * 18)


@pytest.mark.parametrize("char", [c for c in CONTROLS if c not in "\r\x0b"] + ["\x1c"])
@pytest.mark.parametrize("where", ["in a field", "between fields"])
def test_swf_control_character_makes_the_line_malformed(
    tmp_path: Path, char: str, where: str
) -> None:
    fields = SWF_LINE.split(" ")
    if where == "in a field":
        fields[3] = f"5{char}5"
    else:
        fields.insert(3, char)
    path = tmp_path / "bad.swf"
    path.write_text("\n".join(["; MaxProcs: 8", SWF_LINE, " ".join(fields), SWF_LINE]) + "\n")
    trace = read_swf(path)
    assert trace.table.height == 2
    assert [m.line for m in trace.malformed] == [3]
    why = f" (the control character U+{ord(char):04X}: no SWF field holds one)"
    assert trace.malformed[0].reason.endswith(why)


def test_swf_blanks_still_separate_fields(tmp_path: Path) -> None:
    """Tab, VT, FF and CR are blanks between SWF fields, as before."""
    path = tmp_path / "blanks.swf"
    path.write_text(SWF_LINE.replace(" ", "\t", 3).replace(" ", "\x0b", 1) + "\x0c\r\n")
    trace = read_swf(path)
    assert trace.malformed == []
    assert trace.table.height == 1
