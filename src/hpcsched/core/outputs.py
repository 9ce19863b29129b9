"""Where a command's output goes: checked before any work starts, written atomically.

:func:`check_output` refuses, in one line, every ``--out`` that would fail only after minutes
of work or write something other than what its name says: a directory where a file is meant,
a name whose suffix the writer does not produce (Parquet bytes in ``x.json``), a parent folder
that does not exist (it is not created silently: a typo would scatter folders, even at the
filesystem root) or is a file, and a folder the user cannot write in (tested by creating and
removing a file there: ``os.access`` says yes for root in ``/proc``).

:func:`atomic_output` gives the writer a temporary name beside the target and renames it into
place only once the file is complete (``os.replace`` is atomic on POSIX), so an interrupted
report or table never leaves half a file under the final name.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

__all__ = ["OutputError", "atomic_output", "check_output", "check_output_dir"]


_UMASK = os.umask(0o022)  # read once, at import (umask cannot be read without setting it)
os.umask(_UMASK)


class OutputError(ValueError):
    """An output path that cannot be written; the message is one line with what to do."""


def _writable_folder(folder: Path, path: Path) -> None:
    if not folder.exists():
        raise OutputError(
            f"cannot write {path}: the folder {folder} does not exist (create it first: "
            f"mkdir -p {folder})"
        )
    if not folder.is_dir():
        raise OutputError(f"cannot write {path}: {folder} is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".hpcsched-probe-", dir=folder)
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise OutputError(f"cannot write in {folder}: {why} (choose another --out)") from None
    os.close(fd)
    os.unlink(probe)


def check_output(path: Path, suffixes: Sequence[str] = ()) -> Path:
    """``path`` if a file can be written there with one of ``suffixes`` (any when empty), else
    :class:`OutputError`. Nothing is created."""
    if path.is_dir():
        raise OutputError(f"cannot write {path}: it is a folder; give a file name in it")
    if suffixes and not path.name.endswith(tuple(suffixes)):
        raise OutputError(
            f"cannot write {path}: it must end in {' or '.join(suffixes)} (the format this "
            "command writes); give such a name"
        )
    _writable_folder(path.parent if str(path.parent) else Path("."), path)
    return path


def check_output_dir(path: Path) -> Path:
    """``path`` if it is a folder that can be written in, or can be made in an existing one."""
    if path.exists() and not path.is_dir():
        raise OutputError(f"cannot write into {path}: it is a file, not a folder")
    _writable_folder(path if path.is_dir() else path.parent, path)
    return path


@contextlib.contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; renamed over ``path`` when the block ends
    without an exception, removed otherwise."""
    target = Path(path)
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    try:
        yield Path(temp)
        os.chmod(temp, 0o666 & ~_UMASK)  # mkstemp makes 0600; the file gets the usual mode
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
