"""track_llm end to end: LLM calls over real HTTP, telemetry exported over real OTLP."""

import importlib.util
import json
import sys
from pathlib import Path

import httpx
import pytest

import autobot_apm as apm
from autobot_apm.llm import LlmOperation, track_llm
from autobot_apm.receiver import OTLPReceiver

pytestmark = pytest.mark.e2e

MODEL = "gpt-4o-mini"
QUESTION = "What is the capital of France?"  # 6 input tokens for the fake server
PRICES = {MODEL: (0.15, 0.60)}


def _fake_server_class():
    """The fake server lives beside the LLM tests; load it by path."""
    module = sys.modules.get("fake_llm_server")
    if module is None:
        path = Path(__file__).parents[1] / "llm" / "fake_llm_server.py"
        spec = importlib.util.spec_from_file_location("fake_llm_server", path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["fake_llm_server"] = module
        spec.loader.exec_module(module)
    return module.FakeLLMServer


@pytest.fixture
def receiver():
    with OTLPReceiver() as rx:
        yield rx


@pytest.fixture
def client():
    with _fake_server_class()() as server, httpx.Client(base_url=server.base_url) as http:
        yield http


@track_llm(provider="openai", model=MODEL, server_address="127.0.0.1")
def chat_stream(client, headers=None):
    operation = apm.current_operation(LlmOperation)
    operation.set_attribute("app.feature", "faq")
    body = {
        "model": MODEL,
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": QUESTION}],
    }
    operation.prompt(body["messages"])  # recorded only when content capture is on
    with client.stream("POST", "/v1/chat/completions", json=body, headers=headers) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                yield json.loads(line.removeprefix("data: "))


def ollama_chat(client):
    body = {"model": "llama3.2", "messages": [{"role": "user", "content": QUESTION}]}
    with (
        track_llm(provider="ollama", model="llama3.2") as op,
        client.stream("POST", "/api/chat", json=body) as response,
    ):
        for line in response.iter_lines():
            op.chunk(json.loads(line))


def _configure(**settings):
    apm.configure(
        service_name="llm-wire", metric_export_interval=3600, llm_prices=PRICES, **settings
    )


class TestLlmOnTheWire:
    def test_streams_over_http_protobuf(self, receiver, client, monkeypatch):
        """Spans, usage, first-chunk time, cost and opted-in content arrive over OTLP/HTTP."""
        monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "SPAN_ONLY")
        _configure(endpoint=receiver.http_endpoint, protocol="http/protobuf")
        try:
            list(chat_stream(client))
            ollama_chat(client)
        finally:
            assert apm.shutdown(timeout=10)
        spans = receiver.wait_for_spans(2)
        (chat,) = [span for span in spans if span.name == f"chat {MODEL}"]
        assert "CLIENT" == chat.kind
        assert {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.response.model": f"{MODEL}-2024-07-18",
            "gen_ai.usage.input_tokens": 6,
            "gen_ai.usage.output_tokens": 4,
            "gen_ai.response.finish_reasons": ("stop",),
            "app.feature": "faq",
        }.items() <= chat.attributes.items()
        first_chunk = chat.attributes["autobot_apm.gen_ai.response.time_to_first_chunk"]
        assert 0 < first_chunk <= chat.duration_s
        assert (
            pytest.approx((6 * 0.15 + 4 * 0.60) / 1e6) == chat.attributes["autobot_apm.gen_ai.cost"]
        )
        (message,) = json.loads(chat.attributes["gen_ai.input.messages"])
        assert QUESTION == message["parts"][0]["content"]
        (ollama,) = [span for span in spans if span.name == "chat llama3.2"]
        assert 0.25 == ollama.attributes["autobot_apm.gen_ai.server.total_duration"]
        _check_metrics(receiver)

    def test_failures_over_grpc(self, receiver, client):
        """A stream broken mid-body and one abandoned early, over OTLP/gRPC."""
        _configure(endpoint=receiver.grpc_endpoint, protocol="grpc")
        try:
            with pytest.raises(httpx.RemoteProtocolError):
                list(chat_stream(client, headers={"x-fake-fail-after": "2"}))
            for _ in chat_stream(client, headers={"x-fake-chunks": "50"}):
                break
        finally:
            assert apm.shutdown(timeout=10)
        broken, abandoned = sorted(receiver.wait_for_spans(2), key=lambda span: span.start_ns)
        assert ("ERROR", "httpx.RemoteProtocolError") == (
            broken.status_code,
            broken.attributes["error.type"],
        )
        assert 2 == broken.attributes["autobot_apm.gen_ai.response.chunks"]
        assert "UNSET" == abandoned.status_code
        assert 1 == abandoned.attributes["autobot_apm.gen_ai.response.chunks"]
        assert abandoned.attributes["autobot_apm.gen_ai.stream.broken_off"] is True
        assert "autobot_apm.gen_ai.stream.broken_off" not in broken.attributes
        assert "gen_ai.input.messages" not in abandoned.attributes  # capture is off

    def test_latest_conventions_over_http(self, receiver, client, monkeypatch):
        """With gen_ai_latest_experimental: the latest names, tool and retrieval spans and
        time_per_output_chunk arrive over OTLP/HTTP."""
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "gen_ai_latest_experimental")
        _configure(endpoint=receiver.http_endpoint, protocol="http/protobuf")
        try:
            list(chat_stream(client))
            with track_llm("openai", operation="execute_tool", tool_name="get_weather"):
                pass
            with apm.track_database("qdrant", "search", collection="docs", retrieval=True) as op:
                op.retrieved(documents=[("doc-1", 0.9)], top_k=1)
        finally:
            assert apm.shutdown(timeout=10)
        spans = {span.name: span for span in receiver.wait_for_spans(3)}
        chat = spans[f"chat {MODEL}"]
        assert chat.attributes["gen_ai.request.stream"] is True
        assert 0 < chat.attributes["gen_ai.response.time_to_first_chunk"] <= chat.duration_s
        assert "autobot_apm.gen_ai.response.time_to_first_chunk" not in chat.attributes
        tool = spans["execute_tool get_weather"]
        assert ("INTERNAL", "get_weather") == (tool.kind, tool.attributes["gen_ai.tool.name"])
        retrieval = spans["retrieval docs"]
        assert "docs" == retrieval.attributes["gen_ai.data_source.id"]
        assert '[{"id":"doc-1","score":0.9}]' == retrieval.attributes["gen_ai.retrieval.documents"]
        name = "gen_ai.client.operation.time_per_output_chunk"
        receiver.wait_for_metrics(lambda metrics: name in {metric.name for metric in metrics})
        (gaps,) = receiver.latest_metric_points(name)
        assert chat.attributes["autobot_apm.gen_ai.response.chunks"] - 1 == gaps.count


def _check_metrics(rx):
    names = {
        "gen_ai.client.operation.duration",
        "gen_ai.client.token.usage",
        "gen_ai.client.operation.time_to_first_chunk",
        "autobot_apm.gen_ai.client.cost",
    }
    rx.wait_for_metrics(lambda metrics: {metric.name for metric in metrics} >= names)
    durations = rx.latest_metric_points("gen_ai.client.operation.duration")
    assert {"openai", "ollama"} == {p.attributes["gen_ai.provider.name"] for p in durations}
    assert 0.01 == durations[0].explicit_bounds[0]
    tokens = {
        (p.attributes["gen_ai.provider.name"], p.attributes["gen_ai.token.type"]): p.sum
        for p in rx.latest_metric_points("gen_ai.client.token.usage")
    }
    assert {
        ("openai", "input"): 6,
        ("openai", "output"): 4,
        ("ollama", "input"): 6,
        ("ollama", "output"): 4,
    } == tokens
    assert 2 == sum(
        p.count for p in rx.latest_metric_points("gen_ai.client.operation.time_to_first_chunk")
    )
    (cost,) = rx.latest_metric_points("autobot_apm.gen_ai.client.cost")
    assert pytest.approx((6 * 0.15 + 4 * 0.60) / 1e6) == cost.value
    assert MODEL == cost.attributes["gen_ai.request.model"]
