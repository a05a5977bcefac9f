"""Cost of encoding spans for OTLP export: the SDK's encoder against ours, per span.

The export thread turns each batch into the bytes of an ``ExportTraceServiceRequest``.
The SDK builds a protobuf message per span, attribute and value and serializes them
(``encode_spans(spans).SerializeToString()``); ``autobot_apm._sdk.encoding`` writes the
same bytes directly. Both encode the same batch of 512 spans, as the batch processor
exports them: 256 server spans with the 12 attributes our middleware records, each
with a database client span below it, made by the SDK with the library's resource and
scope. The bytes are checked equal before anything is timed.

    python -m benchmarks.bench_encode [--quick] [--clock cpu]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from autobot_apm._sdk.encoding import SpanRequestEncoder, sdk_request_bytes
from autobot_apm._sdk.setup import INSTRUMENTATION_SCOPE

from ._harness import Result, Runner, Settings, Variant, command_line, measure, quartiles, verdict

BATCH = 512
SDK = "SDK: encode_spans(spans).SerializeToString()"
OURS = "autobot-apm SpanRequestEncoder, one per exporter"
OURS_FRESH = "autobot-apm SpanRequestEncoder, a new one per batch (nothing cached)"
SDK_BUILD_ONLY = "SDK: encode_spans(spans), message objects only"


def server_attributes(number: int) -> dict[str, str | int]:
    return {
        "http.request.method": "GET",
        "url.scheme": "http",
        "url.path": f"/items/{number}",
        "http.route": "/items/{id}",
        "server.address": "127.0.0.1",
        "server.port": 8000,
        "network.protocol.version": "1.1",
        "network.peer.address": "127.0.0.1",
        "network.peer.port": 40000 + number % 1000,
        "client.address": "127.0.0.1",
        "user_agent.original": "python-httpx/0.28.1",
        "http.response.status_code": 200,
    }


DATABASE_ATTRIBUTES = {
    "db.system.name": "postgresql",
    "db.namespace": "shop",
    "db.operation.name": "SELECT",
    "db.collection.name": "items",
    "db.query.text": "SELECT id, name, price FROM items WHERE id = $1",
    "server.address": "db.internal",
    "server.port": 5432,
}


def typical_batch() -> Sequence[ReadableSpan]:
    """512 ended spans: a server span and its database client span, 256 times."""
    exporter = InMemorySpanExporter()
    resource = Resource.create({"service.name": "shop", "service.version": "1.4.2"})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer(INSTRUMENTATION_SCOPE, "0.1.0")
    for number in range(BATCH // 2):
        attributes = server_attributes(number)
        with (
            tracer.start_as_current_span(
                "GET /items/{id}", kind=SpanKind.SERVER, attributes=attributes
            ),
            tracer.start_as_current_span(
                "SELECT items", kind=SpanKind.CLIENT, attributes=DATABASE_ATTRIBUTES
            ),
        ):
            pass
    provider.shutdown()
    return exporter.get_finished_spans()


def encoding(
    encode: Callable[[Sequence[ReadableSpan]], object], spans: Sequence[ReadableSpan]
) -> Runner:
    """``run(n)``: encode the batch ``n`` times."""

    def run(count: int) -> None:
        for _ in range(count):
            encode(spans)

    return run


def variants(spans: Sequence[ReadableSpan]) -> list[Variant]:
    kept = SpanRequestEncoder()
    return [
        Variant(SDK, encoding(sdk_request_bytes, spans)),
        Variant(SDK_BUILD_ONLY, encoding(encode_spans, spans)),
        Variant(OURS, encoding(kept.encode, spans)),
        Variant(OURS_FRESH, encoding(lambda batch: SpanRequestEncoder().encode(batch), spans)),
    ]


def check_identical(spans: Sequence[ReadableSpan]) -> int:
    """The request's size in bytes, once ours and the SDK's are known to be equal."""
    encoder = SpanRequestEncoder()
    ours = encoder.encode(spans)
    if ours != sdk_request_bytes(spans) or encoder.batches_left_to_sdk:
        raise RuntimeError("the two encoders disagree: nothing timed")
    return len(ours)


def per_span_table(results: Sequence[Result]) -> str:
    lines = [
        f"#### One batch of {BATCH} spans encoded (µs per span; ratios to the SDK's encoder)",
        "",
        "| variant | µs per span (median) | µs IQR | x SDK (median) | ratio IQR |",
        "|---|---:|---:|---:|---:|",
    ]
    for result in results:
        low_us, high_us = (value / BATCH for value in quartiles(result.per_call_us))
        low, high = result.ratio_spread
        lines.append(
            f"| {result.name} | {result.median_us / BATCH:.2f} | {low_us:.2f}-{high_us:.2f} "
            f"| {result.ratio:.2f} | {low:.2f}-{high:.2f} |"
        )
    return "\n".join(lines)


def run(quick: bool, clock: str = "cpu") -> str:
    spans = typical_batch()
    size = check_identical(spans)
    base = Settings.for_mode(quick, clock)
    # One call is a whole batch (milliseconds): longer batches than the per-call default.
    settings = Settings(base.rounds if quick else 31, base.batch_seconds * 5, clock)
    results = measure(variants(spans), SDK, settings)
    ours = next(result for result in results if result.name == OURS)
    return "\n".join(
        [
            per_span_table(results),
            "",
            f"- the request: {size} bytes, identical byte for byte from both encoders",
            verdict("our encoder vs the SDK's (issue 15: at least 2x faster)", ours.ratio, 0.5),
        ]
    )


def main() -> None:
    command_line(__doc__ or "", run)


if __name__ == "__main__":
    main()
