"""A fitted bound kept on disk (``predict fit --out DIR``) for ``advise`` and ``predict impact``
to reuse instead of refitting.

A model folder holds ``runtime.joblib`` (and ``memory.joblib`` when the history knew peak
memory): the :class:`~hpcsched.predict.bound.FittedBound` as joblib writes it (the LightGBM
booster, the conformal margins, the rows its history features read), and ``model.json``: what a
person needs to trust it (format, hpcsched version, target coverage, features, the file it was
trained on with its size and SHA-256, how many jobs, when). joblib files are pickles: load only
models you made. Anything missing, unreadable or of another format is refused in one line.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import joblib
import polars as pl

from hpcsched.predict.bound import FittedBound
from hpcsched.predict.learned import _history_rows

FORMAT: Final = "hpcsched-bound/1"
META: Final = "model.json"
REFIT: Final = "refit it with: hpcsched predict fit TRACE --out MODEL"


class ModelFileError(ValueError):
    """A model folder that cannot be used; ``str`` is one line: where, what, what to do."""


class FitError(ValueError):
    """A history too short to learn a bound from; ``str`` is one line."""


@dataclass
class SavedModel:
    """The bounds of a model folder and its ``model.json``."""

    runtime: FittedBound
    memory: FittedBound | None
    meta: dict[str, Any]

    def with_history(self, history: pl.DataFrame) -> SavedModel:
        """The same fitted bounds reading their history features from ``history`` (a newer
        history, or the trace being replayed), without refitting."""
        rows = _history_rows(history)
        memory = None if self.memory is None else replace(self.memory, history=rows)
        return SavedModel(replace(self.runtime, history=rows), memory, self.meta)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def metadata(
    trace: Path, runtime: FittedBound, memory: FittedBound | None, version: str
) -> dict[str, Any]:
    """What ``model.json`` records about a fit of ``trace``."""
    features = [] if runtime.model is None else list(runtime.model.feature_names_)
    return {
        "format": FORMAT,
        "hpcsched_version": version,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "trained_on": {
            "path": str(trace.resolve()),
            "bytes": trace.stat().st_size,
            "sha256": file_sha256(trace),
        },
        "coverage": runtime.coverage,
        "targets": {
            bound.target: {"jobs": bound.known, "learnt": bound.model is not None}
            for bound in (runtime, memory)
            if bound is not None
        },
        "features": features,
    }


def fit_model(
    table: pl.DataFrame,
    trace: Path,
    *,
    coverage: float,
    version: str,
    progress: Callable[[int, int], None] | None = None,
) -> SavedModel:
    """What ``predict fit`` fits on ``table`` (read from ``trace``): the run-time bound, and the
    peak-memory bound when the table knows peak memory, with their ``model.json`` record;
    ``progress(done, total)`` after each step. :class:`FitError` when too few jobs have a known
    run time to learn a model (:data:`hpcsched.predict.bound.MIN_HISTORY`)."""
    from hpcsched.predict.bound import FIT_STEPS, fit_bound

    has_mem = "mem_used" in table.columns and table["mem_used"].null_count() < table.height
    total = FIT_STEPS * (2 if has_mem else 1)

    def advance(done: int, offset: int) -> None:
        if progress is not None:
            progress(offset + done, total)

    runtime = fit_bound(
        table, target="runtime", coverage=coverage, progress=lambda k, _: advance(k, 0)
    )
    if runtime.model is None:
        raise FitError(
            f"{trace}: only {runtime.known} jobs with a known run time, {runtime.needed} "
            "needed to learn a model; give a longer history"
        )
    memory = None
    if has_mem:
        memory = fit_bound(
            table, target="mem_used", coverage=coverage, progress=lambda k, n: advance(k, n)
        )
    return SavedModel(runtime, memory, metadata(trace, runtime, memory, version))


def save_model(
    folder: Path, runtime: FittedBound, memory: FittedBound | None, meta: dict[str, Any]
) -> None:
    """Write the bounds and ``model.json`` into ``folder`` (made if missing; its parent must
    exist). ``model.json`` is written last, so a folder without it was never complete."""
    from hpcsched.core.outputs import atomic_output

    folder.mkdir(exist_ok=True)
    for name, bound in (("runtime", runtime), ("memory", memory)):
        if bound is not None:
            with atomic_output(folder / f"{name}.joblib") as temp:
                joblib.dump(bound, temp)
    with atomic_output(folder / META) as temp:
        temp.write_text(json.dumps(meta, indent=2) + "\n")


def _bound(path: Path, target: str) -> FittedBound:
    try:
        bound = joblib.load(path)
    except FileNotFoundError:
        raise ModelFileError(f"{path}: missing from the model folder; {REFIT}") from None
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        ImportError,
        IndexError,
        KeyError,
        OSError,
    ) as exc:
        reason = str(exc).splitlines()[0][:80] if str(exc) else type(exc).__name__
        raise ModelFileError(f"{path}: not a readable model ({reason}); {REFIT}") from None
    if not isinstance(bound, FittedBound) or bound.target != target:
        raise ModelFileError(f"{path}: holds no {target} bound of hpcsched; {REFIT}")
    return bound


def load_model(folder: Path) -> SavedModel:
    """The model in ``folder`` (written by :func:`save_model`), or :class:`ModelFileError`."""
    meta_path = folder / META
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise ModelFileError(
            f"{folder}: {what}; make a model with: hpcsched predict fit TRACE --out {folder}"
        )
    try:
        meta = json.loads(meta_path.read_text())
    except FileNotFoundError:
        raise ModelFileError(
            f"{meta_path}: missing (not a model folder, or an unfinished fit); {REFIT}"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{meta_path}: not readable JSON ({str(exc)[:60]}); {REFIT}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise ModelFileError(f"{meta_path}: format {found!r}, expected {FORMAT!r}; {REFIT}")
    targets = meta.get("targets") or {}
    runtime = _bound(folder / "runtime.joblib", "runtime")
    memory = _bound(folder / "memory.joblib", "mem_used") if "mem_used" in targets else None
    return SavedModel(runtime, memory, meta)
