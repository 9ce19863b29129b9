"""hpcsched watch: resubmit the user's jobs that Slurm ended in TIMEOUT, with a longer limit."""

from __future__ import annotations

import getpass
import os
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from hpcsched.cli.errors import fail
from hpcsched.cli.executors import close_event_sink, event_sink
from hpcsched.cli.options import flag


def default_state_file(user: str) -> Path:
    """``$XDG_CACHE_HOME/hpcsched/watch-USER.json`` (else ``~/.cache/...``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hpcsched" / f"watch-{user}.json"


def _bound(history: Path | None) -> Any:
    if history is None:
        return None
    from hpcsched.cli.render import status
    from hpcsched.predict.bound import fit_bound
    from hpcsched.workloads.load import InputError, load_jobs

    try:
        table = load_jobs(history).table
    except InputError as exc:
        fail(f"{exc}; --history takes a job table (.parquet, e.g. from hpcsched trace pull)")
    with status(f"learning runtime bounds from {table.height:,} jobs"):
        try:
            return fit_bound(table, target="runtime", coverage=0.95)
        except (ValueError, KeyError) as exc:
            fail(f"--history {history}: cannot learn a bound ({exc})".splitlines()[0])


def _drift(folder: Path | None, observe: bool, window: int | None, threshold: float | None) -> Any:
    """The drift tracker of ``--model`` (checked before anything runs), or None."""
    if folder is None:
        if window is not None or threshold is not None:
            fail("--drift-window and --drift-threshold need --model DIR (a predict fit folder)")
        return None
    if not observe:
        fail(f"--model {folder}: drift is reported by --observe; add --observe --events TARGET")
    from hpcsched.advise.drift import DEFAULT_THRESHOLD, DEFAULT_WINDOW, ModelDrift
    from hpcsched.predict.saved import ModelFileError, load_model

    try:
        saved = load_model(folder)
        return ModelDrift(
            folder.resolve(),
            saved,
            window=DEFAULT_WINDOW if window is None else window,
            threshold=DEFAULT_THRESHOLD if threshold is None else threshold,
        )
    except ModelFileError as exc:
        fail(f"--model: {exc}")
    except OSError as exc:
        fail(f"--model {folder}: cannot read it ({exc.strerror}); give a predict fit --out folder")


def _max_times(site: Path | None) -> dict[str, float]:
    if site is None:
        return {}
    from hpcsched.advise.site import SiteError, load_site

    try:
        loaded = load_site(site)
    except SiteError as exc:
        fail(str(exc))
    return {name: p.max_walltime for name, p in loaded.partitions.items()}


def watch(
    user: Annotated[
        str | None, typer.Option(help="whose jobs to follow (default: you; resubmits as you)")
    ] = None,
    job: Annotated[
        list[str] | None,
        typer.Option(help="follow only this job id and its resubmissions (repeatable)"),
    ] = None,
    history: Annotated[
        Path | None,
        typer.Option(help="job table (.parquet) to learn the runtime bound from; else doubling"),
    ] = None,
    site: Annotated[
        Path | None,
        typer.Option(help="SITE.yaml with partition max walltimes (default: scontrol)"),
    ] = None,
    max_attempts: Annotated[
        int, typer.Option(min=0, help="resubmissions at most per original job")
    ] = 2,
    interval: Annotated[float, typer.Option(min=1, help="seconds between passes")] = 30,
    once: Annotated[bool, flag(help="one pass, then exit (for cron and tests)")] = False,
    state: Annotated[
        Path | None,
        typer.Option(help="JSON file of followed jobs and chains (default: ~/.cache/hpcsched)"),
    ] = None,
    observe: Annotated[
        bool,
        flag(
            help="only report each ended job as a job-ended event, and each pending job whose "
            "limit exceeds its partition's MaxTime as job-refused-too-long (for hpcsched "
            "agents); resubmit nothing"
        ),
    ] = False,
    events: Annotated[
        str | None,
        typer.Option(
            metavar="FILE|-|nats://HOST:PORT/SUBJECT",
            help="write each decision as a JSON line to FILE or -, or publish it to the bus",
        ),
    ] = None,
    model: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR",
            help="with --observe: a folder of predict fit --out; publish prediction-drift when "
            "its run-time bound holds for too few of the jobs that end (read again when a "
            "refit replaces it)",
        ),
    ] = None,
    drift_window: Annotated[
        int | None,
        typer.Option(min=1, show_default="200", help="with --model: jobs in the rolling window"),
    ] = None,
    drift_threshold: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            max=1.0,
            show_default="0.15",
            help="with --model: report drift when the window's coverage shortfall (target "
            "coverage minus the share of jobs within the bound) is at least this",
        ),
    ] = None,
) -> None:
    """Follow your jobs; when one ends in TIMEOUT, resubmit it with a longer --time.

    The new limit is the runtime bound learnt from --history when above the old limit, else
    double the old one; never above the partition's MaxTime. Stop with Ctrl-C.

    With --observe nothing is resubmitted: each ended job is published as a job-ended event;
    with --model DIR as well, the saved bound's coverage over the last --drift-window jobs is
    checked and one prediction-drift event is published when it falls short of the target by
    --drift-threshold (the error field), for the agents' refit rule.
    """
    from hpcsched.advise.watch import Watcher
    from hpcsched.slurm import SlurmAdapter, SlurmError

    me = getpass.getuser()
    who = user or me
    if observe and not events:
        fail("--observe needs --events (a file, - or nats://HOST:PORT/SUBJECT) to report to")
    drift = _drift(model, observe, drift_window, drift_threshold)
    if who != me:
        fail(f"--user {who}: watch resubmits jobs as you ({me}); run it as {who}")
    adapter = SlurmAdapter()
    reason = adapter.available()
    if reason is not None:
        fail(f"{reason}; watch needs a reachable slurmctld")
    sink = event_sink(events, None, source="watch")
    log = _logger(sink)
    watcher = Watcher(
        adapter,
        user=who,
        state_path=state or default_state_file(who),
        emit=log,
        max_attempts=max_attempts,
        max_times=_max_times(site),
        bound=_bound(history),
        jobs=job or (),
        observe=observe,
        drift=drift,
    )
    try:
        while True:
            watcher.once()
            if once:
                break
            time.sleep(interval)
    except SlurmError as exc:
        fail(f"{exc}; is slurmctld up?")
    except ValueError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        pass
    finally:
        close_event_sink(sink)


def _logger(sink: Any) -> Any:
    """Each event to the sink, and decisions as one line on stderr (passes stay quiet)."""

    def log(event: str, fields: dict[str, Any]) -> None:
        if sink is not None:
            sink.emit(event, fields)
        if event != "watch-pass":
            detail = " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
            typer.echo(f"hpcsched watch: {event} {detail}", err=True)

    return log


def register(app: typer.Typer) -> None:
    """Add ``watch`` to ``app``."""
    app.command()(watch)
