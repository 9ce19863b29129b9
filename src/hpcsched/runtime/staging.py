"""Per-attempt staging directories: inputs linked in, outputs moved out only on success.

Each attempt runs in ``run_dir/attempts/<safe task id>/<n>/`` with its declared inputs symlinked
in, so a failed or killed attempt never leaves a half-written output where the next task would
read it: outputs reach the work directory only through :func:`commit`, one atomic ``os.replace``
per file, after every declared output is known to exist. Paths in :class:`FileRecord` are
relative to the work directory, so provenance does not depend on where the run directory was.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
from pathlib import Path, PurePosixPath

from hpcsched.campaigns.task import FileRecord, Task

_PLAIN_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_CHUNK = 1 << 20
#: Written into an attempt directory before its first output moves: a later commit of the same
#: attempt (crash recovery) may then take outputs already in the work directory as moved.
COMMIT_MARKER = ".hpcsched-commit"


def safe_id(task_id: str) -> str:
    """A directory name for a task id, unique per id even on case-insensitive filesystems.

    Plain lower-case ids are kept as they are (readable); any other id is slugged and suffixed
    with a hash of the exact id, so ``a/b``, ``a_b`` and ``A_b`` never share a directory.
    """
    if _PLAIN_ID.match(task_id):
        return task_id
    digest = hashlib.sha256(task_id.encode()).hexdigest()[:12]
    slug = _UNSAFE.sub("_", task_id)[:100].lstrip(".") or "task"
    return f"{slug}-{digest}"


def attempt_dir(run_dir: Path, task_id: str, n: int) -> Path:
    """Where attempt ``n`` (1-based) of a task runs: one flat folder per attempt (one mkdir,
    which matters at thousands of tasks per second)."""
    return Path(run_dir) / "attempts" / f"{safe_id(task_id)}.{n}"


def _bad_path(rel: str) -> bool:
    """Absolute paths and ``..`` would stage outside the attempt or the work directory."""
    path = PurePosixPath(rel.replace("\\", "/"))
    return not path.parts or path.is_absolute() or ".." in path.parts


def prepare(task: Task, attempt_dir: Path, work_dir: Path) -> str | None:
    """Create the attempt directory and symlink each declared input into it at the same relative
    path. Returns ``None``, or one line saying which inputs are missing and where they were looked
    for (checked before anything is linked)."""
    base = Path(os.path.abspath(work_dir))
    for rel in task.inputs:
        if _bad_path(rel):
            return f"input {rel} is not a path relative to the work directory ({base})"
        if (base / rel).is_dir():
            return f"input {rel} is a directory, not a file (declare the files in it)"
    missing = [rel for rel in task.inputs if not (base / rel).is_file()]
    if missing:
        quoted = ", ".join(repr(rel) for rel in missing)
        verb = "does" if len(missing) == 1 else "do"
        return f"input {quoted} {verb} not exist (declared by job {task.id})"
    try:
        os.mkdir(attempt_dir)
    except FileNotFoundError:
        attempt_dir.mkdir(parents=True)
    except FileExistsError:
        # left by a run killed before it journaled this attempt: start from a clean folder, so
        # nothing an earlier try wrote can pass for this one's output
        shutil.rmtree(attempt_dir)
        os.mkdir(attempt_dir)
    for rel in task.inputs:
        link = attempt_dir / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():  # preparing the same attempt again
            link.unlink()
        link.symlink_to(base / rel)
    return None


def hash_file(path: Path, name: str | None = None) -> FileRecord:
    """sha256 and size of a file, read in 1 MiB chunks (outputs can be large). The record's
    ``path`` is ``name`` (the path relative to the work directory) or, without one, ``path``."""
    digest = hashlib.sha256()
    size = 0
    buffer = bytearray(_CHUNK)
    view = memoryview(buffer)
    with open(path, "rb") as handle:
        while n := handle.readinto(buffer):
            digest.update(view[:n])
            size += n
    return FileRecord(
        path=str(path) if name is None else name, sha256=digest.hexdigest(), size=size
    )


def hash_inputs(task: Task, work_dir: Path) -> list[FileRecord]:
    """Records of a task's declared inputs as they are in the work directory now (call it when
    the attempt starts; an input removed since :func:`prepare` raises ``FileNotFoundError``)."""
    return [hash_file(Path(work_dir) / rel, rel) for rel in task.inputs]


def commit(task: Task, attempt_dir: Path, work_dir: Path) -> tuple[list[FileRecord], str | None]:
    """Move a successful attempt's declared outputs into the work directory; hash each.

    Every output is checked before any is moved, so a missing one leaves the work directory
    untouched. Idempotent: a commit that was interrupted (the pilot died between moves) can be
    called again; outputs it had already moved are hashed where they are now. Returns the
    records, or ``[]`` and one line saying what is wrong.
    """
    base = Path(os.path.abspath(work_dir))
    resuming = (attempt_dir / COMMIT_MARKER).exists()
    for rel in task.outputs:
        if _bad_path(rel):
            return [], f"output {rel} is not a path relative to the work directory ({base})"
        staged = attempt_dir / rel
        if staged.is_dir():
            return [], f"declared output {rel} is a directory, not a file"
        if not staged.is_file() and not (resuming and (base / rel).is_file()):
            return [], f"declared output {rel} was not written"
    if task.outputs and not resuming:
        (attempt_dir / COMMIT_MARKER).write_text("\n".join(task.outputs) + "\n")
    records: list[FileRecord] = []
    for rel in task.outputs:
        staged, final = attempt_dir / rel, base / rel
        if staged.is_file():
            records.append(hash_file(staged, rel))
            _move(staged, final)
        else:
            records.append(hash_file(final, rel))
    return records, None


def _move(staged: Path, final: Path) -> None:
    """``os.replace``, atomic for readers of ``final``. Across filesystems (a run directory on
    scratch, a work directory elsewhere) copy beside ``final`` first, then replace, so readers
    still never see a partial file."""
    final.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(staged, final)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        tmp = final.with_name(f".{final.name}.hpcsched-tmp")
        shutil.copy2(staged, tmp)
        os.replace(tmp, final)
        staged.unlink()
