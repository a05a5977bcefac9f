"""OTLP span export requests written straight to protobuf's wire format.

The SDK's ``encode_spans`` builds a protobuf message object for every span, attribute
and value, then serializes them; here the same bytes are written directly, with the
resource, the scopes and the repeating attribute pairs encoded once. The result is
equal byte for byte to ``encode_spans(spans).SerializeToString()``, and any batch this
encoder cannot write as the SDK would is handed to the SDK's encoder.
"""

from .request import SpanRequestEncoder, sdk_request_bytes

__all__ = ["SpanRequestEncoder", "sdk_request_bytes"]
