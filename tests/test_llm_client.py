"""The chat client's error paths against a double that speaks the real HTTP protocol:
retries on 5xx and connection errors only, timeouts, the hard deadline, bodies that are not
JSON, schema-form negotiation, streaming, and schema-invalid replies (retry once, then the
caller's fallback, booked in the ledger)."""

from __future__ import annotations

import json
import time

import pytest
from pydantic import BaseModel

from hpcsched.llm import ChatClient, LLMError, TokenLedger, ask, load_settings

from llm_double import Act, free_port_url, reply, serve


class YesNo(BaseModel):
    answer: str


def client(url: str, ledger: TokenLedger | None = None, **flags: object) -> ChatClient:
    settings = load_settings({"url": url, "timeout": 5.0, "deadline": 10.0, **flags}, env={})
    return ChatClient(settings, ledger=ledger)


HI = [{"role": "user", "content": "hi"}]


def test_a_reply_and_its_usage_are_booked() -> None:
    usage = {
        "prompt_tokens": 12,
        "completion_tokens": 30,
        "completion_tokens_details": {"reasoning_tokens": 20},
    }
    ledger = TokenLedger("test")
    with serve(reply("hello", usage=usage)) as d, client(d.url, ledger) as c:
        got = c.chat(HI, purpose="greet")
    assert got.content == "hello" and got.attempts == 1
    (call,) = ledger.calls
    assert (call.prompt_tokens, call.completion_tokens, call.reasoning_tokens) == (12, 30, 20)
    assert call.purpose == "greet" and call.model == "double-model" and call.outcome == "ok"
    assert ledger.totals()["reasoning_tokens"] == 20
    assert d.chats()[0]["body"]["model"] == "double-model"  # the first model /models lists


def test_a_reply_without_usage_is_booked_as_unreported_not_estimated() -> None:
    ledger = TokenLedger("test")
    with serve(reply("hello", usage=None)) as d, client(d.url, ledger) as c:
        c.chat(HI)
    assert ledger.calls[0].prompt_tokens is None and not ledger.calls[0].usage_reported


def test_http_500_is_retried_then_succeeds() -> None:
    with serve(Act("status", status=500), reply("fine")) as d, client(d.url) as c:
        got = c.chat(HI)
    assert got.content == "fine" and got.attempts == 2 and len(d.chats()) == 2


def test_http_500_every_time_gives_up_after_the_retries() -> None:
    acts = [Act("status", status=503)] * 5
    with serve(*acts) as d, client(d.url, retries=2) as c, pytest.raises(LLMError) as err:
        c.chat(HI)
    assert err.value.kind == "http" and err.value.status == 503
    assert len(d.chats()) == 3  # the first try and two retries


@pytest.mark.parametrize("status", [400, 401, 404, 429])
def test_4xx_is_not_retried(status: int) -> None:
    with (
        serve(Act("status", status=status)) as d,
        client(d.url) as c,
        pytest.raises(LLMError) as err,
    ):
        c.chat(HI)
    assert err.value.status == status and len(d.chats()) == 1


def test_a_dropped_connection_is_retried() -> None:
    with serve(Act("close"), reply("back")) as d, client(d.url) as c:
        assert c.chat(HI).content == "back"
    assert len(d.chats()) == 2


def test_nothing_listening_is_a_connect_error() -> None:
    with client(free_port_url(), retries=1, model="m") as c, pytest.raises(LLMError) as err:
        c.chat(HI)
    assert err.value.kind == "connect"


def test_a_slow_server_is_a_timeout_not_retried() -> None:
    with (
        serve(Act("reply", delay=3.0), reply("late")) as d,
        client(d.url, timeout=1.0) as c,
        pytest.raises(LLMError) as err,
    ):
        c.chat(HI)
    assert err.value.kind == "timeout" and len(d.chats()) == 1


def test_the_deadline_is_hard_even_when_retries_remain() -> None:
    acts = [Act("status", status=500, delay=0.6)] * 10
    with serve(*acts) as d, client(d.url, retries=10, deadline=1.5, timeout=30.0) as c:
        start = time.monotonic()
        with pytest.raises(LLMError) as err:
            c.chat(HI)
        took = time.monotonic() - start
    assert took < 2.5, took
    assert err.value.kind in ("deadline", "http")


def test_a_server_that_never_answers_is_stopped_at_the_deadline() -> None:
    with serve(Act("reply", delay=8.0)) as d, client(d.url, deadline=1.0, timeout=30.0) as c:
        start = time.monotonic()
        with pytest.raises(LLMError) as err:
            c.chat(HI)
        assert time.monotonic() - start < 2.0
    assert err.value.kind == "deadline"


def test_a_body_that_is_not_json_is_a_protocol_error_not_retried() -> None:
    with (
        serve(Act("raw", body=b"<html>gateway</html>")) as d,
        client(d.url) as c,
        pytest.raises(LLMError) as err,
    ):
        c.chat(HI)
    assert err.value.kind == "protocol" and "not JSON" in str(err.value)
    assert len(d.chats()) == 1


def test_json_schema_is_sent_and_a_refusal_switches_to_json_object() -> None:
    refusal = Act("status", status=422, body=b'{"detail": "response_format.type: json_schema"}')
    with (
        serve(refusal, reply('{"answer": "yes"}'), reply('{"answer": "no"}')) as d,
        client(d.url) as c,
    ):
        c.chat(HI, schema={"type": "object"})
        c.chat(HI, schema={"type": "object"})
    forms = [r["body"]["response_format"] for r in d.chats()]
    assert forms[0]["type"] == "json_schema" and forms[0]["json_schema"]["schema"]
    assert forms[1] == {"type": "json_object", "schema": {"type": "object"}}
    assert forms[2]["type"] == "json_object"  # remembered


def test_llama_cpp_pythons_500_naming_response_format_is_a_refusal_not_a_fault() -> None:
    body = b"{\"error\": {\"message\": \"('body', 'response_format', 'type') literal_error\"}}"
    with (
        serve(Act("status", status=500, body=body), reply('{"answer": "yes"}')) as d,
        client(d.url) as c,
    ):
        c.chat(HI, schema={"type": "object"})
    assert [r["body"]["response_format"]["type"] for r in d.chats()] == [
        "json_schema",
        "json_object",
    ]


def test_streaming_hands_over_text_as_it_comes() -> None:
    pieces: list[str] = []
    ledger = TokenLedger("t")
    with serve(reply("one two three")) as d, client(d.url, ledger) as c:
        got = c.chat(HI, stream=True, on_text=pieces.append)
    assert got.content == "one two three" and len(pieces) == 3 and got.streamed
    assert d.chats()[0]["body"]["stream"] is True
    assert ledger.calls[0].completion_tokens == 7 and ledger.calls[0].streamed


def test_a_schema_invalid_reply_is_retried_once_with_the_error() -> None:
    ledger = TokenLedger("t")
    with (
        serve(reply('{"answr": "yes"}'), reply('{"answer": "yes"}')) as d,
        client(d.url, ledger) as c,
    ):
        got = ask(c, HI, YesNo, purpose="probe")
    assert got.value == YesNo(answer="yes") and got.retried and got.calls == 2
    retry = d.chats()[1]["body"]["messages"]
    assert "refused" in retry[-1]["content"] and "answer" in retry[-1]["content"]
    assert [c.outcome for c in ledger.calls] == ["invalid", "ok"]
    assert not ledger.fallbacks


def test_two_invalid_replies_give_the_fallback_and_it_is_booked() -> None:
    ledger = TokenLedger("t")
    with serve(reply("not json at all"), reply('{"answer": 3}')) as d, client(d.url, ledger) as c:
        got = ask(c, HI, YesNo, purpose="probe")
    assert got.value is None and got.calls == 2 and "did not validate" in (got.reason or "")
    assert [c.outcome for c in ledger.calls] == ["invalid", "invalid"]
    assert ledger.fallbacks == [{"purpose": "probe", "reason": got.reason}]


def test_an_endpoint_error_gives_the_fallback_without_a_second_ask() -> None:
    ledger = TokenLedger("t")
    with serve(Act("status", status=401)) as d, client(d.url, ledger) as c:
        got = ask(c, HI, YesNo, purpose="probe")
    assert got.value is None and got.reason and got.reason.startswith("http")
    assert len(d.chats()) == 1 and len(ledger.fallbacks) == 1


def test_a_400_to_both_json_forms_gives_the_fallback() -> None:
    ledger = TokenLedger("t")
    with (
        serve(Act("status", status=400), Act("status", status=400)) as d,
        client(d.url, ledger) as c,
    ):
        got = ask(c, HI, YesNo, purpose="probe")
    assert got.value is None and len(d.chats()) == 2 and len(ledger.fallbacks) == 1


def test_the_ledger_is_json_and_appends_one_line_per_command(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ledger = TokenLedger("report")
    with serve(reply("a"), reply("b")) as d, client(d.url, ledger) as c:
        c.chat(HI)
        c.chat(HI)
    doc = json.loads(ledger.write(tmp_path / "llm-ledger.json").read_text())
    assert doc["totals"]["calls"] == 2 and doc["totals"]["prompt_tokens"] == 22
    ledger.append(tmp_path / "all.jsonl")
    ledger.append(tmp_path / "all.jsonl")
    lines = (tmp_path / "all.jsonl").read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[1])["command"] == "report"
