"""What a run tells its user when it ends: the counts and the root causes of its failures."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

ROOTS_SHOWN = 20


@dataclass(frozen=True)
class RunSummary:
    tasks: int
    succeeded: int
    failed: int
    cancelled: int
    retried: int
    replayed: int
    wall_seconds: float
    run_dir: str
    policy: str
    executor: str
    #: the tasks that failed of their own accord (not for a dependency): task, reason, message
    #: and how many dependants they blocked; the first :data:`ROOTS_SHOWN`
    root_causes: tuple[dict[str, Any], ...] = ()
    #: tasks that never ran because a dependency failed (``hpcsched run`` counts them apart from
    #: ``failed``, as ``status``, ``tasks``, ``why`` and ``export`` do)
    blocked: int = 0
    #: intermediate files this run deleted from the work directory (``run --cleanup inplace``)
    cleaned: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class RootCauses:
    """Collects root causes from the ``failed`` events as they are journaled (each names its
    ``root``: itself, or the task whose failure it inherited)."""

    def __init__(self) -> None:
        self._roots: dict[str, dict[str, Any]] = {}

    def see(self, task_id: str, data: dict[str, Any]) -> None:
        root = str(data.get("root") or task_id)
        if root == task_id and len(self._roots) < ROOTS_SHOWN:
            keep = {"task": task_id, "reason": data.get("reason"), "message": data.get("message")}
            self._roots[task_id] = keep | {"blocks": 0}
        elif root in self._roots:
            self._roots[root]["blocks"] += 1

    def listed(self) -> tuple[dict[str, Any], ...]:
        return tuple(dict(root) for root in self._roots.values())
