"""hpcsched predict fit | eval | impact: runtime and memory predictions, and what they buy EASY."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hpcsched.cli.errors import fail, warn_malformed
from hpcsched.cli.options import JsonOpt, flag, group

if TYPE_CHECKING:
    import polars as pl

    from hpcsched.predict.saved import SavedModel
    from hpcsched.workloads.load import LoadedTable

MODEL_HELP = (
    "all (every model against requested, one table and a verdict; eval only), "
    "requested (the user's timelimit), user-last-two (Tsafrir 2007), alea (per-user ratio), "
    "lightgbm (learned point prediction), lightgbm-ensemble (per block, LightGBM or its blend with "
    "the baselines that did best on jobs already finished) or lightgbm-bound (learned upper bound "
    "at --coverage)"
)
FILTER_HELP = "input filter for SWF traces: none or strong (VALIDATION.md rung 3)"


def _load(trace: Path, filter_name: str) -> LoadedTable:
    from hpcsched.workloads.load import InputError, load_jobs

    if filter_name not in ("none", "strong"):
        fail(f"--filter {filter_name!r} is not none or strong")
    try:
        loaded = load_jobs(trace, filter_name=filter_name)
    except InputError as exc:
        fail(str(exc))
    warn_malformed(trace, loaded.malformed)
    missing = [
        c for c in ("user", "submit", "end") if loaded.table[c].null_count() == loaded.table.height
    ]
    if missing or loaded.table.height == 0:
        fail(
            f"{trace}: no job has a known {', '.join(missing) or 'row'}, so nothing is known at "
            "any submit; give a history of finished jobs (with start and end times)"
        )
    return loaded


def _check_model(model: str, or_else: str = "") -> None:
    from hpcsched.predict.evaluate import MODELS

    if model not in MODELS:
        fail(f"--model {model!r} is not one of {', '.join(MODELS)}{or_else}")


def _rounded(values: dict[str, Any]) -> dict[str, Any]:
    """Floats to 4 decimals; NaN and infinity (not JSON) to null."""
    return {
        k: (round(v, 4) if math.isfinite(v) else None) if isinstance(v, float) else v
        for k, v in values.items()
    }


def evaluate(
    trace: Annotated[
        Path, typer.Argument(help="an SWF trace (.swf, .swf.gz) or a job table (.parquet)")
    ],
    model: Annotated[str, typer.Option(help=MODEL_HELP)] = "lightgbm",
    filter_name: Annotated[str, typer.Option("--filter", help=FILTER_HELP)] = "none",
    target: Annotated[
        str, typer.Option(help="what to predict: runtime (s) or memory (bytes)")
    ] = "runtime",
    coverage: Annotated[
        float, typer.Option(help="share of jobs the bound must hold for (lightgbm-bound)")
    ] = 0.95,
    retrain_every: Annotated[
        int | None,
        typer.Option(help="jobs between refits (default: a twentieth of the trace, >= 1000)"),
    ] = None,
    unseen_users: Annotated[
        bool, flag(help="train without 20% of the users and score only their jobs")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Chronological evaluation: train on the past, predict the future, retrain as time moves.

    Prints n, MAE, MedAE, MAPE, accuracy and under-prediction rate (and coverage and
    reserved/actual for a bound, beside the users' own requests).
    """
    from hpcsched.cli.render_predict import eval_table, retraining_bar
    from hpcsched.predict import evaluate as ev

    if model != "all":
        _check_model(model)
    if target not in ("runtime", "memory"):
        fail(f"--target {target!r} is not runtime or memory")
    if not 0.0 < coverage < 1.0:
        fail(f"--coverage {coverage} must be between 0 and 1, e.g. 0.95")
    if retrain_every is not None and retrain_every < 100:
        fail(f"--retrain-every {retrain_every}: give at least 100 jobs")
    loaded = _load(trace, filter_name)
    options: dict[str, Any] = {
        "target": target,
        "coverage": coverage,
        "retrain_every": retrain_every,
    }
    if model == "all":
        _evaluate_all(trace, loaded.table, unseen_users, as_json, options)
        return
    with retraining_bar(f"{model}: retraining") as progress:
        if unseen_users:
            result = ev.unseen_users(loaded.table, model, progress=progress, **options)
        else:
            result = ev.chronological(loaded.table, model, progress=progress, **options)
    metrics = _rounded({"trace": str(trace), **result.metrics()})
    if metrics["n"] == 0:
        fail(f"{trace}: no job has a known {target} to score; try --target runtime")
    if as_json:
        typer.echo(json.dumps(metrics))
        return
    eval_table(metrics)


def _evaluate_all(
    trace: Path, table: pl.DataFrame, unseen_users: bool, as_json: bool, options: dict[str, Any]
) -> None:
    """Every model in turn on the same jobs; one table against ``requested`` and a verdict."""
    from hpcsched.cli.render_predict import all_table, retraining_bar
    from hpcsched.predict import evaluate as ev
    from hpcsched.predict.leaderboard import verdict

    rows = []
    for name in ev.MODELS:
        with retraining_bar(f"{name}: retraining") as progress:
            run = ev.unseen_users if unseen_users else ev.chronological
            rows.append(_rounded(run(table, name, progress=progress, **options).metrics()))
    if rows[0]["n"] == 0:
        fail(f"{trace}: no job has a known {options['target']} to score; try --target runtime")
    line = verdict(rows, options["target"])
    if as_json:
        typer.echo(json.dumps({"trace": str(trace), "models": rows, "verdict": line}))
        return
    all_table(rows, trace=trace, target=options["target"], verdict_line=line)


def impact(
    trace: Annotated[
        Path, typer.Argument(help="an SWF trace (.swf, .swf.gz) or a job table (.parquet)")
    ],
    model: Annotated[
        str, typer.Option(help=MODEL_HELP + "; or a folder written by predict fit --out")
    ] = "lightgbm",
    filter_name: Annotated[str, typer.Option("--filter", help=FILTER_HELP)] = "strong",
    capacity: Annotated[
        int | None, typer.Option(help="processors of the machine (default: the trace's MaxProcs)")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Simulate EASY planning with the model's predictions vs with the users' estimates.

    A prediction that runs out is extended to the job's timelimit (Tsafrir et al. 2007).
    """
    from hpcsched.cli.render_predict import retraining_bar
    from hpcsched.predict.impact import easy_impact

    saved = None
    if "/" in model or Path(model).exists():
        saved = load_saved(Path(model))  # before the trace: a bad model costs no replay
    else:
        _check_model(model, ", nor a model folder (make one with: hpcsched predict fit --out)")
    loaded = _load(trace, filter_name)
    procs = capacity or loaded.machine_procs
    if not procs or procs <= 0:
        fail(f"{trace}: machine size unknown; give --capacity PROCESSORS")
    label = f"{model}: {'predicting (saved, no refit)' if saved else 'retraining'}"
    with retraining_bar(label) as progress:
        result = easy_impact(loaded.table, procs, saved or model, progress=progress)
    result = {"trace": str(trace), "capacity": procs, **result, "model": model}
    if saved is not None:
        result["note"] = _in_sample_note(trace, saved.meta)
    if as_json:
        typer.echo(json.dumps(result))
        return
    from hpcsched.cli.render import metrics_table

    rows = [
        {"policy": "easy, user estimates", **result["user_estimates"]},
        {"policy": f"easy, {model} predictions", **result["predictions"]},
    ]
    metrics_table(rows, title=f"EASY on {trace}: user estimates vs {model}")
    if saved is not None:
        typer.echo(f"note: {result['note']}")


def _in_sample_note(trace: Path, meta: dict[str, Any]) -> str:
    from hpcsched.predict.saved import file_sha256

    trained = meta.get("trained_on") or {}
    if trained.get("sha256") == file_sha256(trace):
        return "the model was fitted on this very file: its predictions are in-sample (optimistic)"
    return f"the model was fitted on {trained.get('path', 'another file')}"


def fit(
    trace: Annotated[
        Path, typer.Argument(help="finished jobs to learn from: a job table (.parquet) or SWF")
    ],
    out: Annotated[Path, typer.Option(help="the model folder to write (made if missing)")],
    coverage: Annotated[
        float, typer.Option(help="share of similar jobs the run-time bound must cover (0-1)")
    ] = 0.95,
    filter_name: Annotated[str, typer.Option("--filter", help=FILTER_HELP)] = "none",
) -> None:
    """Fit the run-time (and peak-memory) bound once and save it for advise and predict impact
    (--model MODEL): the LightGBM model, its conformal margins and model.json (features, the
    file it was trained on, when, the hpcsched version)."""
    from hpcsched import __version__
    from hpcsched.cli.errors import checked_output
    from hpcsched.cli.render import progress_bar
    from hpcsched.predict.saved import FitError, fit_model, save_model

    if not 0.0 < coverage < 1.0:
        fail(f"--coverage {coverage} must be between 0 and 1, e.g. 0.95")
    checked_output(out, folder=True)
    table = _load(trace, filter_name).table
    with progress_bar(f"learning {coverage:.0%} bounds from {table.height:,} jobs") as advance:
        try:
            model = fit_model(
                table, trace, coverage=coverage, version=__version__, progress=advance
            )
        except FitError as exc:
            fail(str(exc))
    runtime, memory = model.runtime, model.memory
    try:
        save_model(out, runtime, memory, model.meta)
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror}; choose another --out")
    learnt = "run time" + (" and peak memory" if memory is not None and memory.model else "")
    typer.echo(f"wrote {out}: {learnt} bounds at {coverage:.0%} from {runtime.known:,} jobs")


def load_saved(path: Path) -> SavedModel:
    """The model folder at ``path``, or one error line."""
    from hpcsched.predict.saved import ModelFileError, load_model

    try:
        return load_model(path)
    except ModelFileError as exc:
        fail(str(exc))


def register(app: typer.Typer) -> None:
    """Add the ``predict`` group (``fit``, ``eval``, ``impact``) to ``app``."""
    predict_app = group(
        "Predict job runtimes and memory from a site's history; measure the scheduling gain."
    )
    predict_app.command("fit")(fit)
    predict_app.command("eval")(evaluate)
    predict_app.command("impact")(impact)
    app.add_typer(predict_app, name="predict")
