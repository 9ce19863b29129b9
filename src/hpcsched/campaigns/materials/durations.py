"""How long each task of the campaign takes under the ``sim`` clock.

Every kind has a uniform range ``[low, high]`` in seconds: a fixed part per task plus, for
predictions, a part per structure. The draw for a task is a hash of the seed and the task id, so a
task lasts the same whatever the policy and whenever it runs (a fair comparison of policies), and
no random generator state is shared. The task's ``runtime`` (what the policy plans with) is the
middle of its range.

Defaults and where they come from (S = sourced, A = assumption, M = measured here):

========================= ============ ============================================================
kind                      default (s)  source
========================= ============ ============================================================
predict, per task         nn 0.5–0.7   S: AERIS surrogate inference takes about 0.5–1.2 s per
                          rf 0.6–0.9   composition over 9k–31k templates (public AERIS code). We
                          gnn 0.9–1.2  take that as the fixed cost of one prediction task and
                                       split it by method (A: the GNN is the slowest).
predict, per structure    16–130 µs    S: the same figures, 0.5 s / 31k to 1.2 s / 9k templates.
drift check               1–3          A: loading the model and window dominate; the KS test itself
                                       takes milliseconds (M: ``tasks.drift_check``).
validation                5–10         A: re-scoring the recent window against reference data.
candidate analysis        20–40        A: characterising a promising structure (a quick relaxation
                                       with a cheap potential, symmetry, distance to the best);
                                       the ratio PriorityBF/FCFS depends on it (README table).
logging                   0.2–0.5      A: appending a few lines.
visualisation             5–15         A: plotting the explored landscape.
training, refit (CL)      60–180       A: refitting one surrogate on the accumulated data on
                                       ``fit_cpus`` cores; a real GNN retraining on GPUs is longer.
DFT relaxation            3600–21600   S: DFT relaxations take hours on 1–4 nodes. Documented for
                                       what validation stands in for; not simulated by default
                                       (at one per 10 structures nothing else would ever run).
========================= ============ ============================================================
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field, replace

from hpcsched.campaigns.task import Task

Range = tuple[float, float]

DEFAULT_RANGES: dict[str, Range] = {
    "predict-nn": (0.5, 0.7),
    "predict-rf": (0.6, 0.9),
    "predict-gnn": (0.9, 1.2),
    "per-structure": (16e-6, 130e-6),
    "drift": (1.0, 3.0),
    "validate": (5.0, 10.0),
    "analyse": (20.0, 40.0),
    "log": (0.2, 0.5),
    "visualise": (5.0, 15.0),
    "train": (60.0, 180.0),
    "refit": (60.0, 180.0),
    "dft": (3600.0, 21600.0),
}


@dataclass(frozen=True)
class DurationModel:
    """Uniform ranges by kind (see the module table); ``seed`` picks the draws."""

    ranges: dict[str, Range] = field(default_factory=lambda: dict(DEFAULT_RANGES))
    seed: int = 0

    def with_ranges(self, **changes: Range) -> DurationModel:
        """A copy with some ranges replaced (``predict_nn=(1, 2)`` sets ``predict-nn``)."""
        ranges = dict(self.ranges)
        for key, value in changes.items():
            name = key.replace("_", "-")
            if name not in ranges:
                raise ValueError(f"unknown duration {name!r}; known: {', '.join(sorted(ranges))}")
            low, high = value
            if not 0 <= low <= high:
                raise ValueError(f"duration {name!r}: need 0 <= low <= high, got {value}")
            ranges[name] = (float(low), float(high))
        return replace(self, ranges=ranges)

    def _key(self, kind: str, method: str) -> str:
        return f"{kind}-{method}" if kind == "predict" else kind

    def expected(self, kind: str, method: str = "", structures: int = 0) -> float:
        """The middle of the range: what a task of this kind is planned with."""
        low, high = self.ranges[self._key(kind, method)]
        total = (low + high) / 2
        if kind == "predict":
            per_low, per_high = self.ranges["per-structure"]
            total += structures * (per_low + per_high) / 2
        return max(total, 1e-3)

    def draw(self, task: Task) -> float:
        """The simulated duration of ``task`` (deterministic in seed and task id)."""
        method = str(task.kwargs.get("method", ""))
        low, high = self.ranges[self._key(task.kind, method)]
        u = zlib.crc32(f"{self.seed}:{task.id}".encode()) / 2**32
        total = low + u * (high - low)
        if task.kind == "predict":
            per_low, per_high = self.ranges["per-structure"]
            count = int(task.kwargs["stop"]) - int(task.kwargs["start"])
            v = zlib.crc32(f"{self.seed}:{task.id}:n".encode()) / 2**32
            total += count * (per_low + v * (per_high - per_low))
        return total
