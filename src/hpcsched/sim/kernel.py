"""A small discrete-event kernel: a heap of ``(time, order, seq, event)``.

``order`` ranks event kinds that fall at the same instant; ``seq`` (a counter) breaks the remaining
ties deterministically, in the order events were scheduled (SimPy ``core.py`` does the same).
At equal times pyss processes prediction-over, then submission, then termination, then start
events (``base/prototype.py``), and the published numbers depend on it, so we keep that order.
"""

from __future__ import annotations

import heapq
from typing import Any, Final

ESTIMATE_OVER: Final = 0
SUBMIT: Final = 1
END: Final = 2
WAKE: Final = 3


class EventKernel:
    """Virtual time and an ordered event heap. ``step`` pops one event and advances ``now``."""

    __slots__ = ("_heap", "_seq", "now")

    def __init__(self, start: float = 0.0) -> None:
        self._heap: list[tuple[float, int, int, Any]] = []
        self._seq = 0
        self.now = start

    def schedule(self, time: float, order: int, event: Any) -> None:
        if time < self.now:
            raise ValueError(f"cannot schedule an event in the past ({time} < {self.now})")
        heapq.heappush(self._heap, (time, order, self._seq, event))
        self._seq += 1

    def peek(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def next_order(self) -> int | None:
        """The kind order of the next event (``None`` when the heap is empty)."""
        return self._heap[0][1] if self._heap else None

    def step(self) -> tuple[int, Any]:
        """Pop the next event, advance ``now`` to its time and return ``(order, event)``."""
        time, order, _, event = heapq.heappop(self._heap)
        self.now = time
        return order, event

    def __len__(self) -> int:
        return len(self._heap)
