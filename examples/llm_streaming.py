"""Streaming LLM calls with track_llm: time to first chunk, tokens, cost, early stops.

Runs without any model: a small OpenAI-compatible server is started on 127.0.0.1 for the
length of the script (it streams a canned answer, slowly, as server-sent events). Point
it at a real OpenAI-compatible server instead, e.g. Ollama or vLLM:

    python examples/llm_streaming.py
    LLM_BASE_URL=http://127.0.0.1:11434/v1 LLM_MODEL=llama3.2 python examples/llm_streaming.py

With no collector configured, each trace is printed as a tree (look for ``ttfc=`` and the
token counts) and the metrics table at exit shows ``gen_ai.client.*`` and the cost.
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import autobot_apm as apm
from autobot_apm.llm import LlmOperation, track_llm

MODEL = os.environ.get("LLM_MODEL", "demo-mini")
PRICES = {"demo-mini": (0.15, 0.60)}  # US dollars per million input / output tokens


def stream_chat(base_url: str, question: str) -> Iterator[dict[str, Any]]:
    """Chunks of an OpenAI-style streamed chat completion (the last one carries usage)."""
    messages = [{"role": "user", "content": question}]
    apm.current_operation(LlmOperation).prompt(messages)  # kept only if capture is on
    body = {"model": MODEL, "messages": messages, "stream": True,
            "stream_options": {"include_usage": True}}  # fmt: skip
    request = urllib.request.Request(  # noqa: S310  # the URL is http(s), set by this script
        f"{base_url}/chat/completions",
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310  # as above
        for line in response:
            text = line.decode().strip()
            if text.startswith("data: ") and text != "data: [DONE]":
                yield json.loads(text.removeprefix("data: "))


# The decorator keeps the span open while the caller reads the stream: it ends when the
# stream is exhausted, closed, abandoned or fails, whichever comes first.
ask = track_llm(provider="openai", model=MODEL, server_address="127.0.0.1")(stream_chat)


@apm.track_api(route="/ask", method="POST")
def handle_question(base_url: str, question: str, max_chunks: int | None = None) -> str:
    words: list[str] = []
    for chunk in ask(base_url, question):
        choices = chunk.get("choices") or [{}]
        words.append(choices[0].get("delta", {}).get("content") or "")
        if max_chunks is not None and len(words) >= max_chunks:
            break  # the user stopped reading: the LLM span ends here, not as an error
    return "".join(words)


def main() -> None:
    apm.configure(service_name="llm-streaming", llm_prices=PRICES)
    with serve_fake_llm() as fake_url:
        base_url = os.environ.get("LLM_BASE_URL", fake_url)
        print("answer:", handle_question(base_url, "What is the capital of France?"))
        print("stopped early:", handle_question(base_url, "Tell me a long story.", 3))
    apm.shutdown()  # flushes: the last traces and the metrics table are printed now


# --- a stand-in for an OpenAI-compatible server, on loopback only ------------------------

ANSWER = "Paris is the capital and largest city of France ."


class _FakeLLM(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        model = body.get("model", MODEL)
        words = ANSWER.split()
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        try:
            time.sleep(0.12)  # the model "thinks" before the first token
            for word in words:
                self._event({"model": model, "choices": [{"delta": {"content": word + " "}}]})
                time.sleep(0.02)
            usage = {"prompt_tokens": 7, "completion_tokens": len(words)}
            self._event({"model": model, "choices": [{"delta": {}, "finish_reason": "stop"}]})
            self._event({"model": model, "choices": [], "usage": usage})
            self._send(b"data: [DONE]\n\n")
            self.wfile.write(b"0\r\n\r\n")
        except OSError:  # the client stopped reading and closed the connection
            self.close_connection = True

    def _event(self, payload: dict[str, Any]) -> None:
        self._send(f"data: {json.dumps(payload)}\n\n".encode())

    def _send(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def log_message(self, *args: Any) -> None:
        return


@contextmanager
def serve_fake_llm() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeLLM)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


if __name__ == "__main__":
    main()
