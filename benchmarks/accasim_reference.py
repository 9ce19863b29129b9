"""Reference harness: run the AccaSim simulator (PyPI ``accasim==1.1.3``) with EASY backfilling.

The benchmark uses this to measure, in the same run, how long an established Python HPC
simulator takes on the same SWF trace, so it can print a speed ratio.

* AccaSim lives in its own virtual environment at ``<repo>/.bench/accasim-venv`` (created
  once, reused afterwards; ``.bench/`` is gitignored), with its dependencies pinned.
* AccaSim 1.1.3 does ``from collections import Mapping``, which Python 3.10 removed.  The
  runner script (``accasim_runner.py``, copied into the venv) aliases the ABCs back onto
  ``collections`` before importing AccaSim; nothing inside the venv is patched.
* The configuration: ``Simulator`` + ``EASYBackfilling(FirstFit())`` (the library's own EASY
  scheduler with its first-fit allocator), the default SWF reader/parser
  (``DefaultReader`` + ``DefaultWorkloadParser``), and a system of ``system_procs`` cores
  laid out as ``system_procs / cores_per_node`` identical nodes (default one core per node,
  as on the IBM SP2s).  With the ``processor -> 1 core`` equivalence, AccaSim turns a job of
  ``p`` SWF processors into ``p`` one-core units, so every job gets exactly its processor
  count.  All output (dispatching plan, statistics, benchmark, pretty print, INFO logging)
  is switched off; results would go into a temporary directory that is removed afterwards.
* Before the run the trace is scanned (not timed) and by default "sanitised": records that
  AccaSim's reader would silently skip or that corrupt its event clock are dropped and
  counted, so the job counts AccaSim reports can be checked against the input.

AccaSim 1.1.3's ``EASYBackfilling`` is not textbook EASY, so do not expect its schedule
(``avg_wait`` etc.) to match ours: it passes ``reserved_nodes=[]`` to the allocator when
backfilling, so any queued job that fits now is started, even if it delays the head job's
reservation.  It also starts the blocked head job only once the reservation time (from
estimates) is reached, not when the resources actually free up; if nothing else happens
before then, it advances its clock one second at a time (``accasim_dispatcher_calls``
shows how often it called the dispatcher).  The node layout changes only its speed, not
the schedule: on SDSC-SP2, 128 nodes x 1 core takes about 3x as long as 1 node x 128 cores.

Usage::

    python benchmarks/accasim_reference.py TRACE.swf[.gz] --procs 128

prints a single JSON line (see :func:`run_accasim`).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from accasim_workload import SwfScan, max_procs_from_header, prepare_workload

__all__ = [
    "ACCASIM_VERSION",
    "VENV_DIR",
    "SwfScan",
    "ensure_venv",
    "prepare_workload",
    "run_accasim",
]

ACCASIM_VERSION = "1.1.3"

REPO_ROOT = Path(__file__).resolve().parents[1]
VENV_DIR = REPO_ROOT / ".bench" / "accasim-venv"

# Verified on CPython 3.11.  Only psutil and sortedcontainers are imported on the simulation
# path; numpy/scipy/matplotlib are AccaSim's declared (plotting/fitting) dependencies and are
# pinned so the venv is reproducible.
REQUIREMENTS: tuple[str, ...] = (
    f"accasim=={ACCASIM_VERSION}",
    "psutil==7.2.2",
    "sortedcontainers==2.4.0",
    "numpy==2.4.6",
    "scipy==1.17.1",
    "matplotlib==3.11.2",
)

_READY_MARKER = ".accasim-reference-ready"
_RUNNER_NAME = "accasim_reference_runner.py"
_RESULT_PREFIX = "ACCASIM_REFERENCE_RESULT "
# Submit-time offset used when the trace has no "; UnixStartTime:" header.  AccaSim needs a
# non-zero base: EventManager.load_event treats current_time == 0 as "not started".
_DEFAULT_START_TIME = 1_000_000_000

#: the runner script, run by the venv's interpreter (stdlib + AccaSim only)
RUNNER = Path(__file__).with_name("accasim_runner.py")


# --------------------------------------------------------------------------- venv


def _venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_venv(venv: Path = VENV_DIR, *, python: str | None = None) -> Path:
    """Create (once) the AccaSim venv and return its interpreter.

    Reused as-is when the ready-marker lists the same requirements; otherwise (re)installs
    them.  Safe against concurrent callers (file lock next to the venv).
    """
    marker = venv / _READY_MARKER
    wanted = "\n".join(REQUIREMENTS) + "\n"
    vpy = _venv_python(venv)
    if vpy.exists() and marker.exists() and marker.read_text() == wanted:
        return vpy
    with _locked(venv.parent / (venv.name + ".lock")):
        if vpy.exists() and marker.exists() and marker.read_text() == wanted:
            return vpy
        if not vpy.exists():
            subprocess.run([python or sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(vpy), "-m", "pip", "--disable-pip-version-check", "-q"]
        subprocess.run([*pip, "install", *REQUIREMENTS], check=True)
        # Byte-compile now so the first timed run does not pay for it.
        site = subprocess.run(
            [str(vpy), "-c", "import accasim, os; print(os.path.dirname(accasim.__file__))"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        subprocess.run(
            [str(vpy), "-W", "ignore", "-m", "compileall", "-q", site],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        marker.write_text(wanted)
    return vpy


def _write_runner(venv: Path) -> Path:
    runner, source = venv / _RUNNER_NAME, RUNNER.read_text()
    if not runner.exists() or runner.read_text() != source:
        tmp = runner.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(source)
        tmp.replace(runner)
    return runner


# --------------------------------------------------------------------------- run


def run_accasim(
    swf_path: Path,
    *,
    system_procs: int,
    timeout: float = 600,
    cores_per_node: int = 1,
    sanitize: bool = True,
) -> dict[str, Any]:
    """Run AccaSim 1.1.3 ``EASYBackfilling(FirstFit())`` on ``swf_path`` and time it.

    ``wall_seconds`` is the wall time of the whole subprocess (interpreter start, AccaSim
    import, reading the trace, simulating), measured here.  Trace decompression/sanitising
    and venv creation happen before the clock starts.

    ``jobs`` is the number of jobs AccaSim completed.  ``input_records`` /
    ``passed_to_accasim`` / ``accasim_loaded`` / ``accasim_rejected`` and ``dropped`` make
    any job AccaSim (or the sanitiser) did not simulate visible.

    Raises ``TimeoutError`` if AccaSim takes longer than ``timeout`` seconds and
    ``RuntimeError`` if it fails.
    """
    swf_path = Path(swf_path)
    if system_procs <= 0:
        raise ValueError("system_procs must be positive")
    if cores_per_node <= 0 or system_procs % cores_per_node:
        raise ValueError(f"cores_per_node={cores_per_node} must divide system_procs={system_procs}")
    nodes = system_procs // cores_per_node

    vpy = ensure_venv()
    runner = _write_runner(VENV_DIR)

    tmp = Path(tempfile.mkdtemp(prefix="accasim-ref-"))
    try:
        workload = tmp / (swf_path.name.removesuffix(".gz").removesuffix(".swf") + ".swf")
        scan = prepare_workload(swf_path, workload, system_procs=system_procs, sanitize=sanitize)
        start_time = scan.unix_start_time or _DEFAULT_START_TIME
        sys_config = {
            "system_name": f"hpcsched-reference-{system_procs}p",
            "start_time": start_time,
            "equivalence": {"processor": {"core": 1}},
            "groups": {"g0": {"core": cores_per_node}},
            "resources": {"g0": nodes},
        }
        sys_config_path = tmp / "sys_config.json"
        sys_config_path.write_text(json.dumps(sys_config, indent=1))
        results_dir = tmp / "results"
        cfg = {
            "workload": str(workload),
            "sys_config": str(sys_config_path),
            "results_dir": str(results_dir),
        }
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        env["PYTHONWARNINGS"] = "ignore"
        cmd = [str(vpy), str(runner), json.dumps(cfg)]
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(
                cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=timeout
            )
        except subprocess.TimeoutExpired as exc:
            raise TimeoutError(
                f"AccaSim did not finish within {timeout:g} s on {swf_path}"
            ) from exc
        wall = time.perf_counter() - t0
        result_line = next(
            (ln for ln in proc.stdout.splitlines() if ln.startswith(_RESULT_PREFIX)), None
        )
        if proc.returncode != 0 or result_line is None:
            tail = (proc.stdout[-2000:] + "\n" + proc.stderr[-4000:]).strip()
            raise RuntimeError(f"AccaSim run failed (exit {proc.returncode}):\n{tail}")
        res = json.loads(result_line[len(_RESULT_PREFIX) :])
        stderr_lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    dropped = {k: v for k, v in scan.dropped_reasons.items() if v}
    skipped_by_reader = scan.kept - int(res["loaded"])
    return {
        "wall_seconds": wall,
        "jobs": int(res["completed"]),
        "accasim_version": res["accasim_version"],
        "simulator": "accasim",
        "dispatcher": res["dispatcher"],
        "swf": str(swf_path),
        "system_procs": system_procs,
        "nodes": nodes,
        "cores_per_node": cores_per_node,
        "sanitized": sanitize,
        "input_records": scan.records,
        "dropped": dropped,
        "passed_to_accasim": scan.kept,
        "accasim_loaded": int(res["loaded"]),
        "accasim_skipped_by_reader": skipped_by_reader,
        "accasim_dispatched": int(res["dispatched"]),
        "accasim_rejected": int(res["rejected"]),
        "wider_than_machine": scan.wider_than_machine,
        "records_with_memory": scan.with_memory,
        "out_of_order_records": scan.out_of_order,
        "accasim_import_seconds": res["import_seconds"],
        "accasim_simulator_seconds": res["simulator_seconds"],
        "accasim_loop_seconds": res["loop_seconds"],
        "avg_wait": res["avg_wait"],
        "avg_slowdown": res["avg_slowdown"],
        "makespan": res["makespan"],
        "accasim_dispatcher_calls": int(res["dispatcher_calls"]),
        "accasim_log_lines": len(stderr_lines),
        "python": res["python"],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="Run AccaSim 1.1.3 EASY backfilling on an SWF trace; print one JSON line."
    )
    ap.add_argument("swf", type=Path, help="SWF trace (.swf or .swf.gz)")
    ap.add_argument(
        "--procs",
        type=int,
        default=None,
        help="machine size in processors (default: the trace's '; MaxProcs:' header)",
    )
    ap.add_argument(
        "--cores-per-node",
        type=int,
        default=1,
        help="AccaSim node layout: procs/cores-per-node nodes (default 1 core per node)",
    )
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds (default 600)")
    ap.add_argument(
        "--no-sanitize",
        action="store_true",
        help="pass every record to AccaSim unchanged (only count the problematic ones)",
    )
    args = ap.parse_args(argv)
    procs = args.procs if args.procs is not None else max_procs_from_header(args.swf)
    if procs is None:
        ap.error("--procs is required (the trace has no '; MaxProcs:' header)")
    result = run_accasim(
        args.swf,
        system_procs=procs,
        timeout=args.timeout,
        cores_per_node=args.cores_per_node,
        sanitize=not args.no_sanitize,
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
