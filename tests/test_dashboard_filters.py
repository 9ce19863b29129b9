"""The dashboard's submit-time axis (steps that fit the span) and filters in the URL (issue 21)."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from hpcsched.analytics.dashboard_filters import (
    SubmitAxis,
    filter_jobs,
    from_search,
    to_search,
)
from hpcsched.workloads.sacct import read_sacct

from conftest import SHARED, require_shared

SAMPLE = SHARED / "data" / "sacct" / "local-slurm-sample.txt"
DAY = 86400.0
MIDNIGHT = datetime(2026, 11, 18, tzinfo=UTC).timestamp()
KNOWN = {"user": ["alice", "bob"], "partition": ["cpu"], "qos": ["", "high"], "state": ["failed"]}


def test_days_stay_days_when_the_jobs_span_days() -> None:
    axis = SubmitAxis(pl.Series([MIDNIGHT + 3600, MIDNIGHT + 2 * DAY + 5]))
    assert (axis.unit, axis.last, axis.origin) == (DAY, 2, MIDNIGHT)
    assert axis.marks() == {0: "2026-11-18", 1: "2026-11-19", 2: "2026-11-20"}


def test_one_day_of_jobs_steps_by_hour() -> None:
    axis = SubmitAxis(pl.Series([MIDNIGHT + 9 * 3600 + 30, MIDNIGHT + 17 * 3600 + 59]))
    assert (axis.unit_name, axis.last) == ("hour", 8)
    assert axis.label(0) == "2026-11-18 09:00" and axis.label(8) == "2026-11-18 17:00"
    # within one day the marks leave the date out (the headline says it): short, readable
    assert axis.marks() == {s: f"{9 + s:02d}:00" for s in range(0, 9, 2)}  # at most 8
    low, high = axis.between([2, 3]) or (0.0, 0.0)
    assert (low, high) == (MIDNIGHT + 11 * 3600, MIDNIGHT + 13 * 3600)


def test_the_real_one_day_dump_gets_a_slider_with_steps() -> None:
    """The local Slurm sample: 27 jobs submitted within 19 s of each other."""
    table = read_sacct(require_shared(SAMPLE)).table
    axis = SubmitAxis(table["submit"])
    assert axis.unit_name == "second" and axis.last == 19
    marks = axis.marks()
    assert marks[0] == "22:51:20" and marks[19] == "22:51:39" and len(marks) <= 8
    # the last 11 seconds hold the two late jobs only
    late = filter_jobs(table, submit_between=axis.between([8, 19]))
    assert late.height == 2


def test_trace_relative_hours_are_labelled_from_the_trace_start() -> None:
    axis = SubmitAxis(pl.Series([5.0, 4000.0, 3 * 3600.0 + 1]))
    assert not axis.calendar and axis.unit_name == "hour" and axis.last == 3
    assert axis.label(2) == "day 0 02:00"
    assert axis.key(2) == "7200" and axis.step_of("7200") == 2


def test_a_selection_round_trips_through_the_query_string() -> None:
    axis = SubmitAxis(pl.Series([MIDNIGHT, MIDNIGHT + 4 * DAY]))
    chosen = {"user": ["alice", "bob"], "qos": [""], "state": ["failed"]}
    search = to_search(axis, [1, 3], chosen)
    assert search == ("?submitted=2026-11-19..2026-11-21&user=alice&user=bob&qos=&state=failed")
    steps, back = from_search(axis, search, KNOWN)
    assert steps == [1, 3]
    assert back == {"user": ["alice", "bob"], "partition": [], "qos": [""], "state": ["failed"]}


def test_nothing_filtered_is_no_query_string() -> None:
    axis = SubmitAxis(pl.Series([MIDNIGHT, MIDNIGHT + 4 * DAY]))
    assert to_search(axis, [0, 4], {}) == ""
    assert from_search(axis, "", KNOWN) == ([0, 4], {c: [] for c in KNOWN})


def test_a_url_s_unknown_values_and_bad_ranges_are_left_unfiltered() -> None:
    axis = SubmitAxis(pl.Series([MIDNIGHT, MIDNIGHT + 4 * DAY]))
    steps, chosen = from_search(axis, "?user=mallory&user=bob&submitted=soon..later", KNOWN)
    assert steps == [0, 4] and chosen["user"] == ["bob"]
    # a range reaching past the data is clamped to it; a reversed one is ignored
    assert from_search(axis, "?submitted=2020-01-01..2026-11-19", KNOWN)[0] == [0, 1]
    assert from_search(axis, "?submitted=2026-11-21..2026-11-19", KNOWN)[0] == [0, 4]
