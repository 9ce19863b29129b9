"""The ``refit`` action: ``predict fit``'s run-time bound fitted again on a rule's job table and
put in place of the model folder at once, with a ``check`` for after a crash.

The fit is :func:`hpcsched.predict.saved.fit_model`, the code ``hpcsched predict fit`` runs (a
call, not a subprocess). The new model is written whole into a staging folder beside ``out``
(``.NAME.refit-HASH``, ``model.json`` last, as :func:`~hpcsched.predict.saved.save_model` does)
and then renamed into place: ``rename(2)`` of a folder onto a missing name, or, over an existing
model, ``renameat2(2)`` with ``RENAME_EXCHANGE`` (Linux 3.15; the two folders swap atomically),
so ``advise --model`` reads the old model or the new one, never a mixture. Where the exchange is
refused (another system, a file system without it) the old folder is renamed aside first, which
leaves a moment without a model, never a half-written one.

``model.json`` records the action's key (``agent.key``), so :func:`check_refit` finds a fit a
crash left unjournaled and a restart neither loses nor repeats it.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Final

from hpcsched.agents.actions import ActionError
from hpcsched.agents.journal import Intent
from hpcsched.agents.rules import Refit

_AT_FDCWD: Final = -100
_RENAME_EXCHANGE: Final = 2  # linux/fs.h


def wants_refit(rule: Refit, event: dict[str, Any]) -> str | None:
    """None when the event calls for a refit, else why not (the rule decision, no I/O)."""
    if rule.threshold is None:
        return None
    error = event.get("error")
    if not isinstance(error, int | float) or isinstance(error, bool):
        return f"the event carries no numeric error to compare with {rule.threshold:g}"
    if error < rule.threshold:
        return f"error {error:g} below the threshold {rule.threshold:g}"
    return None


def _beside(out: Path, what: str, key: str) -> Path:
    tag = hashlib.sha256(key.encode()).hexdigest()[:12]
    return out.parent / f".{out.name}.{what}-{tag}"


def _exchange(new: Path, out: Path) -> bool:
    """Swap two folders atomically (``renameat2`` ``RENAME_EXCHANGE``); False where refused."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        swap = libc.renameat2
    except (OSError, AttributeError):
        return False
    done = swap(_AT_FDCWD, os.fsencode(new), _AT_FDCWD, os.fsencode(out), _RENAME_EXCHANGE)
    return int(done) == 0


def _put_in_place(staged: Path, out: Path, key: str) -> None:
    if not out.exists():
        with contextlib.suppress(OSError):  # made meanwhile: exchange it below
            staged.rename(out)
            return
    if _exchange(staged, out):
        shutil.rmtree(staged)  # now the old model
        return
    old = _beside(out, "old", key)
    shutil.rmtree(old, ignore_errors=True)
    out.rename(old)
    staged.rename(out)
    shutil.rmtree(old, ignore_errors=True)


def _refuse_foreign(out: Path) -> None:
    """Only a model folder (or nothing, or an empty folder) is replaced: ``out: .`` or a typo
    must not swap a user's folder away."""
    from hpcsched.predict.saved import FORMAT, META

    if not out.exists() and not out.is_symlink():
        return
    if out.is_dir() and not out.is_symlink():
        if not any(out.iterdir()):
            return
        try:
            if json.loads((out / META).read_text()).get("format") == FORMAT:
                return
        except (OSError, ValueError, AttributeError):
            pass
    raise ActionError(
        f"{out}: exists and is not a model folder of predict fit; give out: a new folder name"
    )


def refit_model(rule: Refit, intent: Intent) -> dict[str, Any]:
    """Fit, stage, rename into place; raises :class:`ActionError` (one line) when it cannot."""
    from hpcsched import __version__
    from hpcsched.predict.saved import FitError, fit_model, save_model
    from hpcsched.workloads.load import InputError, load_jobs

    _refuse_foreign(rule.out)
    try:
        table = load_jobs(rule.table).table
        model = fit_model(table, rule.table, coverage=rule.coverage, version=__version__)
    except (InputError, FitError) as exc:
        raise ActionError(str(exc)) from None
    meta = {
        **model.meta,
        "agent": {"key": intent.key, "event_id": intent.event_id, "rule": intent.rule},
    }
    staged = _beside(rule.out, "refit", intent.key)
    try:
        shutil.rmtree(staged, ignore_errors=True)  # a crash's half-written stage
        save_model(staged, model.runtime, model.memory, meta)
        _put_in_place(staged, rule.out, intent.key)
    except OSError as exc:
        where = exc.filename or rule.out
        raise ActionError(f"cannot write {where}: {exc.strerror}; check out: {rule.out}") from None
    return {"model": str(rule.out), "jobs": model.runtime.known, "created": meta["created"]}


def check_refit(rule: Refit, intent: Intent) -> dict[str, Any] | None:
    """The model a cut-short refit put in place: ``out/model.json`` records the key."""
    try:
        meta = json.loads((rule.out / "model.json").read_text())
    except (OSError, ValueError):
        return None
    agent = meta.get("agent") if isinstance(meta, dict) else None
    if not isinstance(agent, dict) or agent.get("key") != intent.key:
        return None
    shutil.rmtree(_beside(rule.out, "old", intent.key), ignore_errors=True)
    jobs = (meta.get("targets") or {}).get("runtime", {}).get("jobs")
    return {"model": str(rule.out), "jobs": jobs, "created": meta.get("created")}
