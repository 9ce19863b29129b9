"""What the dashboard's filters select, and how a selection is written in the page's URL.

The filters (a submit-time range, user, partition, QoS, state) become one Polars predicate over
the job table (:func:`selection`). The submit-time range is a slider over steps of
:class:`SubmitAxis`: days when the jobs span days, down to hours, minutes or seconds when they
span less (a one-day ``sacct`` dump must still be narrowed), so the slider always has steps.

A selection is also a URL query string (:func:`to_search`, :func:`from_search`), readable and
shareable: ``?submitted=2026-11-20..2026-11-22&user=alice&state=failed&state=timeout``. Values
the table does not hold are dropped when a URL is opened, so an old link shows what still exists.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Final
from urllib.parse import parse_qs, urlencode

import polars as pl

from hpcsched.analytics.derive import EPOCH_THRESHOLD

#: The columns a user filters on with a multi-select (empty selection = every value).
FILTER_COLUMNS: Final = ("user", "partition", "qos", "state")
DAY: Final = 86400.0
#: Slider steps, largest first, with their names: the first that gives the jobs' span at least
#: :data:`MIN_STEPS` steps is used (seconds otherwise).
STEPS: Final = (
    (DAY, "day"),
    (3600.0, "hour"),
    (600.0, "10 minutes"),
    (60.0, "minute"),
    (10.0, "10 seconds"),
    (1.0, "second"),
)
MIN_STEPS: Final = 2
MAX_MARKS: Final = 8
#: The query-string key of the submit range (``from..to``, both steps included).
RANGE_KEY: Final = "submitted"


def selection(
    *,
    submit_between: tuple[float, float] | None = None,
    user: Sequence[str] = (),
    partition: Sequence[str] = (),
    qos: Sequence[str] = (),
    state: Sequence[str] = (),
) -> pl.Expr:
    """The predicate the filters stand for: ``submit`` in ``[from, to)`` and each column in its
    chosen values; an empty choice (or no range) keeps every row, including nulls."""
    expr = pl.lit(True)
    if submit_between is not None:
        low, high = submit_between
        expr &= (pl.col("submit") >= low) & (pl.col("submit") < high)
    for column, chosen in zip(FILTER_COLUMNS, (user, partition, qos, state), strict=True):
        if chosen:
            expr &= pl.col(column).is_in(list(chosen))
    return expr


def filter_jobs(
    table: pl.DataFrame,
    *,
    submit_between: tuple[float, float] | None = None,
    user: Sequence[str] = (),
    partition: Sequence[str] = (),
    qos: Sequence[str] = (),
    state: Sequence[str] = (),
) -> pl.DataFrame:
    """The jobs of ``table`` that pass :func:`selection` (rows with a null in a filtered column
    pass only while nothing is chosen in it: there is no value to choose for them)."""
    chosen = selection(
        submit_between=submit_between, user=user, partition=partition, qos=qos, state=state
    )
    return table.filter(chosen)


class SubmitAxis:
    """The submit-time axis of the range slider: step ``i`` is ``[origin + i*unit, +unit)`` s.

    ``unit`` is the largest of :data:`STEPS` that cuts the span into at least
    :data:`MIN_STEPS` steps; ``origin`` is the first submission rounded down to it (UTC midnight
    for days; epoch times) or to the trace's start (trace-relative times, SWF); ``last`` is the
    index of the last submission's step.
    """

    def __init__(self, submit: pl.Series) -> None:
        times = submit.cast(pl.Float64).drop_nulls().drop_nans().to_numpy()
        first, final = (float(times.min()), float(times.max())) if times.size else (0.0, 0.0)
        self.calendar = first > EPOCH_THRESHOLD  # the figures' rule: epoch, else SWF-relative
        for unit, name in STEPS:
            self.unit, self.unit_name = unit, name
            self.origin = (first // unit) * unit
            self.last = int((final - self.origin) // unit)
            if self.last >= MIN_STEPS:
                break

    def _format(self, short: bool = False) -> str:
        time = "%H:%M" if self.unit >= 60 else "%H:%M:%S"
        if self.unit >= DAY:
            return "%Y-%m-%d"
        return time if short else f"%Y-%m-%d {time}"

    def label(self, step: int) -> str:
        """The start of step ``step`` as people read it (UTC; ``day N`` from a trace's start)."""
        start = self.origin + step * self.unit
        if self.calendar:
            return datetime.fromtimestamp(start, UTC).strftime(self._format())
        day = int(start // DAY)
        if self.unit >= DAY:
            return f"day {day}"
        clock = datetime.fromtimestamp(start % DAY, UTC).strftime(self._format(short=True))
        return f"day {day} {clock}"

    def marks(self) -> dict[int, str]:
        """At most :data:`MAX_MARKS` labelled steps, the last one included; within one day the
        date is left out (the headline says it)."""
        step = max(1, -(-self.last // (MAX_MARKS - 1)))
        steps = [*range(0, self.last, step), self.last]
        one_day = self.unit < DAY and int(self.origin // DAY) == int(
            (self.origin + self.last * self.unit) // DAY
        )
        if self.calendar and one_day:
            fmt = self._format(short=True)
            return {
                s: datetime.fromtimestamp(self.origin + s * self.unit, UTC).strftime(fmt)
                for s in steps
            }
        return {s: self.label(s) for s in steps}

    def between(self, value: Sequence[int] | None) -> tuple[float, float] | None:
        """Seconds ``[from, to)`` for slider steps ``[a, b]``; ``None`` when all are chosen."""
        if not value or (int(value[0]) <= 0 and int(value[1]) >= self.last):
            return None
        return self.origin + int(value[0]) * self.unit, self.origin + (
            int(value[1]) + 1
        ) * self.unit

    def key(self, step: int) -> str:
        """Step ``step`` as written in a URL: an ISO date or time (UTC), else trace seconds."""
        start = self.origin + step * self.unit
        if not self.calendar:
            return f"{start:.0f}"
        fmt = "%Y-%m-%d" if self.unit >= DAY else "%Y-%m-%dT%H:%M:%S"
        return datetime.fromtimestamp(start, UTC).strftime(fmt)

    def step_of(self, key: str) -> int | None:
        """The step a :meth:`key` names (clamped to the axis); ``None`` if it names no time."""
        try:
            if self.calendar:
                when = datetime.fromisoformat(key)
                seconds = (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()
            else:
                seconds = float(key)
        except ValueError:
            return None
        if seconds != seconds:  # NaN
            return None
        return min(max(int((seconds - self.origin) // self.unit), 0), self.last)


def to_search(
    axis: SubmitAxis, steps: Sequence[int] | None, chosen: Mapping[str, Sequence[str]]
) -> str:
    """The query string (with its ``?``; empty when nothing is filtered) of a selection."""
    pairs: list[tuple[str, str]] = []
    if axis.between(steps) is not None and steps:
        low, high = (axis.key(int(s)) for s in steps)
        pairs.append((RANGE_KEY, f"{low}..{high}"))
    for column in FILTER_COLUMNS:
        pairs += [(column, value) for value in chosen.get(column) or ()]
    return f"?{urlencode(pairs)}" if pairs else ""


def from_search(
    axis: SubmitAxis, search: str | None, known: Mapping[str, Sequence[str]]
) -> tuple[list[int], dict[str, list[str]]]:
    """The slider steps and the chosen values a query string holds; what it does not say (or
    names wrongly, or the table does not hold) is left unfiltered."""
    query = parse_qs((search or "").removeprefix("?"), keep_blank_values=True)
    steps = [0, max(axis.last, 1)]
    low, sep, high = (query.get(RANGE_KEY) or [""])[0].partition("..")
    if sep:
        ends = axis.step_of(low), axis.step_of(high)
        if ends[0] is not None and ends[1] is not None and ends[0] <= ends[1]:
            steps = [ends[0], ends[1]]
    chosen = {
        column: [v for v in dict.fromkeys(query.get(column, [])) if v in known.get(column, ())]
        for column in FILTER_COLUMNS
    }
    return steps, chosen
