"""Availability profile: free capacity over time as a step function.

Capacity is a tuple of numbers (one per resource dimension: processors alone for trace replay;
cpus, gpus, memory for the runtime). ``free[i]`` holds on ``[times[i], times[i + 1])`` and the
last step holds forever. Reservations subtract from the profile; the two questions a backfilling
policy asks are "when is the earliest start for this request?" and "reserve it there".
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable
from itertools import accumulate
from operator import add, le, sub

try:  # the compiled loops (issue 16); the Python loops below are their reference
    from hpcsched.core import _profile_scan
except ImportError:  # pragma: no cover - an uncompiled checkout
    _profile_scan = None  # type: ignore[assignment]

#: the compiled loops, or ``None`` for the Python ones (conservative's hole scan reads it too)
compiled_scan = _profile_scan

Vector = tuple[float, ...]


def _same_length(a: Vector, b: Vector) -> None:
    if len(a) != len(b):
        raise ValueError(f"resource vectors {a} and {b} have different lengths")


def fits(request: Vector, free: Vector) -> bool:
    """Every component of ``request`` fits in ``free``."""
    if len(request) != len(free):  # inline: this is the hottest call of every policy
        _same_length(request, free)
    return all(map(le, request, free))


def minus(a: Vector, b: Vector) -> Vector:
    if len(a) != len(b):
        _same_length(a, b)
    return tuple(map(sub, a, b))


def plus(a: Vector, b: Vector) -> Vector:
    if len(a) != len(b):
        _same_length(a, b)
    return tuple(map(add, a, b))


_EXACT_LIMIT = 2.0**53  # integers up to this are exact doubles, and so are their sums


def _first(item: tuple[float, Vector]) -> float:
    return item[0]


def _exact(capacity: Vector, ends: list[tuple[float, Vector]]) -> bool:
    """Every amount is a whole number and all of them together stay below 2**53, so any order
    of additions and subtractions gives the same doubles (no rounding anywhere). Requests come in
    a few shapes: each distinct one is checked once."""
    shapes = {request for _, request in ends}
    shapes.add(capacity)
    if not all(float(value).is_integer() for shape in shapes for value in shape):
        return False
    largest = max(sum(abs(value) for value in shape) for shape in shapes)
    return largest * (len(ends) + 1) < _EXACT_LIMIT


class Profile:
    """Free capacity from ``origin`` on, as a step function."""

    __slots__ = ("free", "times")

    def __init__(self, origin: float, capacity: Vector) -> None:
        self.times: list[float] = [origin]
        self.free: list[Vector] = [capacity]

    @classmethod
    def from_running(
        cls, now: float, capacity: Vector, running: Iterable[tuple[Vector, float]]
    ) -> Profile:
        """Profile at ``now`` given running jobs as ``(request, expected_end)``.

        A job whose expected end is at or before ``now`` is already free (pyss semantics: the
        slices of a job end at its predicted finish time); the others hold their request on
        ``[now, expected_end)``.

        Built in one pass, O(R log R) for R running jobs: capacity minus every running request
        holds from ``now``, and each distinct expected end starts a step that gives the requests
        ending there back. This equals reserving each job on ``[now, end)`` in end order (the
        construction it replaces, O(R x steps), kept as :meth:`from_running_by_reserve`) value
        for value whenever the arithmetic is exact, i.e. every amount is a whole number and the
        sums stay below 2**53 (cpus, gpus, bytes); otherwise it falls back to that construction,
        so the result never depends on the order of float roundings.
        """
        jobs = list(running)
        ends: list[tuple[float, Vector]] = []
        for request, end in jobs:
            if end > now:
                ends.append((end, request))
        if not ends:
            return cls(now, capacity)
        if not capacity or not _exact(capacity, ends):
            return cls.from_running_by_reserve(now, capacity, jobs)
        ends.sort(key=_first)
        last = len(ends) - 1
        # a step starts at now and after the last job of each run of equal boundaries; it holds
        # capacity minus the requests of the jobs from there on (suffix sums, one per resource)
        cuts = [0, *(i + 1 for i in range(last) if ends[i + 1][0] != ends[i][0]), last + 1]
        times = [now, *(ends[i - 1][0] for i in cuts[1:])]
        columns = []
        for c, amounts in zip(
            capacity, zip(*(request for _, request in ends), strict=True), strict=True
        ):
            suffix = [*accumulate(reversed(amounts))][::-1]
            suffix.append(0)
            columns.append([c - suffix[i] for i in cuts])
        free: list[Vector] = list(zip(*columns, strict=True))
        free[-1] = capacity  # every running job has ended: the idle machine
        profile = cls.__new__(cls)
        profile.times = times
        profile.free = free
        return profile

    @classmethod
    def from_running_by_reserve(
        cls, now: float, capacity: Vector, running: Iterable[tuple[Vector, float]]
    ) -> Profile:
        """The reference construction: each running job subtracted on ``[now, end)``, in end
        order (O(R x steps)). :meth:`from_running` falls back to it when amounts are not exact."""
        profile = cls(now, capacity)
        for request, end in sorted(running, key=lambda item: item[1]):
            if end > now:
                i, j = profile._split(now), profile._split(end)
                for k in range(i, j):
                    profile.free[k] = minus(profile.free[k], request)
        return profile

    def copy(self) -> Profile:
        other = Profile.__new__(Profile)
        other.times = list(self.times)
        other.free = list(self.free)
        return other

    def _index(self, t: float) -> int:
        """Index of the step that holds at ``t`` (``t`` >= origin)."""
        return max(0, bisect_right(self.times, t) - 1)

    def _split(self, t: float) -> int:
        """Ensure a step starts at ``t``; return its index."""
        i = self._index(t)
        if self.times[i] == t:
            return i
        self.times.insert(i + 1, t)
        self.free.insert(i + 1, self.free[i])
        return i + 1

    def take(self, start: float, end: float, request: Vector) -> None:
        """Subtract ``request`` on ``[start, end)`` and merge equal neighbouring steps (the
        answers of :meth:`free_at` and :meth:`earliest_start` do not depend on where breakpoints
        lie, and fewer steps keep a profile that lives from pass to pass short)."""
        self._add_range(start, end, request, minus)

    def give(self, start: float, end: float, request: Vector) -> None:
        """Give ``request`` back on ``[start, end)``; the inverse of :meth:`take`."""
        self._add_range(start, end, request, plus)

    def _add_range(
        self, start: float, end: float, request: Vector, op: Callable[[Vector, Vector], Vector]
    ) -> None:
        if compiled_scan is not None and type(request) is tuple:
            compiled_scan.add_range(self.times, self.free, start, end, request, op is plus)
            return
        if end <= start:
            return
        i = self._split(start)
        j = self._split(end)
        free = self.free
        for k in range(i, j):
            free[k] = op(free[k], request)
        for k in (j, i):
            if 0 < k < len(free) and free[k] == free[k - 1]:
                del self.times[k]
                del free[k]

    def advance(self, now: float) -> None:
        """Forget the steps that ended before ``now``: the profile starts at ``now``."""
        i = self._index(now)
        if i:
            del self.times[:i]
            del self.free[:i]
        if self.times[0] < now:
            self.times[0] = now

    def max_free(self, start: float, end: float) -> Vector:
        """Component by component, the most that is free at any instant of ``[start, end)``."""
        if compiled_scan is not None:
            return compiled_scan.max_free(self.times, self.free, start, end)
        i = self._index(start)
        j = bisect_left(self.times, end)
        return tuple(map(max, *self.free[i : max(j, i + 1)])) if j > i + 1 else self.free[i]

    def free_at(self, t: float) -> Vector:
        return self.free[self._index(t)]

    def first_short_of(self, request: Vector, after: float) -> float:
        """The first time from ``after`` on when ``request`` does not fit (``inf``: never): a job
        that starts at ``after`` and still runs then cannot fit."""
        times, free = self.times, self.free
        for k in range(self._index(after), len(times)):
            if not fits(request, free[k]):
                return times[k]
        return math.inf

    def earliest_start(self, request: Vector, duration: float, after: float) -> float:
        """Earliest ``t >= after`` with ``request`` free on all of ``[t, t + duration)``.

        The request must fit in the final step (the idle machine), otherwise this never ends:
        callers refuse such requests up front.
        """
        k = self._index(after)
        if compiled_scan is not None and type(request) is tuple:
            found = compiled_scan.earliest_start(self.times, self.free, request, duration, after, k)
            if found is None:
                raise ValueError(f"request {request} never fits in capacity {self.free[-1]}")
            return found
        return self.earliest_start_by_scan(request, duration, after, k)

    def earliest_start_by_scan(
        self, request: Vector, duration: float, after: float, k: int
    ) -> float:
        """The Python loop of :meth:`earliest_start` from step ``k`` (the one holding at
        ``after``): the reference the compiled scan is pinned to."""
        times, free = self.times, self.free
        last = len(times) - 1
        candidate = after
        while True:
            ok = True
            while True:
                if not fits(request, free[k]):
                    ok = False
                    break
                if k == last or times[k + 1] >= candidate + duration:
                    break
                k += 1
            if ok:
                return candidate
            if k == last:
                raise ValueError(f"request {request} never fits in capacity {free[last]}")
            k += 1
            candidate = times[k]

    def reserve(self, start: float, duration: float, request: Vector) -> None:
        """Subtract ``request`` on ``[start, start + duration)``."""
        if duration <= 0:
            return
        i = self._split(start)
        j = self._split(start + duration)
        for k in range(i, j):
            self.free[k] = minus(self.free[k], request)

    def hold(self, start: float, end: float, request: Vector) -> None:
        """Take on ``[start, end)`` what of ``request`` is free, never below zero: capacity held
        ahead of a start for a job whose processors are partly still busy (Slurm's backfill
        reserves whole nodes from its rounded-down start, running jobs and all)."""
        if end <= start:
            return
        i = self._split(start)
        j = self._split(end)
        for k in range(i, j):
            held = tuple(min(r, max(f, 0)) for r, f in zip(request, self.free[k], strict=True))
            self.free[k] = minus(self.free[k], held)

    def release(self, start: float, duration: float, request: Vector) -> None:
        """Give ``request`` back on ``[start, start + duration)`` (undo a reservation)."""
        if duration <= 0:
            return
        i = self._split(start)
        j = self._split(start + duration)
        for k in range(i, j):
            self.free[k] = plus(self.free[k], request)
