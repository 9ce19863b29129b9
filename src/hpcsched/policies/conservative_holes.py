"""Conservative backfilling's holes: capacity that came back (an early end, a withdrawn or moved
reservation), each with the most that is free inside it, and the scan for the first hole that
may help a job (:class:`Holes`, used by :class:`~hpcsched.policies.conservative.ConservativePlan`
and mirrored by the compiled re-fit in ``core/_profile_scan_refit.pxi``)."""

from __future__ import annotations

import math
from bisect import insort
from collections.abc import Iterator
from operator import itemgetter, le
from typing import Any

from hpcsched.core import profile as profile_module
from hpcsched.core.profile import Profile, Vector, fits

_AFTER_ALL = (math.inf, -1)  # a ``(start, seq)`` after every hole


class Holes:
    """Capacity that came back: ``[start, seq, end, most]`` per hole, kept in start order;
    ``most`` is an upper bound of what is free inside the hole now. Reservations that land on a
    hole are not propagated to it (that cost a scan of every hole per reservation); instead a
    hole is measured again when it is asked about, and one that no longer has room for the
    smallest waiting request is dropped for good (what it holds only shrinks; capacity that
    comes back later makes a newer hole, whose ``most`` covers it). Only the holes measured are
    dropped: one whose recorded ``most`` already has no room is never offered to a job, so
    leaving it in the list changes nothing but spares a pass over every hole.

    The queue holds a few request shapes, and after an early end thousands of holes have no
    room for a given one: ``clear[request]`` is a ``(start, seq)`` before which no hole's ``most``
    holds that request, so its scans begin there. A hole added or measured again with room for
    a shape moves that shape's mark back to it (a new measure may be higher than the old one:
    capacity given back inside the hole since)."""

    __slots__ = ("clear", "items")

    def __init__(self) -> None:
        self.items: list[list[Any]] = []  # [start, seq, end, most], by start, then seq
        self.clear: dict[Vector, tuple[float, int]] = {}

    def add(self, seq: int, start: float, end: float, most: Vector) -> None:
        hole = [start, seq, end, most]
        insort(self.items, hole, key=itemgetter(0))
        self._opened(hole)

    def _opened(self, hole: list[Any]) -> None:
        """``hole`` may have room: no shape's mark may stay past it."""
        clear, key, most = self.clear, (hole[0], hole[1]), hole[3]
        for request, until in clear.items():
            if key < until and all(map(le, request, most)):
                clear[request] = key

    def expire(self, now: float, smallest: Vector | None) -> None:
        """Drop the holes that end by ``now`` and those with no room for ``smallest``."""
        compiled_scan = profile_module.compiled_scan
        if compiled_scan is not None:
            self.items = compiled_scan.kept_holes(self.items, now, smallest, None)
            return
        self.items = [
            h for h in self.items if h[2] > now and (smallest is None or fits(smallest, h[3]))
        ]

    def keep_newer(self, seq: int) -> None:
        """Keep only the holes newer than ``seq``."""
        compiled_scan = profile_module.compiled_scan
        if compiled_scan is not None:
            self.items = compiled_scan.kept_holes(self.items, None, None, seq)
            return
        self.items = [h for h in self.items if h[1] > seq]

    def first_help(
        self,
        since: int,
        end: float,
        request: Vector,
        profile: Profile,
        smallest: Vector | None,
    ) -> float | None:
        """The earliest start of a hole newer than ``since``, starting before ``end``, with room
        for ``request`` somewhere inside it; ``None`` when there is none."""
        items = self.items
        if not items:  # the common case after ends at their estimates
            return None
        found: float | None = None
        dead: list[int] = []
        for k in self._candidates(since, end, request):
            hole = items[k]
            hole[3] = most = profile.max_free(hole[0], hole[2])
            self._opened(hole)
            if fits(request, most):
                found = hole[0]
                break
            if smallest is not None and not fits(smallest, most):
                dead.append(k)
        for k in reversed(dead):
            del items[k]
        return found

    def _candidates(self, since: int, end: float, request: Vector) -> Iterator[int]:
        """The positions of the holes starting before ``end``, newer than ``since``, whose
        recorded ``most`` may hold ``request``, in start order (the compiled scan when there is
        one)."""
        items = self.items
        compiled_scan = profile_module.compiled_scan
        if compiled_scan is None or type(request) is not tuple:
            for k, hole in enumerate(items):
                if hole[0] >= end:
                    return
                if hole[1] > since and all(map(le, request, hole[3])):
                    yield k
            return
        until = self.clear.get(request)
        k = 0 if until is None else compiled_scan.position(items, *until)
        k = compiled_scan.first_room(items, k, end, request)
        self.clear[request] = (items[k][0], items[k][1]) if k < len(items) else _AFTER_ALL
        k = compiled_scan.next_hole(items, k, end, since, request)
        while k >= 0:
            yield k
            k = compiled_scan.next_hole(items, k + 1, end, since, request)
