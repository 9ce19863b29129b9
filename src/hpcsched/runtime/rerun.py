"""Running tasks of a finished run again: the command that does it, as ``why`` prints it."""

from __future__ import annotations

import shlex
from pathlib import Path

from hpcsched.runtime.journal import RunRecord


def rerun_command(record: RunRecord) -> str:
    """The ``hpcsched run`` command that resumes this run: succeeded tasks are kept, failed and
    blocked ones run again. ``--run-dir`` only when the run dir is not the workflow's default."""
    workflow = next((str(r["workflow"]) for r in reversed(record.runs) if r.get("workflow")), "")
    if not workflow:
        return ""
    words = ["hpcsched", "run", workflow]
    if Path(record.run_dir).name != Path(workflow).stem + ".run":
        words += ["--run-dir", str(record.run_dir)]
    return shlex.join(words)
