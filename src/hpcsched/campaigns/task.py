"""A task (what a campaign or a workflow asks to run) and the result of one attempt.

A task is the runtime's unit of work, the same thing in simulation and in live execution: an id,
a priority class (0 is the most urgent, as in PriorityBF), the resources it holds while it runs,
the runtime the policy plans with, how often to retry it, and what to run: a command line or a
Python callable given as ``module:function`` with JSON-able arguments. Files it reads and writes
are declared so that dependencies can be inferred (Pegasus' abstract workflow) and provenance
recorded.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MOST_COUNT: Final = 2**31 - 1  # cpus, gpus, nodes, priority class: Slurm's 32-bit counts
MOST_SECONDS: Final = 3650 * 86400.0  # runtime, timeout: ten years
MOST_RETRIES: Final = 1000
MOST_DELAY: Final = 30 * 86400.0  # the longest wait before a retry: 30 days

_SIZE = re.compile(r"^\s*([0-9]{1,18}(?:\.[0-9]{1,18})?)\s*([KMGTP]?)(i?B?)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4, "P": 1024**5}
_CALLABLE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")

DEFAULT_RUNTIME = 60.0  # seconds the policy plans with when nothing better is known


def parse_size(value: Any) -> float:
    """Bytes from ``4G``, ``512M``, ``2GiB`` or ``1024`` (a bare number is bytes)."""
    if isinstance(value, bool):
        raise ValueError("a size is a number of bytes or a string such as 4G or 512M")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a size cannot be negative")
        if value > 2**53:  # also keeps float() from overflowing on a 400-digit integer
            raise ValueError("a size above 2^53 bytes (8 PiB) is beyond any machine")
        return float(value)
    match = _SIZE.match(str(value))
    if not match:
        raise ValueError(f"{value!r} is not a size; write e.g. 4G, 512M or a number of bytes")
    return float(match.group(1)) * _UNITS[match.group(2).upper()]


class Task(BaseModel):
    """One unit of work. Frozen: a retry is a new attempt of the same task, not a new task."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1)
    command: str | None = None
    callable: str | None = None
    args: list[Any] = Field(default_factory=list)
    kwargs: dict[str, Any] = Field(default_factory=dict)
    inputs: list[str] = Field(default_factory=list)
    outputs: list[str] = Field(default_factory=list)
    depends: list[str] = Field(default_factory=list)
    # every number a user writes has a stated bound (issue 22): counts in 32 bits, memory below
    # 2^53 bytes, times below ten years, and the longest retry delay (backoff * 2**(retries-1),
    # see _delays) within MOST_DELAY, so no wall-clock arithmetic can overflow
    cpus: int = Field(default=1, ge=1, le=MOST_COUNT)
    gpus: int = Field(default=0, ge=0, le=MOST_COUNT)
    mem: float = Field(default=0.0, ge=0, le=2.0**53, allow_inf_nan=False)  # bytes; 4G, 512M
    nodes: int = Field(default=1, ge=1, le=MOST_COUNT)
    priority: int = Field(default=0, ge=0, le=MOST_COUNT)  # priority class: 0 first
    # expected seconds (for the policy); kill after timeout seconds
    runtime: float | None = Field(default=None, gt=0, le=MOST_SECONDS, allow_inf_nan=False)
    timeout: float | None = Field(default=None, gt=0, le=MOST_SECONDS, allow_inf_nan=False)
    retries: int = Field(default=0, ge=0, le=MOST_RETRIES)
    # seconds before retry k+1: backoff * 2**k
    backoff: float = Field(default=1.0, ge=0, le=MOST_DELAY, allow_inf_nan=False)
    kind: str = ""  # a label: periodic helpers count completions by kind, estimates use it
    env: dict[str, str] = Field(default_factory=dict)

    @field_validator("mem", mode="before")
    @classmethod
    def _size(cls, value: Any) -> float:
        return parse_size(value)

    @field_validator("callable")
    @classmethod
    def _callable_form(cls, value: str | None) -> str | None:
        if value is not None and not _CALLABLE.match(value):
            raise ValueError(f"{value!r} is not module:function (e.g. mypkg.tools:predict)")
        return value

    @model_validator(mode="after")
    def _delays(self) -> Task:
        if self.backoff > 0 and self.retries > 1:
            longest = self.backoff * 2.0 ** (self.retries - 1)
            if longest > MOST_DELAY:
                raise ValueError(
                    f"retries {self.retries} with backoff {self.backoff:g} s would wait "
                    f"{longest:.3g} s before the last retry (at most {MOST_DELAY:g} s, 30 days); "
                    "lower retries or backoff"
                )
        return self

    @model_validator(mode="after")
    def _one_action(self) -> Task:
        if (self.command is None) == (self.callable is None):
            raise ValueError("give exactly one of command or callable")
        if self.command is not None and (self.args or self.kwargs):
            raise ValueError("args/kwargs go with a callable; put a command's arguments in it")
        try:  # they travel through the journal and to remote workers as JSON
            json.dumps([self.args, self.kwargs])
        except (TypeError, ValueError) as exc:
            raise ValueError(f"args/kwargs must be JSON-able ({exc})") from exc
        return self

    @property
    def label(self) -> str:
        return self.kind or self.id

    def action(self) -> str:
        """What runs, as one line (for provenance and displays)."""
        if self.command is not None:
            return self.command
        return f"{self.callable}(*{self.args!r}, **{self.kwargs!r})"


FailureReason = Literal[
    "exit",  # non-zero exit status (or an exception from a callable)
    "signal",  # killed by a signal nobody in hpcsched sent (a SIGKILL the kernel did not count)
    "timeout",
    "out-of-memory",  # its memory limit was hit, or the kernel's OOM killer counted the kill
    "missing-input",
    "missing-output",
    "dependency-failed",
    "cancelled",
    "interrupted",  # the runtime died while the attempt ran (restart retries it)
    "lost",  # the executor lost the attempt (worker died)
    "infrastructure",  # lost or interrupted more often than runtime/infra.py allows (counted)
]


class FileRecord(BaseModel):
    """A file an attempt read or wrote, with its content hash (provenance)."""

    model_config = ConfigDict(frozen=True)

    path: str
    sha256: str
    size: int


class TaskResult(BaseModel):
    """What one attempt of a task did. ``value`` is a callable's JSON-able return value."""

    model_config = ConfigDict(frozen=True)

    task_id: str
    attempt: int
    ok: bool
    value: Any = None
    exit_code: int | None = None
    reason: FailureReason | None = None
    message: str = ""  # one line: why it failed
    stderr_tail: str = ""
    start: float = 0.0
    end: float = 0.0
    host: str = ""
    inputs: list[FileRecord] = Field(default_factory=list)
    outputs: list[FileRecord] = Field(default_factory=list)

    @property
    def elapsed(self) -> float:
        return self.end - self.start
