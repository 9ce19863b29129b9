"""Where live tasks run: the executor and the pool the command line asks for, shared by ``run``
and ``campaign materials --clock live`` (the packages below receive them ready-made); the
``--events`` sink and the progress bar of ``run``."""

from __future__ import annotations

from typing import Any

from hpcsched.cli.errors import fail


def make_executor(
    name: str,
    address: str | None,
    workers: int,
    slurm_mode: str = "steps",
    partition: str | None = None,
) -> Any:
    """The executor ``--executor`` names; None for ``local``, which is made once the pool (its
    size) is known."""
    if name == "local":
        return None
    if name == "slurm":
        return _slurm_executor(slurm_mode, partition)
    if name != "dask":
        fail(f"--executor {name!r}: choose local, dask or slurm")
    try:
        from hpcsched.runtime.executors.dask import DaskExecutor
    except ImportError:
        fail("the dask executor needs dask[distributed]: pip install 'hpcsched[dask]'")
    try:
        return DaskExecutor(address, n_workers=workers)
    except OSError as exc:
        fail(f"cannot reach the Dask scheduler at {address}: {exc}; check --dask-address")


def _slurm_executor(mode: str, partition: str | None) -> Any:
    import os

    from hpcsched.runtime.executors.slurm import SlurmExecutor
    from hpcsched.runtime.pools import PoolError
    from hpcsched.slurm.adapter import SlurmAdapter, SlurmError

    if mode not in ("steps", "jobs"):
        fail(f"--slurm-mode {mode!r}: choose steps or jobs")
    if mode == "steps" and partition is not None:
        fail("--partition goes with --slurm-mode jobs; steps run in the current allocation")
    if mode == "steps" and not os.environ.get("SLURM_JOB_ID"):
        fail(
            "--slurm-mode steps runs inside an allocation (SLURM_JOB_ID is not set): start "
            "hpcsched under salloc or sbatch, or use --slurm-mode jobs"
        )
    adapter = SlurmAdapter()
    if (reason := adapter.available()) is not None:
        fail(f"--executor slurm: no Slurm cluster answers ({reason}); start one or pick local")
    try:
        return SlurmExecutor("steps" if mode == "steps" else "jobs", adapter, partition)
    except (SlurmError, PoolError, ValueError) as exc:
        fail(f"--executor slurm: {exc}")


def make_pool(executor: Any, cpus: int | None, gpus: int | None, mem: str | None) -> Any:
    """The pool ``run`` plans on: the flags when given, else the executor's workers, else the
    Slurm allocation this runs in, else this machine."""
    from hpcsched.campaigns.task import parse_size
    from hpcsched.runtime.pools import pool_from_flags, pool_from_slurm_env

    if cpus is not None or gpus is not None or mem is not None:
        try:
            size = parse_size(mem) if mem is not None else None
        except ValueError as exc:
            fail(f"--mem {mem!r}: {exc}")
        return pool_from_flags(cpus, gpus or 0, size)
    if executor is not None and hasattr(executor, "pool"):
        return executor.pool()
    return pool_from_slurm_env() or pool_from_flags()


def event_sink(target: str | None, runner: Any, source: str = "runtime") -> Any:
    """The ``--events`` sink (a file, ``-`` or ``nats://…``), or None; a file that cannot be
    opened or a bus that does not answer is a user error, before anything runs."""
    if target is None:
        return None
    from hpcsched.runtime.events_bus import EventTargetError, open_event_sink

    try:
        return open_event_sink(target, source=source)
    except EventTargetError as exc:
        if runner is not None:
            runner.shutdown()
        fail(str(exc))


def close_event_sink(sink: Any) -> None:
    """Close the sink; say in one line on stderr how many events the bus did not get."""
    if sink is None:
        return
    sink.close()
    report = getattr(sink, "report", None)
    line = report() if report is not None else None
    if line:
        import typer

        typer.echo(line, err=True)


def run_progress_bar(total: int, enabled: bool) -> Any:
    import sys
    from contextlib import nullcontext

    if not enabled or not sys.stderr.isatty():
        return nullcontext(None)
    from hpcsched.cli.render_run import run_progress

    return run_progress(total)
