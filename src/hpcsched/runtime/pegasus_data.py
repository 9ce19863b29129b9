"""A Pegasus workflow's files outside the jobs: replicas linked in before, outputs staged out after.

Before the run, each input no job writes is linked into the work directory from its replica
(its sha256 checked when the catalog gives one), so the runtime's staging finds it where every
other input is. After the run (also after a failure, and again on resume), outputs marked
``stageOut`` that exist are copied to the output directory, kept apart from the work directory
as Pegasus keeps its output site apart from its scratch.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from hpcsched.runtime.pegasus_catalogs import Replica, Where
from hpcsched.runtime.staging import hash_file


@dataclass(frozen=True)
class PegasusData:
    """What :func:`stage_in` links and :func:`stage_out` copies (LFNs, relative paths)."""

    work_dir: Path
    replicas: dict[str, Replica] = field(default_factory=dict)  # unwritten inputs found in the RC
    unlisted: dict[str, Where] = field(default_factory=dict)  # unwritten inputs not in the RC
    stage_out: tuple[str, ...] = ()
    output_dir: Path | None = None
    rewritten: frozenset[str] = frozenset()  # inout files: a run before may have changed them

    def stage_in(self) -> None:
        """Link each replica into the work directory; :class:`WorkflowError` (one line with the
        catalog's file:line) on a missing replica, a checksum that differs, or a different file
        already at that path."""
        for lfn, where in self.unlisted.items():
            if not (self.work_dir / lfn).is_file():
                what = f"input {lfn!r} is in no replica catalog, no job writes it, and it is not in"
                raise where.error(f"{what} {self.work_dir}", "add it to the replica catalog")
        for lfn, replica in self.replicas.items():
            if not replica.path.is_file():
                what = f"replica of {lfn!r} ({replica.path}) does not exist"
                raise replica.where.error(what, "fix the PFN or create the file")
            if replica.sha256 and (got := hash_file(replica.path).sha256) != replica.sha256:
                what = f"replica of {lfn!r} ({replica.path}) has sha256 {got[:16]}…, not "
                what += f"{replica.sha256[:16]}… as the catalog says"
                raise replica.where.error(what, "fix the checksum or the file")
            target = self.work_dir / lfn
            if target.is_symlink() or target.exists():
                if lfn in self.rewritten or (
                    target.exists() and os.path.samefile(target, replica.path)
                ):
                    continue  # linked by a run before (resumed), or changed by its inout job
                what = f"{target} exists and is not the replica of {lfn!r} ({replica.path})"
                raise replica.where.error(what, "remove it or run in another --work-dir")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(replica.path.resolve())

    def copy_out(self) -> list[str]:
        """Copy the ``stageOut`` outputs that exist to the output directory; their LFNs."""
        if self.output_dir is None:
            return []
        copied = []
        for lfn in self.stage_out:
            source = self.work_dir / lfn
            if source.is_file():
                target = self.output_dir / lfn
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_name(f".{target.name}.hpcsched-tmp")
                shutil.copy2(source, tmp)
                os.replace(tmp, target)  # a reader of the output directory never sees half
                copied.append(lfn)
        return copied
