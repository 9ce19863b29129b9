"""The campaign's task functions, one per kind, and the callables the live runtime runs.

Each kind is one function of a :class:`~.stores.Store` and JSON-able keyword arguments that name
exactly what it works on (model version, structure range or window), so its value does not
depend on when it runs or on what else finished meanwhile. The live callables
(``hpcsched.campaigns.materials.tasks:predict`` ...) open a :class:`~.stores.FileStore` on the run's
work dir; the simulator calls :func:`execute` on a :class:`~.stores.MemoryStore`. Same function,
same value: that is what makes the campaign take the same decisions under both clocks.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from hpcsched.campaigns.materials import plot
from hpcsched.campaigns.materials.drift import ks_drift
from hpcsched.campaigns.materials.stores import FileStore, Store
from hpcsched.campaigns.materials.surrogates import METHODS, fit_surrogate

REFIT_RECENT = 2000  # labelled candidates a refit adds to the training set (the most recent)


def _train(store: Store, method: str, version: int = 0, seed: int = 0) -> dict[str, Any]:
    F, H = store.source.train()
    surrogate = fit_surrogate(method, version, F, H, seed)
    store.save(surrogate)
    return {"method": method, "version": version, "holdout_mae": surrogate.holdout_mae}


def _refit(store: Store, method: str, version: int, upto: int, seed: int = 0) -> dict[str, Any]:
    """Continual learning: refit on the training set plus the labelled candidates before
    ``upto`` (the most recent ``REFIT_RECENT``), as version ``version``."""
    F, H = store.source.train()
    lo = max(0, upto - REFIT_RECENT)
    if upto > lo:
        cF, cH = store.source.rows(np.arange(lo, upto))
        F, H = np.vstack([F, cF]), np.concatenate([H, cH])
    surrogate = fit_surrogate(method, version, F, H, seed)
    store.save(surrogate)
    store.write(
        f"models/{method}-v{version}.json",
        json.dumps({"rows": surrogate.rows, "holdout_mae": surrogate.holdout_mae, "upto": upto}),
    )
    return {"method": method, "version": version, "holdout_mae": surrogate.holdout_mae}


def _predict(store: Store, method: str, version: int, start: int, stop: int) -> list[float]:
    values = store.predict_at(method, version, np.arange(start, stop))
    if store.writes_files:
        record = {"method": method, "version": version, "start": start, "values": values.tolist()}
        store.write(f"predictions/{method}-{start}.json", json.dumps(record))
    out: list[float] = values.tolist()
    return out


def _window_residuals(store: Store, method: str, version: int, window: list[int]) -> Any:
    _, H = store.source.rows(window)
    predicted = store.predict_at(method, version, window)
    return np.abs(H - predicted)


def _drift_check(
    store: Store, method: str, version: int, window: list[int], number: int
) -> dict[str, Any]:
    """KS test of the window's residuals against the model's hold-out residuals."""
    surrogate = store.surrogate(method, version)
    result = ks_drift(surrogate.reference, _window_residuals(store, method, version, window))
    value = {"method": method, "version": version, **result.as_dict()}
    store.write(f"drift/{method}-{number}.json", json.dumps(value))
    return value


def _validate(
    store: Store, versions: dict[str, int], window: list[int], number: int
) -> dict[str, Any]:
    """Mean absolute error of each current surrogate and of their mean on the window."""
    _, H = store.source.rows(window)
    errors: dict[str, float] = {}
    ensemble = np.zeros(len(window))
    for method, version in versions.items():
        predicted = store.predict_at(method, version, window)
        ensemble += predicted / len(versions)
        errors[method] = float(np.mean(np.abs(H - predicted)))
    errors["ensemble"] = float(np.mean(np.abs(H - ensemble)))
    value = {"number": number, "window": len(window), "mae": errors}
    store.write(f"validation/{number}.json", json.dumps(value, indent=1))
    return value


def _analyse(store: Store, start: int, structures: list[list[float]]) -> dict[str, Any]:
    """Characterise promising candidates: ``structures`` holds [index, ensemble, spread]; the
    reference enthalpy (what a relaxation would give) is recorded next to the prediction."""
    index = [int(s[0]) for s in structures]
    _, H = store.source.rows(index)
    records = [
        {"structure": i, "predicted": s[1], "spread": s[2], "reference": float(h)}
        for i, s, h in zip(index, structures, H, strict=True)
    ]
    store.write(f"candidates/{start}.json", json.dumps(records))
    return {"start": start, "analysed": len(records)}


def _log(store: Store, number: int, lines: list[str]) -> int:
    store.write("log/campaign.log", "".join(f"[{number}] {line}\n" for line in lines), append=True)
    return len(lines)


def _visualise(store: Store, number: int | str, best: list[list[Any]]) -> dict[str, Any]:
    """Plot every prediction written so far and the best candidates (an SVG file)."""
    if not store.writes_files:
        return {"number": number, "points": 0}
    points: dict[str, list[tuple[float, float]]] = {m: [] for m in METHODS}
    for written in sorted(store.path("predictions").glob("*.json")):
        try:
            record = json.loads(written.read_text())
        except (OSError, json.JSONDecodeError):
            continue  # being replaced right now: the next plot has it
        start = int(record["start"])
        points[record["method"]].extend(
            (float(start + k), float(v)) for k, v in enumerate(record["values"])
        )
    svg = plot.landscape_svg(points, [(float(i), float(h)) for i, h, *_ in best], number)
    path = store.write(f"plots/landscape-{number}.svg", svg)
    store.write("plots/landscape.svg", svg)
    return {"number": number, "points": sum(map(len, points.values())), "path": str(path)}


KINDS: dict[str, Callable[..., Any]] = {
    "train": _train,
    "refit": _refit,
    "predict": _predict,
    "drift": _drift_check,
    "validate": _validate,
    "analyse": _analyse,
    "log": _log,
    "visualise": _visualise,
}


def execute(kind: str, store: Store, kwargs: dict[str, Any]) -> Any:
    """Run a task of ``kind`` on ``store``; ``spec``/``work_dir`` in kwargs are the store's."""
    arguments = {k: v for k, v in kwargs.items() if k not in ("spec", "work_dir")}
    return KINDS[kind](store, **arguments)


_THREADS: list[Any] = []


def _live(kind: str, work_dir: str, spec: dict[str, Any], kwargs: dict[str, Any]) -> Any:
    if not _THREADS:  # once per worker: the scheduler, not BLAS, owns the cores
        _THREADS.append(threadpool_limits(limits=1))
    return execute(kind, FileStore(Path(work_dir), spec), kwargs)


# -- what the live runtime calls (module:function) ------------------------------------------------


def train(work_dir: str, spec: dict[str, Any], **kwargs: Any) -> Any:
    return _live("train", work_dir, spec, kwargs)


def refit(work_dir: str, spec: dict[str, Any], **kwargs: Any) -> Any:
    return _live("refit", work_dir, spec, kwargs)


def predict(work_dir: str, spec: dict[str, Any], **kwargs: Any) -> Any:
    return _live("predict", work_dir, spec, kwargs)


def drift_check(work_dir: str, spec: dict[str, Any], **kwargs: Any) -> Any:
    return _live("drift", work_dir, spec, kwargs)


def validate(work_dir: str, spec: dict[str, Any], **kwargs: Any) -> Any:
    return _live("validate", work_dir, spec, kwargs)


def analyse(work_dir: str, spec: dict[str, Any], **kwargs: Any) -> Any:
    return _live("analyse", work_dir, spec, kwargs)


def log(work_dir: str, spec: dict[str, Any], **kwargs: Any) -> Any:
    return _live("log", work_dir, spec, kwargs)


def visualise(work_dir: str, spec: dict[str, Any], **kwargs: Any) -> Any:
    return _live("visualise", work_dir, spec, kwargs)


CALLABLES = {
    "train": "train",
    "refit": "refit",
    "predict": "predict",
    "drift": "drift_check",
    "validate": "validate",
    "analyse": "analyse",
    "log": "log",
    "visualise": "visualise",
}
