"""One OpenAI-compatible chat client over httpx: vLLM, Ollama, llama.cpp's servers, hosted APIs.

Only ``POST {base}/chat/completions`` and ``GET {base}/models`` are used, as the OpenAI API
reference defines them; a JSON reply is asked for with ``response_format`` (OpenAI's
``{"type": "json_schema", "json_schema": {"name", "schema", "strict"}}``, or
``{"type": "json_object", "schema": ...}``, the form llama-cpp-python's server accepts; in
``auto`` mode the second is used after the first is refused with a 400/422).

Every call has a hard deadline: the request runs on a worker thread and the caller stops waiting
when the deadline passes (the worker, bounded by its own HTTP timeout, is abandoned and ends by
itself). Only connection errors and 5xx answers are retried, with doubling back-off, within the
deadline; a 4xx, a timeout or a reply that is not JSON is an :class:`LLMError` at once. Every
message is redacted (:func:`hpcsched.llm.settings.redact`), and each call is booked in the
token ledger when one is given.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, Final

import httpx

from hpcsched.llm.ledger import Call, TokenLedger
from hpcsched.llm.settings import LLMSettings, redact, redact_url
from hpcsched.llm.wire import (
    ChatReply as ChatReply,
)
from hpcsched.llm.wire import (
    LLMError as LLMError,
)
from hpcsched.llm.wire import (
    _delta_text,
    _json,
    _refusal,
    _reply,
    _response_format,
    _sse,
    _until,
)

#: First back-off after a retryable failure (doubled each time).
BACKOFF_S: Final = 0.5
#: Characters of an error body kept in a message.
BODY_CHARS: Final = 300

Message = dict[str, Any]


class _RetryableError(Exception):
    def __init__(self, error: LLMError) -> None:
        super().__init__(str(error))
        self.error = error


class ChatClient:
    """Chat completions against one endpoint; :meth:`close` (or ``with``) when done."""

    def __init__(self, settings: LLMSettings, *, ledger: TokenLedger | None = None) -> None:
        self.settings = settings
        self.ledger = ledger
        #: the JSON form in use; ``auto`` settles on the first that the server accepts
        self.schema_mode = "json_schema" if settings.schema_mode == "auto" else settings.schema_mode
        self._model = settings.model
        headers = {"Accept": "application/json"}
        if settings.secret():
            headers["Authorization"] = f"Bearer {settings.secret()}"
        self._http = httpx.Client(headers=headers, follow_redirects=False)

    def __enter__(self) -> ChatClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- public calls ---------------------------------------------------------------------------

    def models(self, *, deadline: float | None = None) -> list[str]:
        """The model ids ``GET /models`` lists."""
        body = self._call("GET", "models", None, False, self._deadline_at(deadline), None)[0]
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list):
            raise LLMError("protocol", "GET /models: no 'data' list in the reply")
        return [str(m.get("id")) for m in data if isinstance(m, dict) and m.get("id")]

    def model_name(self) -> str | None:
        """The model to ask: the configured one, else the first the server lists."""
        if self._model is None:
            try:
                names = self.models()
            except LLMError:
                return None
            self._model = names[0] if names else None
        return self._model

    def chat(
        self,
        messages: Sequence[Message],
        *,
        schema: dict[str, Any] | None = None,
        schema_name: str = "reply",
        max_tokens: int | None = None,
        purpose: str = "chat",
        stream: bool = False,
        on_text: Callable[[str], None] | None = None,
        deadline: float | None = None,
    ) -> ChatReply:
        """One chat completion. ``schema``: constrain the reply to this JSON schema.

        ``stream``: receive the reply as server-sent events, handing each piece of text to
        ``on_text`` as it comes. Raises :class:`LLMError`; the call is booked either way."""
        start = time.monotonic()
        deadline_at = self._deadline_at(deadline)
        body: dict[str, Any] = {
            "messages": list(messages),
            "max_tokens": max_tokens or self.settings.max_tokens,
            "temperature": self.settings.temperature,
            "stream": stream,
        }
        if stream:
            body["stream_options"] = {"include_usage": True}
        model = self.model_name()
        if model:
            body["model"] = model
        call = Call(purpose=purpose, model=model, streamed=stream)
        try:
            reply = self._chat(body, schema, schema_name, deadline_at, on_text, start)
        except LLMError as exc:
            call.outcome, call.detail = "error", str(exc)
            call.elapsed_s = round(time.monotonic() - start, 3)
            self._book(call)
            raise
        if reply.usage is not None:
            call.prompt_tokens = reply.usage.prompt_tokens
            call.completion_tokens = reply.usage.completion_tokens
            call.reasoning_tokens = reply.usage.reasoning_tokens
        call.model = reply.model or model
        call.elapsed_s, call.attempts = round(reply.elapsed_s, 3), reply.attempts
        self._book(call)
        return replace(reply, call=call)

    # -- internals ------------------------------------------------------------------------------

    def _book(self, call: Call) -> None:
        if self.ledger is not None:
            self.ledger.book(call)

    def _deadline_at(self, deadline: float | None) -> float:
        return time.monotonic() + (deadline if deadline is not None else self.settings.deadline)

    def _chat(
        self,
        body: dict[str, Any],
        schema: dict[str, Any] | None,
        schema_name: str,
        deadline_at: float,
        on_text: Callable[[str], None] | None,
        start: float,
    ) -> ChatReply:
        while True:
            if schema is not None:
                body["response_format"] = _response_format(self.schema_mode, schema, schema_name)
            try:
                data, attempts = self._call(
                    "POST", "chat/completions", body, bool(body["stream"]), deadline_at, on_text
                )
            except LLMError as exc:
                refused = exc.kind == "http" and _refusal(exc.status, str(exc))
                if schema is not None and refused and self._may_switch():
                    self.schema_mode = "json_object"  # llama-cpp-python: json_object + schema
                    continue
                raise
            return _reply(data, attempts, time.monotonic() - start, bool(body["stream"]))

    def _may_switch(self) -> bool:
        return self.settings.schema_mode == "auto" and self.schema_mode == "json_schema"

    def _call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        stream: bool,
        deadline_at: float,
        on_text: Callable[[str], None] | None,
    ) -> tuple[Any, int]:
        """The parsed reply (a JSON value, or the list of stream chunks) and the attempts made."""
        url = self.settings.endpoint(path)
        backoff = BACKOFF_S
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._attempt(method, url, body, stream, deadline_at, on_text), attempt
            except _RetryableError as failure:
                wait = min(backoff, max(deadline_at - time.monotonic(), 0.0))
                if attempt > self.settings.retries or deadline_at - time.monotonic() <= wait:
                    raise failure.error from None
                time.sleep(wait)
                backoff *= 2

    def _attempt(
        self,
        method: str,
        url: str,
        body: dict[str, Any] | None,
        stream: bool,
        deadline_at: float,
        on_text: Callable[[str], None] | None,
    ) -> Any:
        remaining = deadline_at - time.monotonic()
        if remaining <= 0:
            raise self._error("deadline", f"deadline of {self.settings.deadline:g} s passed")
        timeout = min(self.settings.timeout, remaining)
        events: queue.Queue[tuple[str, Any]] = queue.Queue()
        cancel = threading.Event()
        worker = threading.Thread(
            target=self._worker,
            args=(events, cancel, method, url, body, stream, timeout),
            name="llm-request",
            daemon=True,  # abandoned at the deadline; its own timeout ends it
        )
        worker.start()
        chunks: list[dict[str, Any]] = []
        try:
            for kind, value in _until(events, deadline_at):
                if kind == "body":
                    return _json(value, self._error)
                if kind == "line":
                    chunk = _sse(value, self._error)
                    if chunk is None:
                        continue
                    chunks.append(chunk)
                    text = _delta_text(chunk)
                    if text and on_text is not None:
                        on_text(text)
                elif kind == "end":
                    return chunks
                else:
                    raise self._failure(kind, value, url)
        except queue.Empty:
            cancel.set()
            raise self._error(
                "deadline", f"no complete reply within the {self.settings.deadline:g} s deadline"
            ) from None
        raise self._error("protocol", "the request ended without a reply")  # pragma: no cover

    def _worker(
        self,
        events: queue.Queue[tuple[str, Any]],
        cancel: threading.Event,
        method: str,
        url: str,
        body: dict[str, Any] | None,
        stream: bool,
        timeout: float,
    ) -> None:
        limits = httpx.Timeout(timeout, connect=min(timeout, 10.0))
        try:
            with self._http.stream(method, url, json=body, timeout=limits) as response:
                if response.status_code >= 400:
                    events.put(("status", (response.status_code, response.read())))
                    return
                if not stream:
                    events.put(("body", response.read()))
                    return
                for line in response.iter_lines():
                    if cancel.is_set():
                        return
                    events.put(("line", line))
                events.put(("end", None))
        except httpx.TimeoutException as exc:
            events.put(("timeout", exc))
        except httpx.TransportError as exc:
            events.put(("transport", exc))
        except Exception as exc:  # anything else still ends the wait with a message
            events.put(("exception", exc))

    def _failure(self, kind: str, value: Any, url: str) -> Exception:
        where = redact_url(url)
        if kind == "status":
            status, raw = value
            text = raw.decode("utf-8", "replace")[:BODY_CHARS].replace("\n", " ")
            error = self._error("http", f"{where}: HTTP {status}: {text}", status)
            # llama-cpp-python answers a request it cannot validate with a 500 that names the
            # field: that is a refusal of the request's form, not a server fault to retry
            return _RetryableError(error) if status >= 500 and not _refusal(status, text) else error
        if kind == "timeout":
            return self._error("timeout", f"{where}: no reply within {self.settings.timeout:g} s")
        if kind == "transport":
            error = self._error("connect", f"{where}: {type(value).__name__}: {value}")
            return _RetryableError(error)
        return self._error("protocol", f"{where}: {type(value).__name__}: {value}")

    def _error(self, kind: str, message: str, status: int | None = None) -> LLMError:
        return LLMError(kind, redact(message, self.settings.secret()), status)
