"""GenAI semantic conventions: span name and attributes of every operation, with and
without the gen_ai_latest_experimental opt-in, and names checked against the installed
registry (opentelemetry-semantic-conventions)."""

from collections.abc import Iterator
from typing import ClassVar

import pytest
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes
from opentelemetry.semconv._incubating.metrics import gen_ai_metrics
from opentelemetry.trace import SpanKind

from autobot_apm._llm.semconv import LATEST_ONLY
from autobot_apm.llm import track_llm
from autobot_apm.testing import Capture, capture_telemetry

LATEST = "gen_ai_latest_experimental"
REGISTRY = {
    value
    for module in (gen_ai_attributes, gen_ai_metrics)
    for name, value in vars(module).items()
    if name.startswith("GEN_AI_") and isinstance(value, str)
}
# (track_llm arguments, span name, kind, attributes expected on the span)
OPERATIONS = [
    ({"operation": "chat"}, "chat gpt-4o", SpanKind.CLIENT, {}),
    ({"operation": "text_completion"}, "text_completion gpt-4o", SpanKind.CLIENT, {}),
    ({"operation": "generate_content"}, "generate_content gpt-4o", SpanKind.CLIENT, {}),
    ({"operation": "embeddings"}, "embeddings gpt-4o", SpanKind.CLIENT, {}),
    (
        {"operation": "retrieval", "data_source": "handbook", "top_k": 5},
        "retrieval handbook",
        SpanKind.CLIENT,
        {"gen_ai.data_source.id": "handbook", "gen_ai.request.top_k": 5},
    ),
    (
        {"operation": "execute_tool", "tool_name": "get_weather", "tool_call_id": "call_1",
         "tool_description": "Weather by city", "tool_type": "function"},
        "execute_tool get_weather",
        SpanKind.INTERNAL,
        {"gen_ai.tool.name": "get_weather", "gen_ai.tool.call.id": "call_1",
         "gen_ai.tool.description": "Weather by city", "gen_ai.tool.type": "function"},
    ),
    (
        {"operation": "invoke_agent", "agent_name": "planner", "agent_id": "asst_1",
         "agent_description": "Plans trips", "agent_version": "2"},
        "invoke_agent planner",
        SpanKind.CLIENT,
        {"gen_ai.agent.name": "planner", "gen_ai.agent.id": "asst_1",
         "gen_ai.agent.description": "Plans trips", "gen_ai.agent.version": "2"},
    ),
    (
        {"operation": "create_agent", "agent_name": "planner"},
        "create_agent planner",
        SpanKind.CLIENT,
        {"gen_ai.agent.name": "planner"},
    ),
]  # fmt: skip


@pytest.fixture(params=["default", "latest"])
def capture(request: pytest.FixtureRequest) -> Iterator[Capture]:
    """Telemetry captured without, then with, the latest-conventions opt-in."""
    opt_in = LATEST if request.param == "latest" else ""
    with capture_telemetry(semconv_stability_opt_in=opt_in) as captured:
        yield captured


def streamed(capture: Capture, usage: dict[str, object]) -> dict[str, object]:
    """The attributes of a streamed call of three chunks, the last carrying ``usage``."""

    @track_llm("openai", "gpt-4o", stream=True)
    def answer():
        yield {"choices": [{"delta": {"content": "a"}}]}
        yield {"choices": [{"delta": {"content": "b"}, "finish_reason": "stop"}]}
        yield {"choices": [], "usage": usage}

    list(answer())
    return dict(capture.span("chat gpt-4o").attributes or {})


class TestSpanNames:
    @pytest.mark.parametrize(("arguments", "name", "kind", "expected"), OPERATIONS)
    def test_every_operation(self, capture: Capture, arguments, name, kind, expected):
        """Each operation gets the conventions' span name, kind and attributes."""
        with track_llm("openai", "gpt-4o", **arguments):
            pass
        span = capture.span(name)
        assert kind == span.kind
        assert arguments["operation"] == span.attributes["gen_ai.operation.name"]
        assert "openai" == span.attributes["gen_ai.provider.name"]
        assert expected == {key: span.attributes[key] for key in expected}

    def test_without_a_name_the_operation_alone(self, capture: Capture):
        """A tool call whose tool is not named is the span `execute_tool`."""
        with track_llm("openai", operation="execute_tool"):
            pass
        assert SpanKind.INTERNAL == capture.span("execute_tool").kind

    def test_names_are_in_the_installed_registry(self, capture: Capture):
        """Every gen_ai.* span attribute and metric emitted exists in the registry."""
        for arguments, _, _, _ in OPERATIONS:
            with track_llm("openai", "gpt-4o", **arguments) as op:
                op.usage(1, 2, cache_read_input_tokens=1, reasoning_output_tokens=1)
                op.chunk()
                op.chunk()
        keys = {key for span in capture.spans for key in span.attributes or {}}
        names = keys | set(capture.metrics())
        assert set() == {name for name in names if name.startswith("gen_ai.")} - REGISTRY


class TestOptIn:
    USAGE: ClassVar[dict[str, object]] = {
        "prompt_tokens": 9, "completion_tokens": 2,
        "prompt_tokens_details": {"cached_tokens": 4},
        "completion_tokens_details": {"reasoning_tokens": 1},
    }  # fmt: skip

    def test_default_keeps_the_newest_facts_under_our_names(self):
        """Without the opt-in: stream, first-chunk time, cache and reasoning tokens are
        under autobot_apm.gen_ai.*, and none of the latest names is emitted."""
        with capture_telemetry() as capture:
            attributes = streamed(capture, self.USAGE)
            assert 0 == capture.histogram_count("gen_ai.client.operation.time_per_output_chunk")
        assert set() == set(LATEST_ONLY) & set(attributes)
        assert attributes["autobot_apm.gen_ai.request.stream"] is True
        assert 4 == attributes["autobot_apm.gen_ai.usage.cache_read.input_tokens"]
        assert 1 == attributes["autobot_apm.gen_ai.usage.reasoning.output_tokens"]
        assert 0 <= attributes["autobot_apm.gen_ai.response.time_to_first_chunk"]

    def test_latest_uses_the_conventions_names(self):
        """With gen_ai_latest_experimental: the latest names, and none of ours for them."""
        with capture_telemetry(semconv_stability_opt_in=f"http,{LATEST}") as capture:
            attributes = streamed(capture, self.USAGE)
        assert set() == set(LATEST_ONLY.values()) & set(attributes)
        assert attributes["gen_ai.request.stream"] is True
        assert 4 == attributes["gen_ai.usage.cache_read.input_tokens"]
        assert 1 == attributes["gen_ai.usage.reasoning.output_tokens"]
        assert 0 <= attributes["gen_ai.response.time_to_first_chunk"]

    def test_reported_cache_writes(self):
        """Cache writes given to op.usage() take the registry's cache_creation name."""
        with capture_telemetry(semconv_stability_opt_in=LATEST) as capture:
            with track_llm("anthropic", "claude") as op:
                op.usage(10, 2, cache_creation_input_tokens=6)
            attributes = capture.span("chat claude").attributes
        assert 6 == attributes["gen_ai.usage.cache_creation.input_tokens"]

    def test_time_per_output_chunk(self):
        """With the opt-in, one time_per_output_chunk record per chunk after the first."""
        with capture_telemetry(semconv_stability_opt_in=LATEST) as capture:
            streamed(capture, self.USAGE)
            (point,) = capture.metric_points("gen_ai.client.operation.time_per_output_chunk")
        assert 2 == point.count
        assert "gpt-4o" == point.attributes["gen_ai.request.model"]
        assert 0 <= point.min

    def test_declared_stream_follows_the_mode(self):
        """A declared stream=True is a request attribute under the names in force."""
        for opt_in, key in (("", "autobot_apm.gen_ai.request.stream"),
                            (LATEST, "gen_ai.request.stream")):  # fmt: skip
            with capture_telemetry(semconv_stability_opt_in=opt_in) as capture:
                with track_llm("openai", "m", stream=True):
                    pass
                assert capture.span("chat m").attributes[key] is True
