"""track_llm: LLM calls as GenAI spans and metrics, streamed answers included.

Names follow the GenAI semantic conventions (in development): span
``{gen_ai.operation.name} {gen_ai.request.model}`` (``retrieval {gen_ai.data_source.id}``
for retrievals), kind CLIENT; metrics ``gen_ai.client.operation.duration``,
``gen_ai.client.token.usage`` and, for streams, ``gen_ai.client.operation.time_to_first_chunk``.

Where no convention exists the names are this library's own:

* ``autobot_apm.gen_ai.cost`` (span, US dollars) and the counter
  ``autobot_apm.gen_ai.client.cost`` (unit ``{USD}``: UCUM has no currency, so the currency
  is an annotation), from the ``llm_prices`` table given to configure();
* ``autobot_apm.gen_ai.output_tokens_per_second`` and ``autobot_apm.gen_ai.response.chunks``;
* ``autobot_apm.gen_ai.retrieval.result_count`` and ``.best_score`` (``op.retrieved()``);
* ``autobot_apm.gen_ai.server.{total,load,prompt_eval,eval}_duration`` (s), from Ollama.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar, overload

from opentelemetry.context import Context
from opentelemetry.trace import SpanKind

from ._llm.operation import LlmOperation
from ._llm.semconv import in_force
from ._llm.settings import llm_settings, parse_prices
from ._tracking.attributes import OTHER, coerce_attributes, integer_argument, text_argument
from ._tracking.options import (
    NO_EXTRAS,
    ExtraAttributes,
    MetricValue,
    extra_attributes,
    is_bare,
)
from ._tracking.runtime import Runtime
from ._tracking.tracker import Tracker

__all__ = ["LlmOperation", "LlmTracker", "parse_prices", "track_llm"]

F = TypeVar("F", bound=Callable[..., Any])

# Request parameters as users (and the OpenAI/Ollama APIs) name them -> semconv attribute.
REQUEST_PARAMETERS = {
    **{name: f"gen_ai.request.{name}" for name in (
        "max_tokens", "temperature", "top_p", "top_k", "frequency_penalty",
        "presence_penalty", "seed", "stop_sequences", "stream", "encoding_formats")},
    "max_completion_tokens": "gen_ai.request.max_tokens",
    "max_output_tokens": "gen_ai.request.max_tokens",
    "num_predict": "gen_ai.request.max_tokens",
    "stop": "gen_ai.request.stop_sequences",
    "n": "gen_ai.request.choice.count",
    "choice_count": "gen_ai.request.choice.count",
    "conversation_id": "gen_ai.conversation.id",
    "output_type": "gen_ai.output.type",
}  # fmt: skip


# Tool and agent descriptions given as keyword arguments -> semconv attribute.
SUBJECT_ATTRIBUTES = {
    "tool_name": "gen_ai.tool.name",
    "tool_call_id": "gen_ai.tool.call.id",
    "tool_description": "gen_ai.tool.description",
    "tool_type": "gen_ai.tool.type",
    "agent_name": "gen_ai.agent.name",
    "agent_id": "gen_ai.agent.id",
    "agent_description": "gen_ai.agent.description",
    "agent_version": "gen_ai.agent.version",
}
# track_llm's own keywords besides its request parameters (for the unknown-keyword error).
LLM_KEYWORDS = (
    "provider", "model", "operation", "server_address", "server_port", "data_source",
    *SUBJECT_ATTRIBUTES,
)  # fmt: skip
# Operations named by what they act on rather than by the model (semconv span names).
NAMED_BY = {
    "retrieval": "gen_ai.data_source.id",
    "execute_tool": "gen_ai.tool.name",
    "invoke_agent": "gen_ai.agent.name",
    "create_agent": "gen_ai.agent.name",
}
# A tool runs in the process that calls it; every other operation calls out.
INTERNAL_OPERATIONS = frozenset({"execute_tool"})


class LlmTracker(Tracker[LlmOperation]):
    """What ``track_llm(...)`` returns; request attributes are computed once, here."""

    operation_class = LlmOperation

    def __init__(
        self,
        *,
        provider: str,
        model: str | None,
        operation: str,
        server_address: str | None,
        server_port: int | None,
        data_source: str | None,
        subject: Mapping[str, Any] | None = None,
        request_params: Mapping[str, Any],
        extras: ExtraAttributes = NO_EXTRAS,
    ) -> None:
        # Any value is accepted at decoration: text, cut to a limit, never raising.
        provider = text_argument(provider) or OTHER
        operation = text_argument(operation) or "chat"
        model, server_address, data_source = (
            text_argument(value) for value in (model, server_address, data_source)
        )
        server_port = integer_argument(server_port)
        common = {
            "gen_ai.operation.name": operation,
            "gen_ai.provider.name": provider,
            "gen_ai.request.model": model,
            "server.address": server_address,
            "server.port": server_port,
        }
        span_attributes = {
            **extras.span,
            **common,
            "gen_ai.data_source.id": data_source,
            **subject_attributes(subject or {}),
            **request_attributes(request_params),
        }
        span_attributes = {k: v for k, v in span_attributes.items() if v is not None}
        super().__init__(
            span_name=span_name(operation, span_attributes),
            span_kind=SpanKind.INTERNAL if operation in INTERNAL_OPERATIONS else SpanKind.CLIENT,
            span_attributes=in_force(span_attributes, latest=False),
            metric_attributes={**extras.metric, **common},
        )
        # Under the latest conventions (an opt-in read per runtime) the names differ.
        self.latest_span_attributes = coerce_attributes(span_attributes)

    def _start(self, runtime: Runtime, parent_context: Context | None) -> LlmOperation:
        latest = llm_settings(runtime).latest
        span = runtime.tracer.start_span(
            self.span_name,
            context=parent_context,
            kind=self.span_kind,
            attributes=self.latest_span_attributes if latest else self.span_attributes,
        )
        return LlmOperation(self, runtime, span, parent_context=parent_context)


def span_name(operation: str, attributes: Mapping[str, Any]) -> str:
    """``{operation} {model}``; a retrieval is named by its data source, a tool call by its
    tool, an agent by its name."""
    target = attributes.get(NAMED_BY.get(operation, "gen_ai.request.model"))
    return f"{operation} {target}" if target else operation


def subject_attributes(subject: Mapping[str, Any]) -> dict[str, Any]:
    """The tool and agent attributes of the keyword arguments given, as short text."""
    return {SUBJECT_ATTRIBUTES[name]: text_argument(value) for name, value in subject.items()}


def request_attributes(params: Mapping[str, Any]) -> dict[str, Any]:
    """Span attributes for request parameters given by their short names."""
    attributes: dict[str, Any] = {}
    for name, value in params.items():
        key = REQUEST_PARAMETERS[name]
        if key == "gen_ai.request.stop_sequences" and isinstance(value, str):
            value = (value,)
        if key == "gen_ai.request.choice.count" and type(value) is int and value == 1:
            continue  # semconv: recorded only when it is not 1
        attributes[key] = value
    return attributes


@overload
def track_llm(fn: F, /) -> F: ...
@overload
def track_llm(
    provider: str,
    model: str | None = None,
    *,
    operation: str = "chat",
    server_address: str | None = None,
    server_port: int | None = None,
    data_source: str | None = None,
    tool_name: str | None = None,
    tool_call_id: str | None = None,
    tool_description: str | None = None,
    tool_type: str | None = None,
    agent_name: str | None = None,
    agent_id: str | None = None,
    agent_description: str | None = None,
    agent_version: str | None = None,
    attributes: Mapping[str, object] | None = None,
    metric_attributes: Mapping[str, MetricValue] | None = None,
    **request_params: Any,
) -> LlmTracker: ...
def track_llm(
    provider: Any = None,
    model: str | None = None,
    *,
    operation: str = "chat",
    server_address: str | None = None,
    server_port: int | None = None,
    data_source: str | None = None,
    tool_name: str | None = None,
    tool_call_id: str | None = None,
    tool_description: str | None = None,
    tool_type: str | None = None,
    agent_name: str | None = None,
    agent_id: str | None = None,
    agent_description: str | None = None,
    agent_version: str | None = None,
    attributes: Mapping[str, object] | None = None,
    metric_attributes: Mapping[str, MetricValue] | None = None,
    **request_params: Any,
) -> Any:
    """Track an LLM call: a CLIENT span, its duration, token usage and, for streams, the
    time to the first chunk.

    ``provider`` and ``model`` may be given positionally: ``track_llm("openai", "gpt-4o")``.
    ``provider`` is the ``gen_ai.provider.name`` (``openai``, ``anthropic``, ``ollama``,
    ``vllm``...), ``model`` the requested model; request parameters (``max_tokens``,
    ``temperature``, ``top_p``, ``stop``...) become ``gen_ai.request.*`` attributes.
    Usage is read from the result (OpenAI, Anthropic, Ollama shapes) unless reported with
    ``op.usage()``. A decorated generator, or a function returning a stream of chunks,
    keeps the span open until the stream ends; in a ``with`` block call ``op.chunk()``.

    Tool calls and agents are named by the conventions' rule: ``operation="execute_tool"``
    with ``tool_name=`` (span ``execute_tool {tool_name}``, INTERNAL), ``"invoke_agent"`` or
    ``"create_agent"`` with ``agent_name=``; ``tool_call_id``, ``tool_description``,
    ``tool_type``, ``agent_id``, ``agent_description`` and ``agent_version`` become the
    ``gen_ai.tool.*`` and ``gen_ai.agent.*`` attributes.

    Extra keywords, as for every tracker: the request parameters above are track_llm's
    own keywords; ``attributes={...}`` are span attributes (any key);
    ``metric_attributes={...}`` are low-cardinality labels of the GenAI metrics, also set
    on the span; a keyword with a dot in its name (``**{"myapp.tier": "gold"}``) is a span
    attribute; any other keyword is a TypeError here, naming the close match.

    Example::

        @apm.track_llm(provider="openai", model="gpt-4o-mini", temperature=0.2)
        def ask(question):
            return client.chat.completions.create(model="gpt-4o-mini", messages=[...])

        with apm.track_llm(provider="ollama", model="llama3.2") as op:
            for line in response.iter_lines():
                op.chunk(json.loads(line))
    """
    subject = {
        "tool_name": tool_name, "tool_call_id": tool_call_id,
        "tool_description": tool_description, "tool_type": tool_type,
        "agent_name": agent_name, "agent_id": agent_id,
        "agent_description": agent_description, "agent_version": agent_version,
    }  # fmt: skip
    fn = provider if is_bare(provider, model) else None
    if fn is not None:
        provider = None  # bare @track_llm: the provider is not known
    elif provider is None:
        raise TypeError("track_llm() needs a provider, e.g. track_llm('openai', 'gpt-4o')")
    params = {name: value for name, value in request_params.items() if name in REQUEST_PARAMETERS}
    extras = extra_attributes(
        "track_llm",
        (*LLM_KEYWORDS, *REQUEST_PARAMETERS),
        {name: value for name, value in request_params.items() if name not in params},
        attributes=attributes,
        metric_attributes=metric_attributes,
    )
    tracker = LlmTracker(
        provider=OTHER if provider is None else provider,
        model=model,
        operation=operation,
        server_address=server_address,
        server_port=server_port,
        data_source=data_source,
        subject={name: value for name, value in subject.items() if value is not None},
        request_params=params,
        extras=extras,
    )
    return tracker(fn) if fn is not None else tracker
