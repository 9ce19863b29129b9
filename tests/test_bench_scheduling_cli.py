"""The ``hpcsched bench scheduling`` command: the table per scenario, the files, JSON, the bar,
CP-SAT and the language model through it, and bad input as one line with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from hpcsched.cli import app, render
from hpcsched.sim import bench_scheduling as bench
from test_bench_scheduling import HEURISTICS, random_instance
from test_progress import terminal

from llm_double import serve


@pytest.fixture
def scenarios(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench, "scenario_catalogue", lambda: (("alpha", "beta"), random_instance))


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["bench", "scheduling", *args])
    return result.exit_code, result.stdout, result.stderr


def test_the_command_prints_a_table_per_scenario_and_writes_the_files(
    scenarios: None, tmp_path: Path
) -> None:
    out = tmp_path / "bench"
    code, text, err = invoke(
        "--sizes", "6,12", "--seeds", "2", "--policies", "fcfs,easy", "--out", str(out)
    )
    assert code == 0, err
    headers = ("makespan (s)", "mean wait (s)", "util nodes (%)", "util mem (%)", "Jain")
    for expected in ("alpha (mean over 2 seeds)", "beta (mean over 2 seeds)", "easy", *headers):
        assert expected in text, expected
    assert "written to" in text and "results.parquet" in text and "pareto.html" in text
    table = pl.read_parquet(out / "results.parquet")
    assert table.height == 2 * 2 * 2 * 2
    for column in ("scenario", "jobs", "seed", "policy", "makespan_s", "mean_wait_s",
                   "p95_wait_s", "util_nodes", "util_mem_gb", "fairness_jain",
                   "weighted_completion", "violations", "decisions", "fallback_share",
                   "seconds_per_decision", "tokens_per_decision", "wall_s"):  # fmt: skip
        assert column in table.columns, column
    assert pl.read_csv(out / "results.csv").height == table.height
    html = (out / "pareto.html").read_text()
    assert "plotly" in html and "alpha, 6 jobs" in html


def test_the_command_json_is_one_line(scenarios: None) -> None:
    code, text, _ = invoke("--scenarios", "beta", "--sizes", "4", "--policies", "sjf", "--json")
    assert code == 0 and len(text.strip().splitlines()) == 1
    data = json.loads(text)
    assert [(r["scenario"], r["jobs"], r["policy"]) for r in data["rows"]] == [("beta", 4, "sjf")]
    assert data["written"] == {}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--scenarios", "gamma"],
            "--scenarios 'gamma': unknown scenario; choose from alpha, beta",
        ),
        (["--policies", "fcfs,magic"], "--policies 'magic': unknown policy; choose from"),
        (["--sizes", "10,0"], "--sizes '10,0': give job counts of at least 1"),
        (["--sizes", "ten"], "--sizes 'ten': give job counts of at least 1"),
        (["--seeds", "0"], "--seeds 0: give at least 1"),
        (["--llm-deadline", "0"], "--llm-deadline 0.0: give a positive number of seconds"),
        (["--objective", "speed"], "--objective 'speed': choose from makespan"),
        (["--out", "/nonexistent/dir/x"], "cannot write /nonexistent/dir/x"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(scenarios: None, args: list[str], message: str) -> None:
    code, text, err = (
        invoke("--policies", "fcfs", *args) if "--policies" not in args else invoke(*args)
    )
    assert code == 2 and text == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("hpcsched: error: ")
    assert message in err


def test_the_bar_counts_cases_on_a_terminal_only(
    scenarios: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = invoke("--sizes", "5", "--policies", "fcfs,sjf", "--json")
    assert code == 0 and err == ""  # off a terminal stderr stays clean
    console, drawn = terminal()
    monkeypatch.setattr(render, "stderr_console", lambda: console)
    code, text, _ = invoke("--sizes", "5", "--policies", "fcfs,sjf", "--json")
    assert code == 0 and len(json.loads(text)["rows"]) == 4
    assert "bench: 4 cases on 2 instances" in drawn.getvalue()
    assert "4/4" in drawn.getvalue()


def test_the_command_line_knows_the_harness_objectives_and_default_policies() -> None:
    from hpcsched.cli import bench as command

    assert command.OBJECTIVES == bench.OBJECTIVES
    assert set(command.DEFAULT_POLICIES.split(",")) <= {*bench.HEURISTICS, "cpsat"}


def test_a_language_models_stats_become_its_row_fields() -> None:
    from hpcsched.sim.bench_policies import llm_fields

    stats = {
        "decisions": 40,
        "forced": 12,
        "calls": 30,
        "fallbacks": 3,
        "model_chose_first_action": 37,
        "fallback_reasons": {"deadline": 1, "invalid": 2, "error": 0},
        "seconds_per_decision": {"mean": 0.8, "p95": 2.5},
        "prompt_tokens_per_decision": 900.0,
        "completion_tokens_per_decision": 21.5,
    }
    fields = llm_fields(stats)
    assert fields["decisions"] == 40 and fields["fallback_share"] == pytest.approx(3 / 40)
    assert fields["seconds_per_decision"] == 0.8 and fields["seconds_per_decision_p95"] == 2.5
    assert fields["tokens_per_decision"] == pytest.approx(921.5)
    assert (fields["llm_fallback_deadline"], fields["llm_fallback_invalid"]) == (1, 2)
    assert fields["llm_first_action_share"] == 1.0  # 37 of the 37 the model answered itself
    assert llm_fields({"decisions": 0})["fallback_share"] == 0.0


def test_the_command_runs_the_swarm_scenarios_by_default() -> None:
    code, text, err = invoke(
        "--scenarios", "heterogeneous_mix,adversarial", "--sizes", "10", "--policies",
        "fcfs,easy", "--json",
    )  # fmt: skip
    assert code == 0, err
    rows = json.loads(text)["rows"]
    assert [(r["scenario"], r["policy"]) for r in rows] == [
        ("heterogeneous_mix", "fcfs"),
        ("heterogeneous_mix", "easy"),
        ("adversarial", "fcfs"),
        ("adversarial", "easy"),
    ]
    for row in rows:
        assert row["violations"] == 0 and "error" not in row
        assert {"util_nodes", "util_mem_gb", "util_gpus"} <= row.keys()


def test_the_default_policies_include_cpsat_and_its_gaps(scenarios: None) -> None:
    code, text, err = invoke("--scenarios", "alpha", "--sizes", "6", "--time-limit", "2")
    assert code == 0, err
    for expected in ("cpsat", "conservative", "makespan vs CP-SAT (%)", "makespan vs LB (%)"):
        assert expected in text, expected
    code, text, _ = invoke("--scenarios", "alpha", "--sizes", "6", "--time-limit", "2", "--json")
    rows = json.loads(text)["rows"]
    assert [r["policy"] for r in rows] == [*HEURISTICS, "cpsat"]
    assert rows[-1]["cpsat_status"] in ("optimal", "feasible")


def test_the_llm_policy_runs_in_the_bench_with_its_counts(
    scenarios: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve() as double:  # every reply is "ok": invalid, retried once, then EASY's choice
        monkeypatch.setenv("HPCSCHED_LLM_URL", double.url)
        code, text, err = invoke(
            "--scenarios", "alpha", "--sizes", "8", "--policies", "easy,llm",
            "--llm-deadline", "2", "--llm-objective", "favour fairness", "--json",
        )  # fmt: skip
        prompts = [r["body"]["messages"][0]["content"] for r in double.chats()]
        table = invoke("--scenarios", "alpha", "--sizes", "8", "--policies", "easy,llm")
    assert code == 0, err
    easy, llm = json.loads(text)["rows"]
    assert llm["policy"] == "llm" and "error" not in llm and llm["violations"] == 0
    assert llm["decisions"] > 0 and llm["llm_fallback_invalid"] == llm["decisions"]
    assert llm["fallback_share"] == 1.0 and llm["tokens_per_decision"] > 0
    assert llm["gap_lb_makespan_pct"] >= 0
    assert easy["fallback_share"] == 0.0 and easy["tokens_per_decision"] == 0.0
    assert prompts and all("favour fairness" in p for p in prompts)
    assert table[0] == 0 and "fallback (%)" in table[1] and "tokens/decision" in table[1]
    assert "100.0" in table[1]  # the fallback share of the llm row


def test_the_llm_policy_without_a_model_is_one_line(
    scenarios: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HPCSCHED_LLM_URL", raising=False)
    code, text, err = invoke("--policies", "easy,llm")
    assert code == 2 and text == "" and len(err.strip().splitlines()) == 1
    assert "--policies llm needs a language model: set HPCSCHED_LLM_URL" in err
