"""sacct input that cannot be read: strict mode and one-line errors for unreadable files,
crafted and malformed `sacct --json` entries, and the property that garbage lines never crash
the text reader and are all counted as malformed."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hpcsched.workloads.sacct import SacctError, read_sacct
from hpcsched.workloads.sacct_fields import CONTROL, JOBID_PATTERN, PATTERNS
from hpcsched.workloads.sacct_json import read_sacct_json
from sacct_helpers import HEADER, job_line, job_row, one_line, read_lines, write_lines

# --- errors and strict mode --------------------------------------------------------------------


def test_strict_raises_one_line_at_the_first_bad_line(tmp_path: Path) -> None:
    rows = (job_line("1"), job_line("2", NCPUS="two"), job_line("3", JobName="a|b"))
    assert len(read_lines(tmp_path, *rows).malformed) == 2
    with pytest.raises(SacctError) as exc:
        read_lines(tmp_path, *rows, strict=True)
    message = one_line(exc)
    assert message.startswith(f"{tmp_path / 'sacct.txt'}:3: field NCPUS is not a count: 'two'")
    assert "strict" in message
    assert read_lines(tmp_path, job_line("1"), strict=True).jobs == 1


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "no such file (check the path)"),
        ("", "empty (sacct prints nothing when a --format name is unknown)"),
        ("1|2|basic\n", "line 1 is not a sacct header (field 1 is '1'); for --noheader output"),
        ("JobID|Submit\nfoo|bar\n", "no line could be read as sacct -P output (first: "),
        ("JobID\x00|State\n", "binary data, not sacct text output"),
    ],
)
def test_unreadable_files_are_one_line_errors(
    tmp_path: Path, content: str | None, expected: str
) -> None:
    path = tmp_path / "sacct.txt"
    if content is not None:
        path.write_text(content)
    with pytest.raises(SacctError) as exc:
        read_sacct(path)
    assert expected in one_line(exc)
    assert str(path) in str(exc.value)


def test_directory_and_header_only(tmp_path: Path) -> None:
    with pytest.raises(SacctError) as exc:
        read_sacct(tmp_path)
    assert "it is a directory" in one_line(exc)
    empty = read_sacct(write_lines(tmp_path / "h.txt", HEADER))
    assert (empty.jobs, empty.rows_read, empty.table.columns[:3]) == (
        0,
        0,
        ["job_id", "user", "account"],
    )
    assert read_sacct(write_lines(tmp_path / "blank.txt", HEADER, "", "")).jobs == 0


# --- sacct --json: crafted entries and malformed documents -------------------------------------


def _json_job(job_id: int, **extra: Any) -> dict[str, Any]:
    job = {
        "job_id": job_id,
        "name": "j",
        "state": {"current": "COMPLETED", "reason": "None"},
        "time": {
            "submission": 1767225600,
            "start": 1767225610,
            "end": 1767225670,
            "elapsed": 60,
            "limit": {"set": True, "infinite": True, "number": 0},
        },
        "exit_code": {"status": "FAILED", "return_code": 3},
        "flags": ["STARTED_ON_BACKFILL"],
        "tres": {"allocated": [{"type": "gres", "name": "gpu:a100", "count": 2}], "requested": []},
        "steps": [],
    }
    job.update(extra)
    return job


def test_json_crafted_and_malformed_entries(tmp_path: Path) -> None:
    path = tmp_path / "sacct.json"
    jobs = [
        _json_job(1),
        {"name": "no id"},
        _json_job(2, array={"job_id": 2, "task_id": None, "task": "1-10%2"}, steps=None),
        _json_job(5, het={"job_id": 5, "job_offset": 1}),
    ]
    path.write_text(json.dumps({"meta": {}, "errors": [], "jobs": jobs}))
    r = read_sacct_json(path)
    assert r.table["job_id"].to_list() == ["1", "2_[1-10%2]", "5+1"]
    assert r.table["sacct_array_tasks"].to_list() == [None, 10, None]
    first = job_row(r, "1")
    assert (first["timelimit"], first["exit_code"], first["gpus"], first["backfilled"]) == (
        None,
        3,
        2,
        True,
    )
    assert [(m.line, m.reason[:24]) for m in r.malformed] == [(2, "jobs entry cannot be rea")]
    path.write_text("{not json")
    with pytest.raises(SacctError) as exc:
        read_sacct_json(path)
    assert "not JSON" in one_line(exc)
    path.write_text(json.dumps({"errors": ["slurmdbd down"]}))
    with pytest.raises(SacctError) as exc:
        read_sacct_json(path)
    assert "no 'jobs' list" in one_line(exc) and "slurmdbd down" in str(exc.value)


# --- property: garbage lines never crash the reader and are all counted ------------------------

PROP_HEADER = "JobID|State|ElapsedRaw|MaxRSS"
_STATES = ["COMPLETED", "FAILED", "CANCELLED by 0", "PENDING", "RUNNING", "WEIRD", ""]


@st.composite
def _valid_line(draw: st.DrawFn) -> str:
    job = str(draw(st.integers(1, 40)))
    job += draw(st.sampled_from(["", "_3", "_[1-4%2]", "+0", "+1"]))
    if draw(st.booleans()):
        job += "." + draw(st.sampled_from(["batch", "extern", "0", "7", "TBD", "0+1"]))
    elapsed = draw(st.one_of(st.just(""), st.integers(0, 10**6).map(str)))
    maxrss = draw(st.sampled_from(["", "12K", "1.50K", "3M", "77"]))
    return "|".join([job, draw(st.sampled_from(_STATES)), elapsed, maxrss])


_TEXT = st.text(
    st.characters(blacklist_characters="\n\x00", blacklist_categories=["Cs"]), max_size=30
)

_garbage = st.one_of(
    _TEXT,
    st.lists(_TEXT, max_size=8).flatmap(
        lambda parts: st.sampled_from(["|", ",", ";", "\t", "||", "\x1f"]).map(
            lambda d: d.join(parts)
        )
    ),
    _valid_line().flatmap(  # a valid row with a field added or removed
        lambda line: st.sampled_from([line + "|x", line.rsplit("|", 1)[0], "|" + line])
    ),
    st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"").replace(b"\x00", b"")),
)


def _is_row(line: bytes) -> bool | None:
    """The spec of a readable line for PROP_HEADER; None for a blank line (skipped)."""
    line = line[:-1] if line.endswith(b"\r") else line
    if not line:
        return None
    fields = line.decode("utf-8", "replace").split("|")
    if len(fields) != 4 or not re.match(JOBID_PATTERN, fields[0]):
        return False
    if any(CONTROL.search(f) for f in fields):  # C0 but tab, DEL, C1: malformed (issue 22)
        return False
    count_ok = re.match(PATTERNS["count"], fields[3]) is not None
    return count_ok and ("." in fields[0] or re.match(PATTERNS["seconds"], fields[2]) is not None)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    valid=st.lists(_valid_line(), min_size=1, max_size=12),
    garbage=st.lists(_garbage, max_size=12),
    seed=st.randoms(use_true_random=False),
)
def test_garbage_lines_are_counted_never_crash(
    valid: list[str], garbage: list[str | bytes], seed: Any
) -> None:
    lines: list[tuple[bytes, bool]] = [(v.encode(), True) for v in valid]
    lines += [(g if isinstance(g, bytes) else g.encode(), False) for g in garbage]
    seed.shuffle(lines)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mixed.txt"
        path.write_bytes(b"\n".join([PROP_HEADER.encode(), *(line for line, _ in lines)]) + b"\n")
        r = read_sacct(path)
    verdicts = [_is_row(line) for line, _ in lines]
    assert all(v for (_, is_valid), v in zip(lines, verdicts, strict=True) if is_valid)
    bad_lines = [n for n, v in enumerate(verdicts, 2) if v is False]
    assert [m.line for m in r.malformed] == bad_lines
    assert r.rows_read == sum(1 for v in verdicts if v)
    assert r.rows_read + len(r.malformed) == sum(1 for v in verdicts if v is not None)
    job_keys = set()
    for (line, _), verdict in zip(lines, verdicts, strict=True):
        jobid = line.decode("utf-8", "replace").split("|")[0]
        if verdict and "." not in jobid:
            job_keys.add(jobid)
    assert set(r.table["job_id"]) == job_keys
