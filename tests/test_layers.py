"""The layer rules of docs/architecture.md that imports can break: checked in a fresh interpreter,
so that nothing another test imported first hides an import."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import hpcsched.workloads


def _imported_after(statements: str) -> set[str]:
    """The modules a fresh interpreter holds after running ``statements``."""
    code = f"{statements}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))\n"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_workloads_do_not_import_the_slurm_adapter() -> None:
    # the sacct reader maps Slurm states through core's table; `slurm` is an adapter above it
    found = pkgutil.iter_modules(hpcsched.workloads.__path__, "hpcsched.workloads.")
    names = [m.name for m in found]
    assert "hpcsched.workloads.sacct_fields" in names
    loaded = _imported_after("\n".join(f"import {name}" for name in names))
    assert set(names) <= loaded
    assert not {m for m in loaded if m == "hpcsched.slurm" or m.startswith("hpcsched.slurm.")}


def test_the_state_table_is_one_table() -> None:
    from hpcsched.core import slurm_states
    from hpcsched.slurm import states
    from hpcsched.workloads.sacct_fields import STATE_CODES

    assert states.SLURM_JOB_STATES is slurm_states.SLURM_JOB_STATES
    assert {k: v for k, (_, v) in slurm_states.SLURM_JOB_STATES.items()} == STATE_CODES


def test_the_command_line_starts_without_heavy_libraries() -> None:
    # `hpcsched --help` stays fast: the commands import what they need when they run
    loaded = _imported_after("import hpcsched.cli")
    heavy = {"polars", "numpy", "pyarrow", "sklearn", "plotly", "dash", "distributed"}
    assert not {m.split(".")[0] for m in loaded} & heavy


def test_the_lower_layers_import_only_what_is_below_them() -> None:
    # the rules docs/architecture.md states; the upper packages (campaigns, sim, runtime) lean on
    # one another and are not claimed to be layered
    import re

    allowed = {
        "core": {"core"},
        "policies": {"core", "policies"},
        "scheduler": {"core", "policies", "scheduler"},
        "workloads": {"core", "workloads"},
        # the language-model scheduler: a policy that talks to a model, so above both
        "llmsched": {"core", "policies", "llm", "llmsched"},
    }
    # the one exception: the synthetic sacct dump schedules its jobs with the simulator (a dump
    # of a machine that never runs more nodes than it has); no reader may lean on it
    exceptions = {"workloads/sacct_synth_times.py": {"core", "workloads", "policies", "sim"}}
    root = Path(__file__).resolve().parents[1] / "src" / "hpcsched"
    pattern = re.compile(r"^\s*(?:from|import) hpcsched\.([a-z_]+)", re.MULTILINE)
    for package, ok in allowed.items():
        for path in (root / package).rglob("*.py"):
            found = set(pattern.findall(path.read_text()))
            name = str(path.relative_to(root))
            assert found <= exceptions.get(name, ok), f"{name} imports {sorted(found - ok)}"


def test_the_readers_do_not_load_the_simulator() -> None:
    loaded = _imported_after("import hpcsched.workloads.load, hpcsched.workloads.sacct")
    assert not {m for m in loaded if m.startswith(("hpcsched.sim", "hpcsched.policies"))}
