from collections.abc import Sequence
from typing import Any

def earliest_start(
    times: list[float],
    free: list[tuple[float, ...]],
    request: tuple[float, ...],
    duration: float,
    after: float,
    k: int,
) -> float | None: ...
def next_hole(
    items: list[list[Any]], k: int, end: float, since: int, request: tuple[float, ...]
) -> int: ...
def add_to_steps(
    free: list[tuple[float, ...]], i: int, j: int, request: tuple[float, ...], give: bool
) -> None: ...
def first_room(items: list[list[Any]], k: int, end: float, request: tuple[float, ...]) -> int: ...
def position(items: list[list[Any]], start: float, seq: int) -> int: ...
def add_range(
    times: list[float],
    free: list[tuple[float, ...]],
    start: float,
    end: float,
    request: tuple[float, ...],
    give: bool,
) -> None: ...
def max_free(
    times: list[float], free: list[tuple[float, ...]], start: float, end: float
) -> tuple[float, ...]: ...
def refit_pass(
    plan: Any,
    visit: Sequence[Any],
    now: float,
    smallest: tuple[float, ...] | None,
    memo: bool = True,
) -> None: ...
def kept_holes(
    items: list[list[Any]], now: float | None, smallest: tuple[float, ...] | None, since: int | None
) -> list[list[Any]]: ...
