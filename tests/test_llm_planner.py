"""``campaign materials --planner llm``: the catalog the knapsack offers, the static validator,
the refusal sent back once, the rule-based fallback, and the plan run in ``sim`` and live.

The HTTP double scripts the replies (valid, refused then valid, refused twice, unsafe); the
``llm``-marked test asks the real local model and asserts only validity."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hpcsched.campaigns.materials.catalog import offer
from hpcsched.campaigns.materials.llm_planner import example
from hpcsched.campaigns.materials.plan_check import PlanReply, validate
from hpcsched.cli import app

from llm_double import reply, serve

runner = CliRunner()
NO_LLM_ENV = {
    "HPCSCHED_LLM_URL": None,
    "HPCSCHED_LLM_MODEL": None,
    "HPCSCHED_CONFIG": "/nonexistent",
}
MATERIALS = 12


def valid_plan(batch: int = 1, cpus: int = 1, count: int = MATERIALS) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(example(batch, count, cpus))
    return body


def campaign(*extra: str, env: dict[str, Any] | None = None) -> Any:
    args = ["campaign", "materials", "--materials", str(MATERIALS), "--window", "inf",
            "--cpus", "2", "--planner", "llm", *extra]  # fmt: skip
    return runner.invoke(app, args, env=env or NO_LLM_ENV)


def report_of(result: Any) -> dict[str, Any]:
    assert result.exit_code == 0, result.output
    body: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return body


def problems(body: dict[str, Any], cpus: int = 2) -> list[str]:
    return validate(PlanReply.model_validate(body), offer(MATERIALS, MATERIALS, cpus, 10**9))


def test_the_knapsack_offers_fine_tools_only_when_the_budget_allows() -> None:
    rich, tight = offer(1124, 1124, 2, 10**8), offer(1124, 1124, 2)
    assert rich.granularity == "fine" and tight.granularity == "coarse"
    assert rich.costs["predict/fine"] > 10 * rich.costs["predict/coarse"]
    assert "batch: 1" in rich.text() and "batch: integer 2..1000" in tight.text()


def test_the_validator_accepts_a_plan_of_the_catalog() -> None:
    assert problems(valid_plan()) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda s: s[1].update(tool="run_shell"), "unknown tool 'run_shell'"),
        (lambda s: s[1].update(method="svm"), "method 'svm' is not one of"),
        (lambda s: s[1].update(every=5), "predict takes no every"),
        (lambda s: s[1].update(cpus=64), "cpus beyond the pool's largest worker 64"),
        (lambda s: s[0].update(after=["d-gnn"]), "the steps form a cycle"),
        (lambda s: s[4].update(after=["nowhere"]), "after 'nowhere', which is not a step"),
        (lambda s: s.pop(), "periodic task missing: visualise"),
        (lambda s: s.pop(4), "periodic task missing: drift_check for nn"),
        (lambda s: s[2].update(method="nn"), "a method is predicted twice"),
        (lambda s: s[2].update(batch=2), "batch 2 not in 1..1"),
        (lambda s: s[0].update(id="$(touch x)"), "letters, digits"),
        (lambda s: s[1].update(after=[]), "predict must come after a source step"),
    ],
    ids=[
        "unknown-tool",
        "method",
        "extra-arg",
        "cpus",
        "cycle",
        "dangling",
        "periodic",
        "drift",
        "twice",
        "granularity",
        "id",
        "source",
    ],
)
def test_the_validator_refuses(change: Any, expected: str) -> None:
    body = valid_plan()
    change(body["steps"])
    found = problems(body)
    assert any(expected in p for p in found), found


def test_a_valid_reply_is_the_plan_that_runs_in_sim() -> None:
    body = valid_plan()
    body["steps"][4:7] = [{**s, "every": 4} for s in body["steps"][4:7]]
    with serve(reply(json.dumps(body))) as d:
        result = campaign("--llm-url", d.url, "--json", "--token-budget", "100000000")
    report = report_of(result)
    planner = report["planner"]
    assert planner["used"] == "llm" and planner["first_valid"] and planner["granularity"] == "fine"
    assert planner["prompt_tokens"] == 11 and planner["ledger"]["calls"] == 1
    assert report["materials_investigated"] == MATERIALS and report["batch"] == 1
    assert report["drift_checks"] == 3 * (MATERIALS // 4)  # the model's period, not the rule's 10
    sent = d.chats()[0]["body"]
    assert "predict (method: one of nn, rf, gnn; batch: 1" in sent["messages"][1]["content"]
    assert sent["response_format"]  # the reply is schema-constrained


def test_a_refused_plan_is_sent_back_once_with_the_validators_message() -> None:
    bad = valid_plan()
    bad["steps"].pop()  # no visualise
    with serve(reply(json.dumps(bad)), reply(json.dumps(valid_plan()))) as d:
        report = report_of(campaign("--llm-url", d.url, "--json"))
    planner = report["planner"]
    assert planner["used"] == "llm" and not planner["first_valid"] and planner["replies"] == 2
    assert "periodic task missing: visualise" in planner["problems"][0]
    retry = d.chats()[1]["body"]["messages"][-1]["content"]
    assert "refused" in retry and "periodic task missing: visualise" in retry


def test_refused_twice_the_rule_based_plan_runs_and_the_output_says_so(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    unsafe = valid_plan()
    unsafe["steps"][0] = {"id": "x", "tool": "shell", "command": f"touch {marker}", "after": []}
    with serve(reply(json.dumps(unsafe)), reply("rm -rf / # not json")) as d:
        result = campaign("--llm-url", d.url)
    assert result.exit_code == 0, result.output
    out = " ".join(result.stdout.split())
    assert "rule-based plan is used (reply did not validate" in out
    assert "drift detection every 10 materials" in out  # the rule-based plan's steps
    assert not marker.exists()  # nothing of a reply is ever run
    assert len(d.chats()) == 2


def test_without_an_endpoint_the_rule_based_plan_runs() -> None:
    report = report_of(campaign("--json"))
    assert (
        report["planner"]["used"] == "rule" and "no language model" in report["planner"]["reason"]
    )


def test_an_llm_plan_runs_live(tmp_path: Path) -> None:
    folder = tmp_path / "live"
    with serve(reply(json.dumps(valid_plan(count=6)))) as d:
        result = campaign("--llm-url", d.url, "--clock", "live", "--out", str(folder), "--json")
    report = report_of(result)
    assert report["planner"]["used"] == "llm" and report["clock"] == "live"
    assert report["structures"] == 6 and report["materials_investigated"] == 6
    assert (folder / "run" / "journal.sqlite").exists()
    ledger = json.loads((folder / "llm-ledger.json").read_text())
    assert ledger["totals"]["calls"] == 1 and ledger["calls"][0]["purpose"].startswith("plan:uo2")


@pytest.mark.llm
@pytest.mark.parametrize("clock", ["sim", "live"])
def test_the_real_model_plans_a_uo2_campaign(tmp_path: Path, clock: str) -> None:
    from llm_support import require_llm

    settings = require_llm()
    ledger = tmp_path / "ledger.jsonl"
    result = campaign(
        "--llm-url", settings.url or "", "--llm-deadline", "300", "--json", "--clock", clock,
        "--out", str(tmp_path / "live"), "--ledger", str(ledger),
    )  # fmt: skip
    report = report_of(result)
    planner = report["planner"]
    assert planner["requested"] == "llm" and planner["used"] in ("llm", "rule")
    if planner["used"] == "llm":  # a submitted plan is one the validator accepted
        assert planner["steps"] and (planner["first_valid"] or planner["problems"])
    else:
        assert planner["reason"]
    assert report["materials_investigated"] > 0
    calls = json.loads(ledger.read_text().splitlines()[-1])["calls"]
    assert calls and all(c["prompt_tokens"] and c["completion_tokens"] for c in calls)


def test_the_api_key_is_never_written(tmp_path: Path) -> None:
    from llm_double import Act

    key = "sk-hpcsched-plan-81c3f0a9e5d7"
    folder = tmp_path / "live"
    with serve(Act("echo", status=401)) as d:
        result = campaign(
            "--llm-url", d.url, "--clock", "live", "--materials", "3", "--out", str(folder),
            "--ledger", str(tmp_path / "ledger.jsonl"), "--json",
            env={**NO_LLM_ENV, "HPCSCHED_LLM_API_KEY": key},
        )  # fmt: skip
    report = report_of(result)
    assert report["planner"]["used"] == "rule" and "401" in report["planner"]["reason"]
    assert key not in result.output
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert folder / "llm-ledger.json" in files
    for path in files:
        assert key.encode() not in path.read_bytes(), path
