"""A tiny OpenAI-compatible HTTP server for the error paths a real model cannot be made to take.

It speaks the real protocol over a real socket (``GET /v1/models``, ``POST
/v1/chat/completions``, JSON or server-sent events), and answers each chat request with the next
scripted :class:`Act`: a reply, an HTTP error, a delay, a body that is not JSON, a dropped
connection. Every request is recorded (path, headers, JSON body) for the test to inspect.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Act:
    """One scripted answer. ``kind``: reply, status, raw (a body as given), close (drop the
    connection), stream, echo (an error quoting the request's headers back)."""

    kind: str = "reply"
    content: str = "ok"
    status: int = 200
    body: bytes = b""
    delay: float = 0.0
    usage: dict[str, Any] | None = field(
        default_factory=lambda: {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
    )


def reply(content: str, **kw: Any) -> Act:
    return Act("reply", content, **kw)


@dataclass
class Double:
    url: str
    acts: list[Act]
    requests: list[dict[str, Any]]
    models: list[str]
    answer: Callable[[Any], Act] | None = None  # asked for each request once ``acts`` ran out

    def chats(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"].endswith("/chat/completions")]


def _handler(double: Double) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            double.requests.append({"path": self.path, "headers": dict(self.headers), "body": None})
            if self.path.rstrip("/").endswith("/models"):
                data = [{"id": m, "object": "model", "owned_by": "test"} for m in double.models]
                self._send(200, json.dumps({"object": "list", "data": data}).encode())
            else:
                self._send(404, b'{"error": "not found"}')

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            raw = self.rfile.read(length)
            body = json.loads(raw) if raw else None
            double.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
            if double.acts:
                act = double.acts.pop(0)
            else:
                act = double.answer(body) if double.answer is not None else Act()
            if act.delay:
                time.sleep(act.delay)
            if act.kind == "close":
                self.close_connection = True
                self.connection.close()
                return
            if act.kind == "status":
                self._send(act.status, act.body or b'{"error": {"message": "boom"}}')
                return
            if act.kind == "echo":  # a careless server that quotes the request's headers
                quoted = {
                    "message": "bad request",
                    "authorization": self.headers.get("Authorization"),
                }
                self._send(act.status or 500, json.dumps({"error": quoted}).encode())
                return
            if act.kind == "raw":
                self._send(200, act.body)
                return
            model = (body or {}).get("model") or double.models[0]
            if act.kind == "stream" or (body or {}).get("stream"):
                self._stream(act, model)
                return
            payload = {
                "id": "chatcmpl-test",
                "object": "chat.completion",
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": act.content},
                        "finish_reason": "stop",
                    }
                ],
            }
            if act.usage is not None:
                payload["usage"] = act.usage
            self._send(200, json.dumps(payload).encode())

        def _stream(self, act: Act, model: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            words = act.content.split(" ")
            for i, word in enumerate(words):
                piece = word if i == 0 else " " + word
                chunk = {"model": model, "choices": [{"index": 0, "delta": {"content": piece}}]}
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
            end = {"model": model, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
            self.wfile.write(f"data: {json.dumps(end)}\n\n".encode())
            if act.usage is not None:
                usage = {"model": model, "choices": [], "usage": act.usage}
                self.wfile.write(f"data: {json.dumps(usage)}\n\n".encode())
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
            self.close_connection = True

    return Handler


@contextmanager
def serve(
    *acts: Act,
    models: tuple[str, ...] = ("double-model",),
    answer: Callable[[Any], Act] | None = None,
) -> Iterator[Double]:
    """A double on 127.0.0.1 (a free port) for the ``with`` block; after the scripted ``acts``,
    ``answer(request body)`` gives each answer (else a reply "ok")."""
    double = Double("", list(acts), [], list(models), answer)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(double))
    server.daemon_threads = True
    double.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield double
    finally:
        server.shutdown()
        server.server_close()


def free_port_url() -> str:
    """A URL where nothing listens (a port just released)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"
