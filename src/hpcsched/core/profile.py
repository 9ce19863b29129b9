"""Availability profile: free capacity over time as a step function.

Capacity is a tuple of numbers (one per resource dimension: processors alone for trace replay;
cpus, gpus, memory for the runtime). ``free[i]`` holds on ``[times[i], times[i + 1])`` and the
last step holds forever. Reservations subtract from the profile; the two questions a backfilling
policy asks are "when is the earliest start for this request?" and "reserve it there".
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable

Vector = tuple[float, ...]


def fits(request: Vector, free: Vector) -> bool:
    """Every component of ``request`` fits in ``free``."""
    return all(r <= f for r, f in zip(request, free, strict=True))


def minus(a: Vector, b: Vector) -> Vector:
    return tuple(x - y for x, y in zip(a, b, strict=True))


def plus(a: Vector, b: Vector) -> Vector:
    return tuple(x + y for x, y in zip(a, b, strict=True))


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
        slices of a job end at its predicted finish time).
        """
        profile = cls(now, capacity)
        for request, end in sorted(running, key=lambda item: item[1]):
            if end > now:
                profile.reserve(now, end - now, request)
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

    def free_at(self, t: float) -> Vector:
        return self.free[self._index(t)]

    def earliest_start(self, request: Vector, duration: float, after: float) -> float:
        """Earliest ``t >= after`` with ``request`` free on all of ``[t, t + duration)``.

        The request must fit in the final step (the idle machine), otherwise this never ends:
        callers refuse such requests up front.
        """
        times, free = self.times, self.free
        last = len(times) - 1
        k = self._index(after)
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

    def release(self, start: float, duration: float, request: Vector) -> None:
        """Give ``request`` back on ``[start, start + duration)`` (undo a reservation)."""
        if duration <= 0:
            return
        i = self._split(start)
        j = self._split(start + duration)
        for k in range(i, j):
            self.free[k] = plus(self.free[k], request)
