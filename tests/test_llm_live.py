"""Against the real local model (SmolLM2-135M-Instruct on llama-cpp-python's server).

Every call caps ``max_tokens`` and uses a schema; the assertions are about validity (the reply
follows the schema, every sentence shown passes the checks, usage is booked), never about
speed or the quality of the prose.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

from hpcsched.cli import app
from hpcsched.llm import ChatClient, TokenLedger, ask
from hpcsched.llm.grounding import Fact, check_sentence, unaccounted_digits

from conftest import SHARED, require_shared
from llm_support import DEADLINE_S, require_llm

pytestmark = pytest.mark.llm
SAMPLE = SHARED / "data" / "sacct" / "local-slurm-sample.txt"
runner = CliRunner()


class Answer(BaseModel):
    answer: Literal["yes", "no"]


def test_check_reports_chat_schema_usage_and_streaming() -> None:
    settings = require_llm()
    result = runner.invoke(app, ["llm", "check", "--llm-url", settings.url or "", "--json"])
    assert result.exit_code == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    caps = found["capabilities"]
    assert found["models"] and caps["chat"]["ok"] and caps["usage"]["ok"]
    assert caps["json_schema"]["ok"] and caps["streaming"]["ok"]
    assert "ok" in caps["images"]  # probed either way; a text-only model may refuse


def test_a_schema_constrained_reply_from_the_real_model_validates() -> None:
    settings = require_llm()
    ledger = TokenLedger("test")
    with ChatClient(settings, ledger=ledger) as client:
        got = ask(
            client,
            [{"role": "user", "content": "Is the sky blue? Answer yes or no."}],
            Answer,
            purpose="live",
            max_tokens=32,
        )
    assert got.value is not None, got.reason
    assert ledger.calls[0].prompt_tokens and ledger.calls[0].completion_tokens


def test_report_narrate_with_the_real_model_shows_only_checked_sentences(tmp_path: Path) -> None:
    settings = require_llm()
    path = require_shared(SAMPLE)
    args = ["report", str(path), "--out", str(tmp_path), "--narrate", "--json"]
    args += ["--llm-url", settings.url or "", "--llm-deadline", str(DEADLINE_S)]
    result = runner.invoke(app, args, env={"HPCSCHED_CONFIG": "/nonexistent"})
    assert result.exit_code == 0, result.stderr
    narration = json.loads((tmp_path / "insights.json").read_text())["narration"]
    assert narration["model"] and narration["views"]
    page = (tmp_path / "report.html").read_text("utf-8")
    total = 0
    for key, view in narration["views"].items():
        assert view["sentences"] or view["reason"], key  # narrated, or says why not
        for sentence in view["sentences"]:
            total += 1
            shown = sentence["text"].replace("&", "&amp;").replace("<", "&lt;") in page
            if sentence["status"] == "verified":
                assert all(n["fact"] for n in sentence["numbers"]) and sentence["numbers"]
            assert shown == (sentence["status"] != "dropped") or not sentence["text"].strip()
    assert sum(narration["counts"].values()) == total
    ledger = json.loads((tmp_path / "llm-ledger.json").read_text())
    assert ledger["totals"]["calls"] >= 1 and ledger["totals"]["prompt_tokens"] > 0
    assert all(c["usage_reported"] for c in ledger["calls"] if c["outcome"] != "error")


def test_every_digit_of_a_shown_sentence_is_accounted_for() -> None:
    """The audit the grounding benchmark runs, on one real reply about known facts."""
    settings = require_llm()
    facts = {
        f.key: f
        for f in (
            Fact("jobs", 1200, "count", "jobs", "1,200"),
            Fact("completed.share", 0.81, "share", "share completed", "81%", "completed"),
            Fact("median_wait", 420, "seconds", "median wait", "7 min"),
        )
    }
    from hpcsched.llm.prompts import Narrative, insight_messages, narrative_schema, unknown_keys

    with ChatClient(settings) as client:
        got = ask(
            client,
            insight_messages("Summary", facts.values()),
            Narrative,
            purpose="live",
            schema=narrative_schema(list(facts)),
            check=lambda n: unknown_keys(n, facts),
            max_tokens=300,
        )
    if got.value is None:  # the fallback path is legitimate; it must say why
        assert got.reason
        return
    for sentence in got.value.sentences:
        c = check_sentence(sentence.text, facts, ["completed"], [x.fact for x in sentence.claims])
        if c.status != "dropped":
            assert unaccounted_digits(c) == 0, c
