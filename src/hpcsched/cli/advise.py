"""hpcsched advise: a policy-compliant batch script from a calibrated run-time bound."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from hpcsched.cli.errors import checked_output, fail, warn_malformed
from hpcsched.cli.options import JsonOpt, flag

if TYPE_CHECKING:
    import polars as pl

    from hpcsched.advise import Advice
    from hpcsched.advise.plan import Prediction, Request
    from hpcsched.advise.site import Site
    from hpcsched.advise.whatif import Queue
    from hpcsched.predict.bound import FittedBound

HELP = (
    "Rewrite SCRIPT's #SBATCH lines to fit the site policy, from a prediction.\n\n"
    "The time limit becomes the calibrated upper bound of the run time learnt from --history "
    "(or saved by predict fit, --model) "
    "(rounded up to the site's granularity), --mem the bound of peak memory; partition and QoS "
    "are the cheapest valid choice on the current queue (--prefer fastest: the earliest end, even "
    "at a dearer QoS). Nothing is changed that was not learnt: with too short a history the "
    "script's own --time and --mem are kept, and a note says why. A bound longer than a "
    "partition allows becomes a chain of parts (NAME.part1.sbatch, ... and submit-chain.sh, which "
    "submits them with --dependency=afterok). A what-if table lists every valid partition/QoS "
    "with its expected start and end (the queue replayed under the site's policy) and cost. A "
    "request no partition/QoS can take is refused with the rule it breaks."
)


def _queue(queue: Path | None, live: bool) -> Queue:
    import time

    from hpcsched.advise.whatif import Queue, QueueError, load_squeue, read_squeue

    if queue is not None and live:
        fail("give either --queue FILE or --live-queue, not both")
    try:
        if queue is not None:
            return load_squeue(queue)
        if live:
            from hpcsched.slurm import SlurmAdapter, SlurmError

            try:
                jobs = SlurmAdapter().squeue()
            except SlurmError as exc:
                fail(f"{exc}; start Slurm or pass --queue FILE (squeue --json output)")
            return read_squeue(jobs, now=time.time(), source="squeue --json")
    except QueueError as exc:
        fail(str(exc))
    empty = Queue([], time.time())
    empty.notes.append("no --queue/--live-queue: start times assume an idle machine")
    return empty


def _history(path: Path) -> pl.DataFrame:
    from hpcsched.workloads.load import InputError, load_jobs

    try:
        loaded = load_jobs(path)
    except InputError as exc:
        fail(f"{exc}; --history takes a job table (.parquet, e.g. from hpcsched trace convert)")
    warn_malformed(path, loaded.malformed)
    return loaded.table


def _bounds(
    history: pl.DataFrame | None, model: Path | None, coverage: float | None
) -> tuple[FittedBound, FittedBound | None]:
    """The run-time and memory bounds: the saved ones of ``model`` (reading their history
    features from ``history`` when given), or fitted on ``history`` now."""
    from hpcsched.cli.render import progress_bar
    from hpcsched.predict import bound

    if model is not None:
        from hpcsched.cli.predict import load_saved

        saved = load_saved(model)
        if coverage is not None and abs(saved.runtime.coverage - coverage) > 1e-9:
            fail(
                f"--coverage {coverage:g}: the model in {model} bounds {saved.runtime.coverage:.0%}"
                " of jobs; drop --coverage or refit with predict fit --coverage"
            )
        saved = saved if history is None else saved.with_history(history)
        return saved.runtime, saved.memory
    assert history is not None
    coverage = 0.95 if coverage is None else coverage
    has_mem = "mem_used" in history.columns and history["mem_used"].null_count() < history.height
    total = bound.FIT_STEPS * (2 if has_mem else 1)
    with progress_bar(f"learning {coverage:.0%} bounds from {history.height:,} jobs") as advance:
        runtime = bound.fit_bound(
            history, target="runtime", coverage=coverage, progress=lambda k, _: advance(k, total)
        )
        memory = None
        if has_mem:
            memory = bound.fit_bound(
                history,
                target="mem_used",
                coverage=coverage,
                progress=lambda k, n: advance(n + k, total),
            )
    return runtime, memory


def _predict(
    bounds: tuple[FittedBound, FittedBound | None],
    request: Request,
    site: Site,
    user: str,
    now: float,
    coverage: float,
) -> Prediction:
    from hpcsched.advise.plan import RefusalError, job_row, predict

    runtime, memory = bounds
    try:
        prediction = predict(runtime, memory, job_row(request, site, user=user, now=now), coverage)
    except RefusalError:
        raise  # the command reports it as a refusal
    except ValueError as exc:
        fail(f"cannot predict from the history: {exc}".splitlines()[0])
    return prediction


def _write(advice: Advice, script: Path, out: Path | None) -> list[str]:
    from hpcsched.advise import submit_chain
    from hpcsched.core.outputs import atomic_output

    if out is None:
        out = script.with_name(script.name.removesuffix(".sbatch") + ".advised.sbatch")
    if len(advice.scripts) == 1:
        paths = [out]
    else:
        base = out.name.removesuffix(".sbatch")
        paths = [out.with_name(f"{base}.part{k}.sbatch") for k in range(1, len(advice.scripts) + 1)]
    checked_output(out)
    try:
        for path, text in zip(paths, advice.scripts, strict=True):
            with atomic_output(path) as temp:
                temp.write_text(text)
        if len(paths) > 1:
            chain = out.with_name("submit-chain.sh")
            with atomic_output(chain) as temp:
                temp.write_text(submit_chain(paths))
                temp.chmod(0o755)
            paths.append(chain)
    except OSError as exc:
        fail(f"cannot write {out.parent}: {exc.strerror}; choose another --out")
    return [str(p) for p in paths]


def advise_command(
    script: Annotated[Path, typer.Argument(help="the batch script (#SBATCH lines) to advise")],
    site: Annotated[Path, typer.Option(help="site policy YAML (see examples/site-local.yaml)")],
    history: Annotated[
        Path | None,
        typer.Option(
            help="finished jobs to learn from: a job table (.parquet) or SWF (with --model: "
            "only the recent jobs its features read)"
        ),
    ] = None,
    model: Annotated[
        Path | None,
        typer.Option(help="a model folder from predict fit --out, reused instead of refitting"),
    ] = None,
    queue: Annotated[
        Path | None, typer.Option(help="the current queue: a file of squeue --json output")
    ] = None,
    live_queue: Annotated[
        bool, flag("--live-queue", help="read the queue now with squeue --json")
    ] = False,
    coverage: Annotated[
        float | None,
        typer.Option(
            help="share of similar jobs the time limit must cover (0-1; default 0.95, or the "
            "--model's own)"
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="advised script path (default: SCRIPT.advised.sbatch beside it)"),
    ] = None,
    prefer: Annotated[
        str,
        typer.Option(
            help="which valid partition/QoS to advise: cheapest, or fastest (may cost more)"
        ),
    ] = "cheapest",
    any_partition: Annotated[
        bool,
        flag("--any-partition", help="choose partition and QoS even when the script names them"),
    ] = False,
    user: Annotated[
        str | None, typer.Option(help="whose history to predict from (default: you)")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    import getpass

    from hpcsched.advise import PREFER, advise
    from hpcsched.advise.plan import RefusalError, request_of
    from hpcsched.advise.sbatch_script import ScriptError, read_script
    from hpcsched.advise.site import SiteError, load_site
    from hpcsched.cli.render_advise import advice_json, print_advice

    if prefer not in PREFER:
        fail(f"--prefer {prefer!r}: choose cheapest or fastest")
    if coverage is not None and not 0 < coverage < 1:
        fail(f"--coverage {coverage}: give a share between 0 and 1, e.g. 0.95")
    try:
        parsed = read_script(script)
        site_spec = load_site(site)
        request = request_of(parsed)
    except (ScriptError, SiteError, RefusalError) as exc:
        fail(str(exc))
    if history is None and model is None:
        fail("give --history FILE (finished jobs to learn from) or --model FOLDER (predict fit)")
    current = _queue(queue, live_queue)
    table = None if history is None else _history(history)
    bounds = _bounds(table, model, coverage)
    coverage = bounds[0].coverage
    who = user or getpass.getuser()
    try:
        prediction = _predict(bounds, request, site_spec, who, current.now, coverage)
        advice = advise(
            parsed, site_spec, current, prediction, prefer=prefer, any_partition=any_partition
        )
    except RefusalError as exc:
        fail(f"{script}: refused: {exc}")
    files = _write(advice, script, out)
    if as_json:
        typer.echo(json.dumps(advice_json(advice, current.now, files, site_spec.charge_unit)))
    else:
        print_advice(advice, current.now, files, site_spec.charge_unit)


def register(app: typer.Typer) -> None:
    """Add ``advise`` to ``app``."""
    app.command("advise", help=HELP)(advise_command)
