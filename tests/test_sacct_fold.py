"""The fold's bookkeeping: repeated JobIDs are found through 64-bit hashes, then confirmed on
the strings, so the answer is exactly that of comparing the strings."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hpcsched.workloads.sacct_fold import _repeated

KEYS = st.lists(st.one_of(st.none(), st.sampled_from(["1", "2", "10", "1_2", "1+0", ""])))


@settings(max_examples=200, deadline=None)
@given(KEYS)
def test_repeated_keys_are_those_the_strings_repeat(keys: list[str | None]) -> None:
    series = pl.Series(keys, dtype=pl.String)
    assert _repeated(series).to_list() == series.is_duplicated().to_list()


def test_a_hash_collision_is_not_taken_for_a_repeat(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two different keys given the same hash (as a collision would) stay single."""
    monkeypatch.setattr(pl.Series, "hash", lambda self, *a, **k: pl.Series([7] * len(self)))
    series = pl.Series(["123", "456", "123"])
    assert _repeated(series).to_list() == [True, False, True]
