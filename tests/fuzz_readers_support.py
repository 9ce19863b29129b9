"""Hostile files for every reader, as Hypothesis strategies, and what each read must satisfy.

Shared by ``tests/test_fuzz_readers.py`` (a bounded run in every test session) and
``benchmarks/fuzz_readers.py`` (a long run that counts crashes instead of stopping at the
first). Each reader gets files that start plausible and are then damaged field by field with
values that broke readers before (issue 22): NaN, infinities, numbers past int64, Unicode
digits, control characters, NUL bytes, odd blanks, wrong JSON types, duplicate YAML keys,
aliases, huge ranges, plus lines of random text and bytes and missing required columns.

A read passes when it raises only the project's own error type (one line) or returns, and for
the line-oriented readers every data line is accounted for: read + malformed = total.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from fuzz_outcome import Outcome
from fuzz_parquet_support import parquet_table, read_parquet_file
from fuzz_yaml_support import read_site_file, read_workflow_file, site_yaml, workflow_yaml
from sacct_helpers import HEADER, job_line, step_line

HOSTILE_WORDS = [
    "",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "Infinity",
    "1e400",
    "-1",
    "-0",
    "1.5",
    "0x10",
    "99999999999999999999999",
    "9223372036854775808",
    "18446744073709551615",
    "20E",
    "999P",
    "١٢٣",
    "１２３",
    "٣:٠٠",
    "\x00",
    "\x1c",
    "\x1f",
    "\u00a0",
    "\u2028",
    "\x07",
    "\x1b[31m",
    "\x7f",
    "\u0085",
    "a\u009fb",
    "\r",
    " ",
    "Unknown",
    "None",
    "INVALID",
    "UNLIMITED",
    "Partition_Limit",
    "2026-13-45T00:00:00",
    "2026-03-29T02:30:00",
    "CANCELLED by 99999999999999999999",
    "n[1-99999999999]",
    "n[5-1]",
    "a[1-1000]b[1-1000]",
    "cpu=1,mem=9999999999999999999999M",
    "gres/gpu=NaN",
    "1-00:00:00",
    "99999999-00:00:00",
    "0:0",
    "4294967295:0",
    "123.batch",
    "1_[1-99999999999%5]",
]
_hostile = st.one_of(
    st.sampled_from(HOSTILE_WORDS),
    st.integers(min_value=-(2**80), max_value=2**80).map(str),
    st.floats().map(repr),
    st.text(max_size=16),
)


#: control characters (C0 but tab, DEL, C1): a record holding one is malformed (issue 22)
_CONTROL = r"[\x00-\x08\x0a-\x1f\x7f-\x9f]"
_CONTROLS = ["\x01", "\x07", "\x0b", "\x1b", "\x1f", "\r", "\x7f", "\x80", "\x85", "\x9f"]


# --- sacct -P text ----------------------------------------------------------------------------


@st.composite
def sacct_text(draw: st.DrawFn) -> bytes:
    names = HEADER.split("|")
    keep = draw(st.lists(st.sampled_from(names), min_size=1, max_size=len(names), unique=True))
    if draw(st.booleans()):  # most files keep the required fields (the rest are refusals)
        keep = [n for n in names if n in keep or n in ("JobID", "Submit")]
    lines = ["|".join(keep)]
    for _ in range(draw(st.integers(0, 12))):
        kinds = ["job", "step", "damaged", "damaged", "text", "bytes", "control"]
        kind = draw(st.sampled_from(kinds))
        if kind == "text":
            lines.append(draw(st.text(max_size=60)))
            continue
        if kind == "bytes":
            lines.append(draw(st.binary(max_size=60)).decode("latin-1"))
            continue
        jid = str(draw(st.integers(1, 10**6)))
        row = dict(
            zip(
                names,
                (step_line(jid + ".batch") if kind == "step" else job_line(jid)).split("|"),
                strict=True,
            )
        )
        if kind == "damaged":
            for name in draw(st.lists(st.sampled_from(names), min_size=1, max_size=4)):
                row[name] = draw(_hostile)
        if kind == "control":  # in a free-text field, anywhere in it
            name = draw(st.sampled_from(["JobName", "User", "Partition", "NodeList", "Flags"]))
            at = draw(st.integers(0, len(row[name])))
            row[name] = row[name][:at] + draw(st.sampled_from(_CONTROLS)) + row[name][at:]
        lines.append("|".join(row[n] for n in keep))
    return "\n".join(lines).encode("utf-8", "surrogateescape") + b"\n" * draw(st.integers(0, 2))


def _data_lines(data: bytes) -> int:
    lines = [ln.removesuffix(b"\r") for ln in data.split(b"\n")]
    nonblank = [ln for ln in lines if ln]
    return max(len(nonblank) - 1, 0)  # the first non-blank line is the header


def no_control(table: Any) -> bool:
    """No text column of ``table`` holds a control character (C0 but tab, DEL, C1): a record
    with one is malformed (issue 22)."""
    import polars as pl

    text = [c for c, t in table.schema.items() if t in (pl.String, pl.Categorical)]
    found = [pl.col(c).cast(pl.String).str.contains(_CONTROL).any() for c in text]
    return not text or not any(table.select(found).row(0))


def read_sacct_text(path: Path, data: bytes) -> Outcome:
    from hpcsched.workloads.sacct import SacctError, read_sacct

    try:
        read = read_sacct(path)
    except SacctError as exc:
        return Outcome(True, message=str(exc))
    total = _data_lines(data)
    return Outcome(False, read.rows_read, len(read.malformed), total, sound=no_control(read.table))


# --- sacct --json -----------------------------------------------------------------------------

SAMPLE_JSON = Path(__file__).parents[2] / "shared/data/sacct/local-slurm-sample.sacct.json"
_JOBS: list[dict[str, Any]] = (
    json.loads(SAMPLE_JSON.read_text())["jobs"][:6] if SAMPLE_JSON.exists() else []
)
_json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(),
        st.text(max_size=10),
        st.sampled_from(HOSTILE_WORDS),
    ),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def sacct_json(draw: st.DrawFn) -> bytes:
    if not _JOBS or draw(st.integers(0, 9)) == 0:  # now and then, any JSON document at all
        return json.dumps(draw(_json_values)).encode()
    jobs = []
    for _ in range(draw(st.integers(0, 6))):
        job = json.loads(json.dumps(draw(st.sampled_from(_JOBS))))
        paths = _paths(job)
        for where in draw(st.lists(st.sampled_from(paths), max_size=4)):
            target = job
            try:
                for key in where[:-1]:
                    target = target[key]
                if draw(st.booleans()):
                    target[where[-1]] = draw(_json_values)
                elif isinstance(target, dict):
                    target.pop(where[-1], None)
            except (KeyError, IndexError, TypeError):
                continue
        if draw(st.integers(0, 3)) == 0:  # a control character in a free-text field
            key = draw(st.sampled_from(["user", "account", "partition", "name", "nodes"]))
            job[key] = f"a{draw(st.sampled_from(_CONTROLS))}b"
        jobs.append(job if draw(st.integers(0, 9)) else draw(_json_values))
    return json.dumps({"jobs": jobs}).encode()  # NaN and Infinity included, as Python writes them


def read_sacct_json_file(path: Path, data: bytes) -> Outcome:
    from hpcsched.workloads.sacct import SacctError
    from hpcsched.workloads.sacct_json import read_sacct_json

    try:
        read = read_sacct_json(path)
    except SacctError as exc:
        return Outcome(True, message=str(exc))
    total = len(json.loads(data)["jobs"])
    return Outcome(False, read.rows_read, len(read.malformed), total, sound=no_control(read.table))


# --- SWF ----------------------------------------------------------------------------------------

_SWF_OK = [
    "1",
    "0",
    "10",
    "100",
    "4",
    "-1",
    "-1",
    "4",
    "200",
    "-1",
    "1",
    "7",
    "3",
    "-1",
    "1",
    "1",
    "-1",
    "-1",
]
_BLANKS = [" ", "  ", "\t", "\x0b", "\x0c", "\x1c", "\x1f", "\u00a0", " \r"]


@st.composite
def swf_text(draw: st.DrawFn) -> bytes:
    lines = []
    if draw(st.booleans()):
        procs = draw(st.one_of(st.integers(-5, 2**70), st.sampled_from(["١٢", "x", "1e9"])))
        lines.append(f"; MaxProcs: {procs}")
    for number in range(1, draw(st.integers(0, 12)) + 1):
        kind = draw(st.sampled_from(["job", "damaged", "damaged", "text", "bytes", "comment"]))
        if kind == "text":
            lines.append(draw(st.text(max_size=60)))
        elif kind == "bytes":
            lines.append(draw(st.binary(max_size=60)).decode("latin-1"))
        elif kind == "comment":
            lines.append("; " + draw(st.text(max_size=20)))
        else:
            fields = [str(number), *_SWF_OK[1:]]
            if kind == "damaged":
                for col in draw(st.lists(st.integers(0, 17), min_size=1, max_size=3)):
                    fields[col] = draw(_hostile)
            blank = draw(st.sampled_from(_BLANKS))
            lines.append(blank.join(fields))
    return "\n".join(lines).encode("utf-8", "surrogateescape") + b"\n"


def _swf_data_lines(data: bytes) -> int:
    text = data.replace(b"\x00", b"\x01").decode("utf-8", "replace")
    count = 0
    for line in text.split("\n"):
        squeezed = line.translate(str.maketrans("\t\r\x0b\x0c", "    ")).strip(" ")
        count += bool(squeezed) and not squeezed.startswith(";")
    return count


def read_swf_file(path: Path, data: bytes) -> Outcome:
    from hpcsched.workloads.swf import SwfError, read_swf

    try:
        trace = read_swf(path)
    except SwfError as exc:
        return Outcome(True, message=str(exc))
    return Outcome(False, trace.table.height, len(trace.malformed), _swf_data_lines(data))


#: reader -> (file name, strategy, read function); the read function raises on a crash.
READERS: dict[str, tuple[str, st.SearchStrategy[bytes], Callable[[Path, bytes], Outcome]]] = {
    "sacct text": ("sacct.txt", sacct_text(), read_sacct_text),
    "sacct json": ("sacct.json", sacct_json(), read_sacct_json_file),
    "swf": ("trace.swf", swf_text(), read_swf_file),
    "workflow yaml": ("wf.yaml", workflow_yaml(), read_workflow_file),
    "site yaml": ("site.yaml", site_yaml(), read_site_file),
    "parquet": ("jobs.parquet", parquet_table(), read_parquet_file),
}


def accounted(outcome: Outcome, reader: str) -> bool:
    """A refusal is one line; otherwise every data line is read or counted malformed
    (line-oriented readers only)."""
    if not outcome.sound:
        return False
    if outcome.refused:
        return "\n" not in outcome.message
    if reader in ("workflow yaml", "site yaml"):
        return True
    return outcome.read + outcome.malformed == outcome.total


__all__ = ["READERS", "Outcome", "accounted"]
