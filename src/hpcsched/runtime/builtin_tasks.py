"""Tiny importable callables for tests, demos and benchmarks (``...builtin_tasks:echo``).

They live in the package, not in a test module, because a callable task is named
``module:function`` and must import the same way in a process-pool worker or on a Dask worker.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import NoReturn, TypeVar

T = TypeVar("T")


def noop() -> None:
    """Nothing: measures the runtime's own overhead per task."""


def echo(value: T) -> T:
    return value


def sleep(seconds: float) -> float:
    """Sleep and return how long it actually slept."""
    start = time.monotonic()
    time.sleep(seconds)
    return time.monotonic() - start


def fail(message: str) -> NoReturn:
    raise RuntimeError(message)


def write(path: str, text: str) -> str:
    """Write ``text`` to ``path`` relative to the current directory (the attempt's workdir)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    return path


def square(x: float) -> float:
    return x * x
