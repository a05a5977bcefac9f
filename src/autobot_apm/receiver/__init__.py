"""An embedded OTLP receiver: a collector stand-in on loopback for tests and the demo.

It accepts OTLP/gRPC and OTLP/HTTP (binary protobuf, optionally gzip) for traces,
metrics and logs, decodes them into plain records, and can imitate a failing
collector::

    from autobot_apm.receiver import OTLPReceiver

    with OTLPReceiver() as rx:
        ...  # point an exporter at rx.grpc_endpoint or f"{rx.http_endpoint}/v1/traces"
        spans = rx.wait_for_spans(2)
        rx.mode = "unavailable"  # the next exports fail, as with a collector that is down
"""

from ._faults import MODES
from ._model import (
    ReceivedEvent,
    ReceivedExemplar,
    ReceivedLink,
    ReceivedLog,
    ReceivedMetric,
    ReceivedPoint,
    ReceivedRequest,
    ReceivedSpan,
)
from ._receiver import OTLPReceiver

__all__ = [
    "MODES",
    "OTLPReceiver",
    "ReceivedEvent",
    "ReceivedExemplar",
    "ReceivedLink",
    "ReceivedLog",
    "ReceivedMetric",
    "ReceivedPoint",
    "ReceivedRequest",
    "ReceivedSpan",
]
