"""Resources as a named vector, job requests and the cluster they run on."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

RESOURCE_NAMES = ("nodes", "cpus", "gpus", "mem")


@dataclass(frozen=True, slots=True)
class Resources:
    """A named resource vector (nodes, cpus, gpus, mem in bytes).

    Arithmetic is component-wise; ``a <= b`` means every component of ``a`` fits in ``b``.
    """

    nodes: int = 0
    cpus: int = 0
    gpus: int = 0
    mem: float = 0.0

    @classmethod
    def of(cls, values: Mapping[str, Any]) -> Resources:
        unknown = set(values) - set(RESOURCE_NAMES)
        if unknown:
            raise ValueError(f"unknown resource(s) {sorted(unknown)}; known: {RESOURCE_NAMES}")
        return cls(**{k: values[k] for k in values})

    def __iter__(self) -> Iterator[tuple[str, float]]:
        for name in RESOURCE_NAMES:
            yield name, getattr(self, name)

    def as_dict(self) -> dict[str, float]:
        return dict(self)

    def __add__(self, other: Resources) -> Resources:
        return Resources(
            self.nodes + other.nodes,
            self.cpus + other.cpus,
            self.gpus + other.gpus,
            self.mem + other.mem,
        )

    def __sub__(self, other: Resources) -> Resources:
        return Resources(
            self.nodes - other.nodes,
            self.cpus - other.cpus,
            self.gpus - other.gpus,
            self.mem - other.mem,
        )

    def __le__(self, other: Resources) -> bool:  # type: ignore[override]
        return (
            self.nodes <= other.nodes
            and self.cpus <= other.cpus
            and self.gpus <= other.gpus
            and self.mem <= other.mem
        )

    def fits_in(self, other: Resources) -> bool:
        return self <= other

    def exceeding(self, capacity: Resources) -> list[str]:
        """Names of the components that exceed ``capacity`` (empty when it fits)."""
        return [name for name, value in self if value > getattr(capacity, name)]


@dataclass(frozen=True, slots=True)
class JobRequest:
    """What a job or task asks the scheduler for.

    ``estimate`` is the runtime the policy plans with (user walltime, a prediction, or the exact
    runtime); ``timelimit`` is where the job is killed (``None`` = never).
    """

    job_id: int
    submit: float
    resources: Resources
    estimate: float
    priority_class: int = 0
    timelimit: float | None = None
    user: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ClusterSpec:
    """The machine: its total capacity and a name."""

    capacity: Resources
    name: str = "cluster"

    @classmethod
    def processors(cls, count: int, name: str = "cluster") -> ClusterSpec:
        return cls(Resources(cpus=count), name)

    def refuses(self, request: Resources) -> str | None:
        """Why ``request`` can never run here, or ``None`` when it can."""
        over = request.exceeding(self.capacity)
        if not over:
            return None
        parts = [f"{n}={getattr(request, n):g} > {getattr(self.capacity, n):g}" for n in over]
        return f"request larger than the machine ({', '.join(parts)})"
