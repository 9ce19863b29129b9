"""Where the campaign's tasks keep their state: files in the run's work dir, or memory.

The live runtime runs each task in a worker process; tasks share surrogates and results through
files in the work dir (``models/<method>-v<version>.pkl``, ``predictions/``, ``drift/``,
``validation/``, ``log/``, ``plots/``). The simulator runs the same task functions in-process on a
:class:`MemoryStore`: models in a dict, predictions computed once per chunk of structures and
model version (the same numbers, computed in bulk), and no files unless asked for.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from hpcsched.campaigns.materials.source import CHUNK, Array, Index, Source, open_source
from hpcsched.campaigns.materials.surrogates import Surrogate


class Store(Protocol):
    source: Source
    spec: dict[str, Any]
    writes_files: bool

    def surrogate(self, method: str, version: int) -> Surrogate: ...

    def save(self, surrogate: Surrogate) -> None: ...

    def predict_at(self, method: str, version: int, index: Index) -> Array: ...

    def write(self, relative: str, text: str, append: bool = False) -> Path | None: ...

    def path(self, relative: str) -> Path: ...


class MemoryStore:
    """The simulator's store; ``work_dir`` given: the file-writing tasks write there too."""

    def __init__(self, spec: dict[str, Any], work_dir: Path | None = None) -> None:
        self.spec = spec
        self.source = open_source(spec)
        self.work_dir = work_dir
        self.writes_files = work_dir is not None
        self._models: dict[tuple[str, int], Surrogate] = {}
        self._chunks: dict[tuple[str, int, int], Array] = {}

    def surrogate(self, method: str, version: int) -> Surrogate:
        return self._models[(method, version)]

    def save(self, surrogate: Surrogate) -> None:
        self._models[(surrogate.method, surrogate.version)] = surrogate
        for key in [k for k in self._chunks if k[0] == surrogate.method]:
            if key[1] < surrogate.version - 1:
                del self._chunks[key]  # old versions are no longer predicted with

    def predict_at(self, method: str, version: int, index: Index) -> Array:
        idx = np.asarray(index, dtype=np.int64)
        out = np.empty(len(idx))
        chunks = idx // CHUNK
        for chunk in np.unique(chunks):
            sel = chunks == chunk
            out[sel] = self._chunk(method, version, int(chunk))[idx[sel] - chunk * CHUNK]
        return out

    def _chunk(self, method: str, version: int, chunk: int) -> Array:
        key = (method, version, chunk)
        values = self._chunks.get(key)
        if values is None:
            lo, hi = chunk * CHUNK, min((chunk + 1) * CHUNK, self.source.n)
            F, _ = self.source.rows(np.arange(lo, hi))
            values = self._chunks[key] = self.surrogate(method, version).predict(F)
        return values

    def path(self, relative: str) -> Path:
        return Path(self.work_dir or ".") / relative

    def write(self, relative: str, text: str, append: bool = False) -> Path | None:
        if self.work_dir is None:
            return None
        return _write(self.path(relative), text, append)


class FileStore:
    """The live store: everything under ``work_dir``; loaded models cached per process."""

    writes_files = True

    def __init__(self, work_dir: str | Path, spec: dict[str, Any]) -> None:
        self.work_dir = Path(work_dir)
        self.spec = spec
        self.source = open_source(spec)

    def path(self, relative: str) -> Path:
        return self.work_dir / relative

    def _model_path(self, method: str, version: int) -> Path:
        return self.path(f"models/{method}-v{version}.pkl")

    def surrogate(self, method: str, version: int) -> Surrogate:
        path = self._model_path(method, version)
        key = (str(path), path.stat().st_mtime_ns)
        cached = _LOADED.get(key)
        if cached is None:
            with path.open("rb") as handle:
                cached = _LOADED[key] = pickle.load(handle)  # written by this package only
        return cached

    def save(self, surrogate: Surrogate) -> None:
        path = self._model_path(surrogate.method, surrogate.version)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        with tmp.open("wb") as handle:
            pickle.dump(surrogate, handle)
        os.replace(tmp, path)  # readers never see half a model

    def predict_at(self, method: str, version: int, index: Index) -> Array:
        F, _ = self.source.rows(index)
        return self.surrogate(method, version).predict(F)

    def write(self, relative: str, text: str, append: bool = False) -> Path | None:
        return _write(self.path(relative), text, append)


_LOADED: dict[tuple[str, int], Surrogate] = {}


def _write(path: Path, text: str, append: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if append:
        with path.open("a", encoding="utf-8") as handle:
            handle.write(text)  # one write of a few lines: appends do not interleave
        return path
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path
