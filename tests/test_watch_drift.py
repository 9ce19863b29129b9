"""``hpcsched watch --observe --model DIR`` publishes ``prediction-drift`` when the saved run-time
bound holds for too few of the jobs that end (issue 19): the window and its coverage shortfall,
the one report per drift (hysteresis), a refit's new model read again with a fresh window,
censored (TIMEOUT) jobs, the state kept between ``--once`` passes, the event fields, the refit
rule that consumes the event, and the one-line refusals of the CLI. A real model is fitted on
a small table (``test_advise.synthetic_history``: alice's jobs of ~20 min)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

from hpcsched.advise.drift import MEASURE, DriftWindow, ModelDrift, is_miss
from hpcsched.agents.journal import Intent
from hpcsched.agents.refit import refit_model, wants_refit
from hpcsched.agents.rules import Refit, load_rules, matching
from hpcsched.predict.saved import fit_model, load_model, save_model
from hpcsched.runtime.events import DRIFT_EVENTS, EventSink
from test_advise import synthetic_history
from test_watch import FakeSlurm, make_watcher, watch_app

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_RULES = REPO / "examples" / "agents-rules.yaml"


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("drift") / "history.parquet"
    synthetic_history(path)  # 150 jobs: enough to learn, fast to fit
    return path


@pytest.fixture
def model(history: Path, tmp_path: Path) -> Path:
    """A model folder as ``predict fit --out`` writes it (fitted on ``history``)."""
    fitted = fit_model(pl.read_parquet(history), history, coverage=0.95, version="test")
    save_model(tmp_path / "model", fitted.runtime, fitted.memory, fitted.meta)
    return tmp_path / "model"


def ended(runtimes: list[float], *, state: str = "completed", first: int = 100) -> pl.DataFrame:
    """Job-table rows of alice's jobs that ended a day after the history, one per run time."""
    n = len(runtimes)
    submit = [1.8e9 + 600.0 * i for i in range(n)]
    return pl.DataFrame(
        {
            "job_id": [str(first + i) for i in range(n)],
            "user": "alice",
            "account": "chem",
            "partition": "debug",
            "qos": "normal",
            "submit": submit,
            "start": [s + 30 for s in submit],
            "end": [s + 30 + r for s, r in zip(submit, runtimes, strict=True)],
            "runtime": runtimes,
            "timelimit": 4 * 3600.0 if state != "timeout" else runtimes,
            "nodes": 1,
            "cpus": 2,
            "gpus": 0,
            "mem_req": 1e9,
            "mem_used": 3e8,
            "state": state,
            "name": "relax",
        }
    )


def collect() -> tuple[list[tuple[str, dict[str, Any]]], Any]:
    seen: list[tuple[str, dict[str, Any]]] = []
    return seen, lambda event, fields: seen.append((event, fields))


# -- the measure, with no model -----------------------------------------------------------------


def test_a_full_window_past_the_threshold_reports_the_coverage_shortfall() -> None:
    window = DriftWindow(4, threshold=0.5, coverage=0.95)
    assert window.add("1", True) is None and window.add("2", True) is None
    assert window.add("3", False) is None  # 3 jobs: the window is not full yet
    report = window.add("4", True)
    assert report is not None
    # 3 misses of 4: observed coverage 0.25 against a target of 0.95
    assert report["error"] == pytest.approx(0.70) and report["observed_coverage"] == 0.25
    assert report["measure"] == MEASURE and report["misses"] == 3 and report["jobs"] == 4
    assert (report["first_job_id"], report["last_job_id"]) == ("1", "4")


def test_a_model_that_keeps_its_coverage_never_reports() -> None:
    window = DriftWindow(20, threshold=0.15, coverage=0.95)
    errors, reports = [], []
    for i in range(60):  # at most 3 misses in any 20 jobs: 15 % outside a 95 % bound
        reports.append(window.add(str(i), i in (3, 10, 17, 30, 45)))
        errors.append(window.error)
    assert reports == [None] * 60
    assert max(errors[19:]) == pytest.approx(0.10) and errors[-1] == pytest.approx(0.0)


def test_one_drift_is_reported_once_until_the_window_has_renewed() -> None:
    window = DriftWindow(5, threshold=0.5, coverage=0.9)
    reports = [window.add(str(i), True) for i in range(16)]
    # every job a miss: reported at the 5th job, then again only 5 jobs later (all new)
    assert [i for i, r in enumerate(reports) if r is not None] == [4, 9, 14]
    assert reports[9] is not None and reports[9]["first_job_id"] == "5"


def test_a_job_that_was_stopped_counts_only_as_a_certain_miss() -> None:
    for state in ("completed", "failed", "out_of_memory"):  # ended on their own: exact
        assert is_miss(state, 500.0, 400.0) is True
        assert is_miss(state, 300.0, 400.0) is False
    for state in ("timeout", "cancelled", "node_fail", "preempted"):  # a lower bound only
        assert is_miss(state, 500.0, 400.0) is True
        assert is_miss(state, 300.0, 400.0) is None  # might have stayed inside: unknown
    assert is_miss("completed", None, 400.0) is None  # never started
    assert is_miss("completed", 10.0, float("inf")) is False


# -- with a real saved model --------------------------------------------------------------------


def test_jobs_far_longer_than_the_history_are_reported_as_drift(model: Path) -> None:
    drift = ModelDrift(model, load_model(model), window=6, threshold=0.5)
    seen, emit = collect()
    assert drift.observe(ended([1200.0] * 6), emit) == []  # like the history: inside the bound
    assert drift.window.misses == 0
    reports = drift.observe(ended([3 * 3600.0] * 6, first=200), emit)
    (report,) = reports  # once: then quiet until the window has renewed
    # the window slides: at the 4th 3 h job, 4 of the last 6 are past the bound (2 inside)
    assert report["error"] == pytest.approx(4 / 6 - 0.05, abs=1e-6)
    assert (report["first_job_id"], report["last_job_id"]) == ("104", "203")
    assert report["observed_coverage"] == pytest.approx(2 / 6, abs=1e-6)
    assert report["model"] == str(model) and report["model_key"] is None
    assert report["model_created"] == load_model(model).meta["created"]
    assert report["median_log_ratio"] < -1.5  # the model predicts ~20 min for 3 h jobs
    assert [e for e, _ in seen] == ["prediction-drift"]


def test_timeouts_count_only_past_the_bound(model: Path) -> None:
    drift = ModelDrift(model, load_model(model), window=3, threshold=0.5)
    seen, emit = collect()
    # killed at a 10 min limit, below the ~20 min bound: unknown, left out of the window
    drift.observe(ended([600.0] * 4, state="timeout"), emit)
    assert len(drift.window.jobs) == 0 and seen == []
    # killed at 3 h, far past the bound: the job certainly needed more than the bound
    drift.observe(ended([3 * 3600.0] * 3, state="timeout", first=300), emit)
    assert [e for e, _ in seen] == ["prediction-drift"]
    assert seen[0][1]["median_log_ratio"] is None  # no exact run time in the window


def refit_over(model: Path, table: Path, key: str) -> None:
    """The agents' refit action, as it replaces the folder (``renameat2`` exchange)."""
    rule = Refit(
        name="refit", when={"event": "prediction-drift"}, action="refit", table=table, out=model
    )
    intent = Intent(key, key, "refit", "refit", None, {}, {}, 0.0)
    refit_model(rule, intent)


def test_a_refit_model_is_read_again_and_the_window_starts_empty(
    model: Path, tmp_path: Path
) -> None:
    drift = ModelDrift(model, load_model(model), window=4, threshold=0.5)
    seen, emit = collect()
    drift.observe(ended([3 * 3600.0] * 3), emit)
    assert len(drift.window.jobs) == 3 and not drift.refresh(emit)  # unchanged: nothing read
    long_history = tmp_path / "long.parquet"
    synthetic_history(long_history)
    table = pl.read_parquet(long_history).with_columns(
        pl.col("runtime") * 9, pl.lit(4 * 3600.0).alias("timelimit")
    )
    table.with_columns(end=pl.col("start") + pl.col("runtime")).write_parquet(long_history)
    refit_over(model, long_history, "d-1/refit")
    assert drift.refresh(emit)
    assert len(drift.window.jobs) == 0
    assert seen[-1][0] == "model-reloaded" and seen[-1][1]["model_key"] == "d-1/refit"
    # the refit learnt the 3 h jobs: they are inside its bound now
    drift.observe(ended([3 * 3600.0] * 4, first=400), emit)
    assert drift.window.misses == 0 and seen[-1][0] == "model-reloaded"
    assert not drift.refresh(emit)


def test_a_damaged_model_is_reported_once_and_the_old_one_kept(model: Path) -> None:
    drift = ModelDrift(model, load_model(model), window=4, threshold=0.5)
    seen, emit = collect()
    (model / "model.json").write_text('{"format": "something-else"}')
    assert not drift.refresh(emit) and not drift.refresh(emit)
    assert [e for e, _ in seen] == ["model-unreadable"]
    assert "format 'something-else'" in seen[0][1]["reason"]
    assert drift.model.runtime.model is not None  # still the model it had


def test_the_window_survives_between_once_passes_of_the_same_model(model: Path) -> None:
    first = ModelDrift(model, load_model(model), window=4, threshold=0.5)
    _, emit = collect()
    first.observe(ended([3 * 3600.0] * 3), emit)
    state = json.loads(json.dumps(first.to_state()))  # through the JSON state file
    second = ModelDrift(model, load_model(model), window=4, threshold=0.5)
    seen, emit = collect()
    second.restore(state, emit)
    assert [j for j, _, _ in second.window.jobs] == ["100", "101", "102"] and seen == []
    (model / "model.json").write_text((model / "model.json").read_text().replace("test", "x"))
    other = ModelDrift(model, load_model(model), window=4, threshold=0.5)
    other.restore(state, emit)  # measured on another model: not carried over
    assert len(other.window.jobs) == 0
    assert [e for e, _ in seen] == ["model-reloaded"]


# -- in a watch pass, and what reads the event ---------------------------------------------------


@pytest.fixture
def long_jobs_slurm() -> FakeSlurm:
    """A fake cluster with four jobs running."""
    fake = FakeSlurm()
    fake.queue = {str(j): "RUNNING" for j in range(50, 54)}
    return fake


def test_a_watch_pass_publishes_the_drift_with_its_documented_fields(
    model: Path, tmp_path: Path, long_jobs_slurm: FakeSlurm, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hpcsched.advise.watch as watch

    # the fake's jobs ran 90 s: make them 3 h (the history's ran ~20 min)
    real = watch.ended_jobs
    monkeypatch.setattr(
        watch,
        "ended_jobs",
        lambda adapter, ids: real(adapter, ids).with_columns(runtime=pl.lit(10800.0)),
    )
    out = tmp_path / "events.jsonl"
    with EventSink(out, source="watch") as sink:
        drift = ModelDrift(model, load_model(model), window=4, threshold=0.5)
        watcher, _ = make_watcher(long_jobs_slurm, tmp_path, observe=True, drift=drift)
        watcher.emit = sink.emit
        watcher.once()
        for job in range(50, 54):
            long_jobs_slurm.end(str(job), "COMPLETED", 240)
        watcher.once()
    events = [json.loads(line) for line in out.read_text().splitlines()]
    names = [e["event"] for e in events]
    assert names == ["watch-pass", *["job-ended"] * 4, "prediction-drift", "watch-pass"]
    (event,) = [e for e in events if e["event"] == "prediction-drift"]
    assert list(event) == ["time", "source", "event", "event_id", *DRIFT_EVENTS[event["event"]]]
    assert event["error"] == pytest.approx(0.95) and event["window"] == 4
    saved = json.loads((tmp_path / "state.json").read_text())["drift"]
    assert [j[0] for j in saved["jobs"]] == ["50", "51", "52", "53"] and saved["quiet"] == 4
    # the example rules' refit-on-drift takes it, and refit would act on it
    rules = load_rules(EXAMPLE_RULES)
    (rule,) = [r for r in matching(rules, event) if r.action == "refit"]
    assert rule.name == "refit-on-drift" and wants_refit(rule, event) is None
    calm = {**event, "error": (rule.threshold or 0) - 0.01}
    assert wants_refit(rule, calm) is not None


def test_drift_events_are_documented() -> None:
    import hpcsched.runtime.events as module

    for name in DRIFT_EVENTS:
        assert f"\n{name} " in (module.__doc__ or ""), name


# -- the command line -----------------------------------------------------------------------------


def refusal(*args: str) -> str:
    result = CliRunner().invoke(watch_app(), ["watch", "--once", *args])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    return lines[0]


def test_the_cli_refuses_model_misuse_in_one_line(model: Path, tmp_path: Path) -> None:
    events = ["--events", str(tmp_path / "e.jsonl")]
    line = refusal("--model", str(model), *events)
    assert "drift is reported by --observe" in line
    line = refusal("--observe", *events, "--model", str(tmp_path))
    assert "model.json: missing" in line and "predict fit" in line
    line = refusal("--observe", *events, "--model", str(tmp_path / "nowhere"))
    assert "does not exist" in line
    assert "need --model" in refusal("--observe", *events, "--drift-window", "5")


def test_the_help_says_what_drift_is() -> None:
    result = CliRunner().invoke(watch_app(), ["watch", "--help"], terminal_width=200)
    text = " ".join(result.output.split())
    assert "prediction-drift" in text and "coverage shortfall" in text


def test_a_shortfall_exactly_at_the_threshold_is_drift() -> None:
    # 4 of 20 outside a 95 % bound: 0.20 - 0.05 is 0.15 "at least threshold", whatever the
    # binary floats make of 1 - 0.95
    window = DriftWindow(20, threshold=0.15, coverage=0.95)
    reports = [window.add(str(i), i < 4) for i in range(20)]
    assert reports[-1] is not None and reports[-1]["error"] == pytest.approx(0.15)
