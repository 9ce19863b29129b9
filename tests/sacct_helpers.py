"""What the sacct reader tests share: crafted ``sacct -P`` lines, and reading them back.

:data:`HEADER` is a 19-field ``--format`` as ``sacct -P`` prints it; :func:`job_line` and
:func:`step_line` write one job or step line in that order with plausible defaults, so a test
names only the fields its pitfall is about. Used by ``test_sacct_layout.py``,
``test_sacct_pitfalls.py``, ``test_sacct_malformed.py`` and ``test_sacct_samples.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from hpcsched.workloads.sacct import SacctError, SacctRead, read_sacct

MB = 1024**2

HEADER = (
    "JobID|JobIDRaw|JobName|User|Partition|Submit|Start|End|ElapsedRaw|TimelimitRaw|NNodes|"
    "NCPUS|ReqMem|AllocTRES|NodeList|State|ExitCode|Flags|MaxRSS"
)
T0 = "2026-01-01T00:00:00"


def epoch(text: str) -> float:
    """Seconds since the epoch of a zone-less ISO time read as UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def write_lines(path: Path, header: str, *rows: str) -> Path:
    """Write a header line and the rows, one per line, to ``path``."""
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def one_line(exc: pytest.ExceptionInfo[SacctError]) -> str:
    """The error's message, checked to be a single line."""
    message = str(exc.value)
    assert "\n" not in message
    return message


def job_row(read: SacctRead, job_id: str) -> dict[str, Any]:
    """The one table row of ``job_id``."""
    rows = read.table.filter(pl.col("job_id") == job_id).to_dicts()
    assert len(rows) == 1, job_id
    return rows[0]


def job_line(job_id: str = "100", **values: str) -> str:
    """A job row in :data:`HEADER` order with plausible defaults."""
    row = {
        "JobID": job_id,
        "JobIDRaw": job_id.split("_")[0].split("+")[0],
        "JobName": "j",
        "User": "u",
        "Partition": "p",
        "Submit": T0,
        "Start": "2026-01-01T00:00:10",
        "End": "2026-01-01T00:01:10",
        "ElapsedRaw": "60",
        "TimelimitRaw": "10",
        "NNodes": "1",
        "NCPUS": "2",
        "ReqMem": "100M",
        "AllocTRES": "cpu=2,mem=100M,node=1",
        "NodeList": "n1",
        "State": "COMPLETED",
        "ExitCode": "0:0",
        "Flags": "SchedMain",
        "MaxRSS": "",
    }
    row.update(values)
    return "|".join(row[name] for name in HEADER.split("|"))


def step_line(step_id: str, maxrss: str = "") -> str:
    """A step row: the fields sacct leaves empty on steps are empty."""
    blank = dict.fromkeys(("User", "Partition", "ReqMem", "Flags", "TimelimitRaw"), "")
    return job_line(step_id, JobName="batch", MaxRSS=maxrss, **blank)


def read_lines(tmp_path: Path, *rows: str, **kwargs: Any) -> SacctRead:
    """Read the rows under :data:`HEADER` from ``tmp_path/sacct.txt``."""
    return read_sacct(write_lines(tmp_path / "sacct.txt", HEADER, *rows), **kwargs)
