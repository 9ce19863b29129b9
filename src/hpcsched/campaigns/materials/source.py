"""Where structures and their enthalpies come from: a user's CSV, or a synthetic landscape.

Both give the same two things: a labelled *training set* (the structures the datasets already
know, on which the surrogates are first fitted) and the *candidates* of a goal, in the order the
campaign screens them, with their reference enthalpy per atom (the oracle that DFT would be:
validation, drift detection and continual learning read it, the surrogates never do before a
refit). A source is rebuilt from a small JSON spec, so live worker processes rebuild the very
same data the planner saw.

The synthetic set is deterministic by seed and chunked (4,096 rows per chunk, each chunk from its
own seeded generator) so that 9.5 million candidates never sit in memory at once. Descriptors
follow the usual composition + prototype features of structure screening (composition fraction,
volume per atom, coordination, packing fraction, ionicity, distortion); the enthalpy is a smooth
formation-energy-like landscape (a convex composition term plus template terms) with Gaussian
noise. Between ``shift[0]`` and ``shift[1]`` of the stream the candidates drift: volume and
distortion move to a region the training set never covered and a new interaction term appears,
so the surrogates' residuals really grow (covariate and concept drift, Gama et al. 2014).
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np

FEATURES = ("x", "volume", "coordination", "packing", "ionicity", "distortion")
CHUNK = 4096
TRAIN_ROWS = 2000
USI_COMPOSITIONS = 99  # Si/(Si+U) = 0.01 ... 0.99 in steps of 0.01
Array = np.ndarray[Any, np.dtype[np.float64]]
Index = np.ndarray[Any, np.dtype[Any]] | list[int]  # structure numbers


class MaterialsInputError(ValueError):
    """A user's materials file cannot be read; the message names file:line and the fix."""


class Source(Protocol):
    @property
    def n(self) -> int: ...

    @property
    def feature_names(self) -> tuple[str, ...]: ...

    def train(self) -> tuple[Array, Array]: ...

    def rows(self, index: Index) -> tuple[Array, Array]: ...

    def label(self, i: int) -> str: ...


def _landscape(F: Array, drift: Array) -> Array:
    """Enthalpy per atom (eV/atom) of descriptor rows; ``drift`` in [0, 1] adds the new term."""
    x, volume, coordination, packing, ionicity, distortion = F.T
    hull = -1.2 * 4 * x * (1 - x) - 0.3 * x
    template = (
        0.8 * (volume - 1) ** 2
        + 0.15 * np.sin(6 * coordination)
        + 1.5 * (packing - 0.62) ** 2
        - 0.25 * ionicity * x
        + 0.4 * distortion**2
    )
    unseen = drift * (0.9 * ionicity * distortion - 0.5 * (volume - 1))
    out: Array = hull + template + unseen
    return out


def _descriptors(rng: np.random.Generator, x: Array, drift: Array) -> Array:
    n = len(x)
    volume = rng.normal(1.0 + 0.45 * drift, 0.12, n)
    coordination = rng.integers(4, 13, n) / 12.0
    packing = rng.uniform(0.45, 0.75, n)
    ionicity = rng.uniform(0.0, 1.0, n)
    distortion = np.abs(rng.normal(0.0, 0.25 * (1 + 2.0 * drift), n))
    return np.column_stack([x, volume, coordination, packing, ionicity, distortion])


@dataclass(frozen=True)
class SyntheticSource:
    """``goal`` uo2: ``n`` templates of UO2; usi: templates interleaved over 99 compositions."""

    goal: str
    n: int
    seed: int = 7
    shift: tuple[float, float] = (0.3, 0.6)
    noise: float = 0.02
    feature_names: tuple[str, ...] = FEATURES

    def drift_level(self, index: Array) -> Array:
        lo, hi = self.shift[0] * self.n, self.shift[1] * self.n
        if hi <= lo:
            return np.where(index >= lo, 1.0, 0.0)
        out: Array = np.clip((index - lo) / (hi - lo), 0.0, 1.0)
        return out

    def composition_x(self, index: Array) -> Array:
        if self.goal == "uo2":
            return np.full(len(index), 2 / 3)  # O/(O+U)
        return ((index % USI_COMPOSITIONS) + 1) / 100.0

    def train(self) -> tuple[Array, Array]:
        rng = np.random.default_rng([self.seed, 0, 1 << 30])
        x = rng.uniform(0.0, 1.0, TRAIN_ROWS)
        zero = np.zeros(TRAIN_ROWS)
        F = _descriptors(rng, x, zero)
        return F, _landscape(F, zero) + rng.normal(0.0, self.noise, TRAIN_ROWS)

    def rows(self, index: Index) -> tuple[Array, Array]:
        idx = np.asarray(index, dtype=np.int64)
        if len(idx) and (idx.min() < 0 or idx.max() >= self.n):
            raise IndexError(f"structure index out of range 0..{self.n - 1}")
        F = np.empty((len(idx), len(FEATURES)))
        H = np.empty(len(idx))
        chunks = idx // CHUNK
        for chunk in np.unique(chunks):
            sel = chunks == chunk
            cF, cH = self._chunk(int(chunk))
            F[sel], H[sel] = cF[idx[sel] % CHUNK], cH[idx[sel] % CHUNK]
        return F, H

    def _chunk(self, chunk: int) -> tuple[Array, Array]:
        return _synthetic_chunk(self, chunk)

    def label(self, i: int) -> str:
        if self.goal == "uo2":
            return f"UO2 template {i}"
        return f"U{100 - (i % USI_COMPOSITIONS + 1)}Si{i % USI_COMPOSITIONS + 1} template {i // 99}"


@lru_cache(maxsize=8)
def _synthetic_chunk(source: SyntheticSource, chunk: int) -> tuple[Array, Array]:
    start = chunk * CHUNK
    index = np.arange(start, min(start + CHUNK, source.n), dtype=np.float64)
    rng = np.random.default_rng([source.seed, 1 if source.goal == "uo2" else 2, chunk])
    drift = source.drift_level(index)
    F = _descriptors(rng, source.composition_x(index.astype(np.int64)), drift)
    H = _landscape(F, drift) + rng.normal(0.0, source.noise, len(index))
    return F, H


_ELEMENT = re.compile(r"([A-Z][a-z]?)(\d*\.?\d*)")


def parse_formula(formula: str) -> dict[str, float]:
    """``U3Si2`` -> {U: 3, Si: 2}; raises ValueError on anything else."""
    text = formula.strip()
    parts = _ELEMENT.findall(text)
    if not parts or "".join(e + c for e, c in parts) != text:
        raise ValueError(f"{formula!r} is not a chemical formula such as UO2 or U3Si2")
    counts: dict[str, float] = {}
    for element, count in parts:
        counts[element] = counts.get(element, 0.0) + (float(count) if count else 1.0)
    return counts


def goal_x(goal: str, formula: str) -> float | None:
    """The composition fraction a formula has for a goal, or None when it is not part of it."""
    counts = parse_formula(formula)
    if goal == "uo2":
        return (
            2 / 3
            if counts and set(counts) == {"U", "O"} and counts["O"] == 2 * counts["U"]
            else None
        )
    if set(counts) == {"U", "Si"}:
        x = counts["Si"] / (counts["Si"] + counts["U"])
        return x if 0.005 <= x <= 0.995 else None
    return None


@dataclass(frozen=True)
class Malformed:
    line: int
    why: str


class CsvSource:
    """A user's CSV: ``composition,template,enthalpy_per_atom`` then one column per feature.

    Rows of the goal's compositions are the candidates (screened in file order); every other
    row is training data. Malformed rows are counted with their line numbers (``malformed``);
    with ``strict`` the first one raises.
    """

    REQUIRED = ("composition", "template", "enthalpy_per_atom")

    def __init__(self, path: Path, goal: str, strict: bool = False) -> None:
        self.path = Path(path)
        self.goal = goal
        self.malformed: list[Malformed] = []
        train_F: list[list[float]] = []
        train_H: list[float] = []
        F: list[list[float]] = []
        H: list[float] = []
        self._labels: list[str] = []
        try:
            handle = self.path.open(newline="", encoding="utf-8")
        except OSError as exc:
            raise MaterialsInputError(f"{self.path}: cannot open ({exc.strerror})") from exc
        with handle:
            reader = csv.reader(handle)
            header = [h.strip() for h in next(reader, [])]
            if tuple(header[:3]) != self.REQUIRED or len(header) < 4:
                raise MaterialsInputError(
                    f"{self.path}:1: header must be {','.join(self.REQUIRED)} followed by at "
                    f"least one feature column (got {','.join(header) or 'nothing'})"
                )
            self.feature_names = tuple(header[3:])
            for line, record in enumerate(reader, start=2):
                why = self._read(record, len(header), F, H, train_F, train_H)
                if why is None:
                    continue
                self.malformed.append(Malformed(line, why))
                if strict:
                    raise MaterialsInputError(f"{self.path}:{line}: {why}; fix or remove the row")
        if not F:
            raise MaterialsInputError(
                f"{self.path}: no row has a composition of goal {goal!r} (UO2, or U and Si only); "
                "add candidate rows or use the synthetic set"
            )
        if len(train_F) < 10:
            raise MaterialsInputError(
                f"{self.path}: {len(train_F)} training rows outside the goal's compositions; "
                "the surrogates need at least 10"
            )
        self.n = len(F)
        self._F, self._H = np.array(F), np.array(H)
        self._train = (np.array(train_F), np.array(train_H))

    def _read(
        self,
        record: list[str],
        width: int,
        F: list[list[float]],
        H: list[float],
        train_F: list[list[float]],
        train_H: list[float],
    ) -> str | None:
        if not record or all(not c.strip() for c in record):
            return "empty row"
        if len(record) != width:
            return f"{len(record)} fields, the header has {width}"
        try:
            x = goal_x(self.goal, record[0])
        except ValueError as exc:
            return str(exc)
        try:
            values = [float(v) for v in record[2:]]
        except ValueError:
            return "enthalpy_per_atom and the features must be numbers"
        if not all(np.isfinite(values)):
            return "a number is not finite"
        if x is None:
            train_F.append(values[1:])
            train_H.append(values[0])
        else:
            F.append(values[1:])
            H.append(values[0])
            self._labels.append(f"{record[0].strip()} {record[1].strip()}")
        return None

    def train(self) -> tuple[Array, Array]:
        return self._train

    def rows(self, index: Index) -> tuple[Array, Array]:
        idx = np.asarray(index, dtype=np.int64)
        return self._F[idx], self._H[idx]

    def label(self, i: int) -> str:
        return self._labels[i]


def source_spec(goal: str, n: int, seed: int = 7, data: Path | None = None) -> dict[str, Any]:
    """The JSON spec that rebuilds a source anywhere (live workers included)."""
    if data is not None:
        return {"kind": "csv", "path": str(Path(data).resolve()), "goal": goal}
    return {"kind": "synthetic", "goal": goal, "n": n, "seed": seed}


def open_source(spec: dict[str, Any]) -> Source:
    return _open(json.dumps(spec, sort_keys=True))


@lru_cache(maxsize=4)
def _open(key: str) -> Source:
    spec = json.loads(key)
    if spec["kind"] == "csv":
        return CsvSource(Path(spec["path"]), spec["goal"])
    return SyntheticSource(spec["goal"], int(spec["n"]), int(spec.get("seed", 7)))
