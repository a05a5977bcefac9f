"""A fake LLM server on 127.0.0.1: OpenAI-compatible and Ollama-style endpoints.

* ``POST /v1/chat/completions``: a JSON answer, or with ``"stream": true`` server-sent
  events (``data: {...}`` chunks, a usage chunk when ``stream_options.include_usage``,
  then ``data: [DONE]``);
* ``POST /api/chat``: Ollama's NDJSON stream (the default), the last line ``done: true``
  with ``prompt_eval_count``, ``eval_count`` and durations; one JSON object with
  ``"stream": false``.

Request headers steer it: ``x-fake-chunks`` (content chunks, default 4), ``x-fake-delay``
(seconds before each chunk), ``x-fake-fail-after`` (drop the connection after that many
chunks, mid-body), ``x-fake-status`` (answer with that HTTP error instead).
Usage: one input token per word of the prompt, one output token per chunk.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

WORDS = ("Paris", "is", "the", "capital", "of", "France", "and", "its", "largest", "city")
SNAPSHOT = "-2024-07-18"  # the OpenAI endpoint answers with a dated model, as OpenAI does


def completion_words(count: int) -> list[str]:
    """The words the server sends, one per chunk."""
    return [WORDS[i % len(WORDS)] + " " for i in range(count)]


class FakeLLMServer:
    """Start with ``with FakeLLMServer() as server:``; ``server.base_url`` is where to call."""

    def __init__(self) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []  # JSON bodies received, in order
        self.dropped = threading.Event()  # set when a client went away mid-stream

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeLLMServer:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.drop_connections()  # wakes handlers waiting on keep-alive reads
        self._server.server_close()  # joins every handler thread
        if self._thread is not None:
            self._thread.join(timeout=5)

    def record(self, body: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() waits for the handlers: nothing outlives a test
    fake: FakeLLMServer

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()

    def drop_connections(self) -> None:
        with self.connections_lock:
            for connection in self.connections:
                with contextlib.suppress(OSError):  # already closed
                    connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10  # no connection outlives this, whatever the client does
    server: _Server

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        with contextlib.suppress(OSError):  # the client is gone
            super().finish()

    def log_message(self, *args: Any) -> None:
        return  # quiet: tests read telemetry, not access logs

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
        self.server.fake.record(body)
        status = int(self.headers.get("x-fake-status", 200))
        if status != 200:
            self._send_json(status, {"error": {"message": "fake failure", "type": "server_error"}})
        elif self.path == "/v1/chat/completions":
            self._openai(body)
        elif self.path == "/api/chat":
            self._ollama(body)
        else:
            self._send_json(404, {"error": {"message": f"no route {self.path}"}})

    # --- OpenAI ---------------------------------------------------------------------

    def _openai(self, body: dict[str, Any]) -> None:
        words = completion_words(int(self.headers.get("x-fake-chunks", 4)))
        model = str(body.get("model", "unknown")) + SNAPSHOT
        usage = {"prompt_tokens": _prompt_tokens(body), "completion_tokens": len(words)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        if not body.get("stream"):
            message = {"role": "assistant", "content": "".join(words)}
            choice = {"index": 0, "message": message, "finish_reason": "stop"}
            self._send_json(200, {"id": "chatcmpl-fake", "object": "chat.completion",
                                  "model": model, "choices": [choice], "usage": usage})  # fmt: skip
            return
        events = [_openai_chunk(model, {"content": word}, None) for word in words]
        events.append(_openai_chunk(model, {}, "stop"))
        if (body.get("stream_options") or {}).get("include_usage"):
            events.append({**_openai_chunk(model, {}, None), "choices": [], "usage": usage})
        lines = [f"data: {json.dumps(event)}\n\n" for event in events] + ["data: [DONE]\n\n"]
        self._stream("text/event-stream", lines, len(words))

    # --- Ollama ---------------------------------------------------------------------

    def _ollama(self, body: dict[str, Any]) -> None:
        words = completion_words(int(self.headers.get("x-fake-chunks", 4)))
        model = str(body.get("model", "unknown"))
        done = {
            "model": model, "created_at": "2025-01-01T00:00:00Z",
            "message": {"role": "assistant", "content": ""},
            "done": True, "done_reason": "stop",
            "total_duration": 250_000_000, "load_duration": 50_000_000,
            "prompt_eval_count": _prompt_tokens(body), "prompt_eval_duration": 40_000_000,
            "eval_count": len(words), "eval_duration": 150_000_000,
        }  # fmt: skip
        if body.get("stream") is False:
            done["message"] = {"role": "assistant", "content": "".join(words)}
            self._send_json(200, done)
            return
        lines = [json.dumps({"model": model, "created_at": done["created_at"], "done": False,
                             "message": {"role": "assistant", "content": word}}) + "\n"
                 for word in words]  # fmt: skip
        self._stream("application/x-ndjson", [*lines, json.dumps(done) + "\n"], len(words))

    # --- HTTP -----------------------------------------------------------------------

    def _send_json(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, content_type: str, pieces: list[str], content_chunks: int) -> None:
        """Send ``pieces`` as HTTP chunks; fail mid-body or stop if the client leaves."""
        delay = float(self.headers.get("x-fake-delay", 0))
        fail_after = int(self.headers.get("x-fake-fail-after", -1))
        self.send_response(200)
        self.send_header("content-type", content_type)
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        try:
            for index, piece in enumerate(pieces):
                if index == fail_after:
                    self.close_connection = True  # no terminating chunk: a broken body
                    return
                if delay and index < content_chunks:
                    time.sleep(delay)
                data = piece.encode()
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        except OSError:  # broken pipe, reset: the client went away
            self.close_connection = True
            self.server.fake.dropped.set()


def _openai_chunk(model: str, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": model,
            "choices": [choice]}  # fmt: skip


def _prompt_tokens(body: dict[str, Any]) -> int:
    messages = body.get("messages") or []
    return sum(len(str(message.get("content", "")).split()) for message in messages)
