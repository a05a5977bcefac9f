"""A batch of spans as the bytes of an OTLP ``ExportTraceServiceRequest``.

Spans are grouped as the SDK's ``encode_spans`` groups them: by resource, then by
instrumentation scope, each compared by its own ``__eq__`` and ``__hash__`` and kept in
the order first seen, the first object of each group standing for it. A span whose
resource and scope objects were seen before in the batch skips the SDK's resource hash
(a JSON dump of every resource attribute). The encoded resource and scope are kept
between batches, by object: the provider's resource and a tracer's scope are immutable
and live as long as the process.

Whatever this encoder cannot write as the SDK would (see ``UnencodableError``), or any fault
of its own, makes it hand the whole batch to the SDK's encoder, which then decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan

from .spans import write_span
from .values import AttributeWriter
from .wire import append_text, delimited

# Encodings of resources and scopes kept between batches, by object; past this many
# distinct objects the table is dropped whole (spans of a short-lived provider each).
OBJECT_CACHE_LIMIT = 64

_Groups = dict[Any, dict[Any, list[bytes]]]


def sdk_request_bytes(spans: Sequence[ReadableSpan]) -> bytes:
    """The SDK's encoding of ``spans``: the reference this encoder must equal."""
    encoded: bytes = encode_spans(spans).SerializeToString()
    return encoded


class SpanRequestEncoder:
    """Encodes span batches; one per exporter, used by its export thread."""

    def __init__(self) -> None:
        self._attributes = AttributeWriter()
        self._resources: dict[int, tuple[Any, bytes]] = {}
        self._scopes: dict[int, tuple[Any, bytes]] = {}
        self.batches_left_to_sdk = 0

    def encode(self, spans: Sequence[ReadableSpan]) -> bytes:
        """The request's bytes, equal to ``encode_spans(spans).SerializeToString()``."""
        try:
            return self._encode(spans)
        except Exception:  # the SDK's encoder decides, and raises if it must
            self.batches_left_to_sdk += 1
            return sdk_request_bytes(spans)

    def _encode(self, spans: Sequence[ReadableSpan]) -> bytes:
        parts = []
        for resource, scopes in self._group(spans).items():
            body = self._resource_spans(resource, scopes)
            parts.append(b"\x0a")
            parts.append(delimited(body))
        return b"".join(parts)

    def _group(self, spans: Sequence[ReadableSpan]) -> _Groups:
        groups: _Groups = {}
        # (id of resource, id of scope) -> the group's list; every object stays alive in
        # the batch, so an id cannot be reused within it.
        by_identity: dict[tuple[int, int], list[bytes]] = {}
        attributes = self._attributes
        for span in spans:
            resource = span.resource
            scope = span.instrumentation_scope or None
            encoded = write_span(span, attributes)
            bucket = by_identity.get((id(resource), id(scope)))
            if bucket is None:
                bucket = groups.setdefault(resource, {}).setdefault(scope, [])
                by_identity[(id(resource), id(scope))] = bucket
            bucket.append(encoded)
        return groups

    def _resource_spans(self, resource: Any, scopes: dict[Any, list[bytes]]) -> bytes:
        parts = [b"\x0a", self._cached(self._resources, resource, self._resource)]
        for scope, spans in scopes.items():
            parts.append(b"\x12")
            parts.append(delimited(self._scope_spans(scope, spans)))
        _append_schema_url(resource.schema_url, parts)
        return b"".join(parts)

    def _scope_spans(self, scope: Any, spans: list[bytes]) -> bytes:
        parts = [b"\x0a", self._cached(self._scopes, scope, self._scope)]
        for span in spans:
            parts.append(b"\x12")
            parts.append(delimited(span))
        _append_schema_url(scope.schema_url if scope else None, parts)
        return b"".join(parts)

    @staticmethod
    def _cached(table: dict[int, tuple[Any, bytes]], key: Any, encode: Any) -> bytes:
        """The delimited encoding of ``key``, made once per object while it lives here."""
        entry = table.get(id(key))
        if entry is not None and entry[0] is key:
            return entry[1]
        encoded = delimited(encode(key))
        if len(table) >= OBJECT_CACHE_LIMIT:
            table.clear()
        table[id(key)] = (key, encoded)
        return encoded

    def _resource(self, resource: Any) -> bytes:
        parts: list[bytes] = []
        self._attributes.write(resource.attributes, b"\x0a", parts)
        return b"".join(parts)

    def _scope(self, scope: Any) -> bytes:
        if scope is None:
            return b""
        parts: list[bytes] = []
        append_text(b"\x0a", scope.name, parts)
        append_text(b"\x12", scope.version, parts)
        self._attributes.write(scope.attributes, b"\x1a", parts)
        return b"".join(parts)


def _append_schema_url(schema_url: object, parts: list[bytes]) -> None:
    append_text(b"\x1a", schema_url, parts)
