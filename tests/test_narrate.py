"""Narration of a report against the HTTP double: what is shown, dropped and counted; the
deterministic report without an endpoint; and the API key never written anywhere."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hpcsched.analytics.chart_facts import chart_facts
from hpcsched.analytics.derive import prepare
from hpcsched.analytics.narrate import narrate
from hpcsched.cli import app
from hpcsched.llm import ChatClient, TokenLedger, load_settings
from hpcsched.workloads.load import load_jobs as open_table

from conftest import SHARED, require_shared
from llm_double import Act, free_port_url, reply, serve

SAMPLE = SHARED / "data" / "sacct" / "local-slurm-sample.txt"
OTHER = SHARED / "data" / "sacct" / "local-slurm-sample-alloc.txt"
runner = CliRunner()
#: No endpoint from this machine's environment or config file leaks into these tests.
NO_LLM_ENV = {
    "HPCSCHED_LLM_URL": None,
    "HPCSCHED_LLM_MODEL": None,
    "HPCSCHED_CONFIG": "/nonexistent",
}


def _summary_reply(path: Path) -> tuple[str, str, str, str]:
    """A reply with one true, one false and one number-free sentence about the summary."""
    facts = chart_facts(prepare(open_table(path).table), "summary").facts
    jobs, wait = facts["jobs"].shown, facts["median_wait"].shown
    good = f"The table holds {jobs} jobs; the median wait was {wait}."
    bad = "The table holds 987,654 jobs."
    vague = "Most jobs started quickly."
    body = {
        "sentences": [
            {
                "claims": [{"fact": "jobs", "value": facts["jobs"].value}],
                "text": good,
            },
            {"claims": [{"fact": "jobs", "value": 987654}], "text": bad},
            {"claims": [], "text": vague},
        ]
    }
    return json.dumps(body), good, bad, vague


def test_verified_sentences_are_kept_wrong_ones_dropped_and_all_counted() -> None:
    path = require_shared(SAMPLE)
    content, good, _bad, vague = _summary_reply(path)
    prep = prepare(open_table(path).table)
    ledger = TokenLedger("t")
    with serve(reply(content)) as d:
        settings = load_settings({"url": d.url}, env={})
        with ChatClient(settings, ledger=ledger) as client:
            got = narrate(client, [prep], names=("sample",), views=["summary"])
    view = got.views["summary"]
    assert [c.status for c in view.checks] == ["verified", "dropped", "unverifiable"]
    assert [c.text for c in view.shown()] == [good, vague]
    assert got.counts() == {"verified": 1, "dropped": 1, "unverifiable": 1}
    assert "1 sentence(s) verified, 1 unverifiable" in got.summary()
    prompt = d.chats()[0]["body"]
    assert "jobs = " in prompt["messages"][1]["content"]  # the facts, never a picture
    schema = prompt["response_format"]["json_schema"]["schema"]
    keys = schema["properties"]["sentences"]["items"]["properties"]["claims"]["items"]
    assert "jobs" in keys["properties"]["fact"]["enum"]
    assert ledger.calls[0].prompt_tokens == 11


def _report(args: list[str], env: dict[str, Any]) -> dict[str, Any]:
    result = runner.invoke(app, ["report", *args, "--json"], env={**NO_LLM_ENV, **env})
    assert result.exit_code == 0, result.stderr
    payload: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return payload


def test_report_narrate_puts_checked_sentences_in_the_page_and_insights_json(
    tmp_path: Path,
) -> None:
    path = require_shared(SAMPLE)
    content, good, bad, vague = _summary_reply(path)
    with serve(reply(content)) as d:  # the other views get "ok": invalid twice, then fallback
        out = _report(
            [str(path), "--out", str(tmp_path), "--narrate", "--llm-url", d.url,
             "--ledger", str(tmp_path / "ledger.jsonl")],
            {},
        )  # fmt: skip
    page = Path(out["report"]).read_text("utf-8")
    assert good in page and vague in page and bad not in page
    assert "(not checked: no number)" in page and "1 dropped" in page
    data = json.loads((tmp_path / "insights.json").read_text())
    narration = data["narration"]
    assert narration["counts"] == {"verified": 1, "dropped": 1, "unverifiable": 1}
    assert narration["views"]["summary"]["sentences"][1]["status"] == "dropped"
    assert "fallback" not in out["narration"]
    ledger = json.loads((tmp_path / "llm-ledger.json").read_text())
    assert ledger["command"] == "report" and ledger["totals"]["calls"] >= 11
    assert len(ledger["fallbacks"]) == len(
        [v for v in narration["views"].values() if v["reason"] and v["facts"]]
    )
    assert json.loads((tmp_path / "ledger.jsonl").read_text())["totals"] == ledger["totals"]


def test_without_an_endpoint_the_deterministic_report_stands_with_a_note(tmp_path: Path) -> None:
    path = require_shared(SAMPLE)
    plain = _report([str(path), "--out", str(tmp_path / "plain")], {})
    narrated = _report([str(path), "--out", str(tmp_path / "n"), "--narrate"], {})
    assert narrated["insights"] == plain["insights"]
    assert narrated["narration"].startswith("No narration (no language model configured")
    page = (tmp_path / "n" / "report.html").read_text()
    assert "the deterministic insights stand alone" in page
    down = _report(
        [str(path), "--out", str(tmp_path / "d"), "--narrate", "--llm-url", free_port_url()], {}
    )
    assert "did not answer" in down["narration"] and down["insights"] == plain["insights"]


def test_compare_narration_gets_both_tables_facts(tmp_path: Path) -> None:
    a, b = require_shared(SAMPLE), require_shared(OTHER)
    with serve() as d:
        _report(
            [str(a), "--compare", str(b), "--out", str(tmp_path), "--narrate", "--llm-url", d.url],
            {},
        )
    first = d.chats()[0]["body"]["messages"]
    assert "compare" in first[0]["content"] and "A.jobs = " in first[1]["content"]
    assert "B.jobs = " in first[1]["content"] and "ratio.jobs = " in first[1]["content"]


def test_the_api_key_is_never_written_to_any_file_or_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    key = "sk-hpcsched-test-7d2f91c4e8a6b035"
    path = require_shared(SAMPLE)
    content, *_ = _summary_reply(path)
    acts = [Act("echo", status=500), reply(content), Act("echo", status=401)]
    log = tmp_path / "debug.log"
    handler = logging.FileHandler(log)
    logging.getLogger().addHandler(handler)
    caplog.set_level(logging.DEBUG)
    try:
        with serve(*acts) as d:
            result = runner.invoke(
                app,
                ["report", str(path), "--out", str(tmp_path / "r"), "--narrate", "--llm-url", d.url,
                 "--ledger", str(tmp_path / "ledger.jsonl")],
                env={**NO_LLM_ENV, "HPCSCHED_LLM_API_KEY": key},
            )  # fmt: skip
            check = runner.invoke(
                app, ["llm", "check", "--llm-url", d.url, "--json"],
                env={**NO_LLM_ENV, "HPCSCHED_LLM_API_KEY": key},
            )  # fmt: skip
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
    assert result.exit_code == 0, result.stderr
    assert d.requests[1]["headers"].get("Authorization") == f"Bearer {key}"  # it was used
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert {"report.html", "insights.json", "llm-ledger.json", "ledger.jsonl", "debug.log"} <= {
        p.name for p in written
    }
    ledger = (tmp_path / "r" / "llm-ledger.json").read_text()
    assert "HTTP 401" in ledger and "Bearer ***" in ledger  # the echoed key was there, redacted
    for p in written:
        assert key not in p.read_bytes().decode("utf-8", "replace"), p
    for text in (result.stdout, result.stderr, check.stdout, check.stderr, caplog.text):
        assert key not in text


def test_a_repeated_sentence_is_dropped_with_the_reason() -> None:
    path = require_shared(SAMPLE)
    content, good, _, _ = _summary_reply(path)
    body = json.loads(content)
    body["sentences"] = [body["sentences"][0], body["sentences"][0]]
    prep = prepare(open_table(path).table)
    with serve(reply(json.dumps(body))) as d:
        client = ChatClient(load_settings({"url": d.url}, env={}))
        got = narrate(client, [prep], names=("sample",), views=["summary"])
        client.close()
    first, second = got.views["summary"].checks
    assert (first.status, second.status) == ("verified", "dropped")
    assert second.reason == "repeats an earlier sentence" and second.text == good
