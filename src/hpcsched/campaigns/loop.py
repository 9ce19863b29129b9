"""The one loop a campaign runs in, under a virtual clock or the wall clock.

SimPy's lesson (``simpy.rt``): a real-time run is the same simulation whose clock waits for real
time; only *how it waits* changes. Here the loop is: ask the dispatcher what starts now, hand the
launches to the clock, stop when the campaign is done, else wait until the next completion or the
policy's wake-up and report every completion found. A :class:`Clock` supplies the three things
that differ: the time, starting an attempt, and waiting. The simulated campaign
(:mod:`hpcsched.sim.campaign`) uses a virtual clock over the event kernel; the live pilot
(:mod:`hpcsched.runtime.pilot`) a wall clock over an executor and its journal.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from hpcsched.campaigns.dispatch import Dispatcher, Launch
from hpcsched.campaigns.task import TaskResult


class Clock(Protocol):
    def now(self) -> float:
        """The current time (seconds since the run began, virtual or wall)."""

    def launch(self, launch: Launch) -> bool:
        """Start one attempt at :meth:`now`. True when it ended at once instead (the live pilot
        refuses to start a task whose input is missing): its result went straight to the
        dispatcher, and the loop decides again before it waits."""

    def wait(self, wake: float | None) -> list[TaskResult]:
        """Wait until the next completion(s) or ``wake`` (``None``: no wake-up asked for) and
        return every completion found, all ends of one instant together; ``[]`` at a wake-up."""

    def stuck(self, dispatcher: Dispatcher) -> None:
        """Nothing runs, nothing will wake the policy and tasks still wait: say why (raise)."""


def drive(
    dispatcher: Dispatcher,
    clock: Clock,
    complete: Callable[[TaskResult], None],
    *,
    after_step: Callable[[], None] | None = None,
    until: float = float("inf"),
) -> None:
    """Run ``dispatcher`` to the end under ``clock``. ``complete`` reports one completion to the
    dispatcher (the pilot commits outputs first); ``after_step`` runs after each decision (the
    pilot's cancellations, journal flushes and progress)."""
    dispatcher.begin(clock.now())
    while True:
        settled = [clock.launch(launch) for launch in dispatcher.step(clock.now())]
        if after_step is not None:
            after_step()
        if dispatcher.done() or clock.now() > until:
            return
        if any(settled):
            continue  # an attempt ended before it ran: decide again before waiting
        wake = dispatcher.next_wake()
        if dispatcher.running == 0 and wake is None:
            clock.stuck(dispatcher)
        for result in clock.wait(wake):
            complete(result)
