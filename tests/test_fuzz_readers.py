"""Issue 22, build item 8: every reader on hostile files (strategies in
``fuzz_readers_support.py``) raises only the project's own one-line error or returns with every
data line accounted for, in bounded memory. A bounded number of examples here (the whole module
stays under a minute); ``benchmarks/fuzz_readers.py`` runs thousands and counts crashes.
``HPCSCHED_FUZZ_EXAMPLES`` overrides the number per reader."""

from __future__ import annotations

import os
import resource
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz_readers_support import READERS, accounted

EXAMPLES = int(os.environ.get("HPCSCHED_FUZZ_EXAMPLES", "60"))
GROWTH_KIB = 400 * 1024  # peak resident memory may grow this much over a reader's examples


@pytest.mark.parametrize("reader", list(READERS))
def test_reader_never_crashes_and_accounts_for_every_line(reader: str) -> None:
    name, strategy, read = READERS[reader]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(data=strategy)
    def check(data: bytes) -> None:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / name
            path.write_bytes(data)
            outcome = read(path, data)
        assert accounted(outcome, reader), (outcome, data[:400])

    check()
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown < GROWTH_KIB


@given(st.binary(max_size=300))
@settings(max_examples=EXAMPLES, deadline=None, database=None)
def test_random_bytes_through_the_one_opener(data: bytes) -> None:
    from hpcsched.workloads.load import InputError, load_jobs

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "input"
        path.write_bytes(data)
        message = ""
        try:
            load_jobs(path)
        except InputError as exc:
            message = str(exc)
        assert "\n" not in message
