"""autobot-apm: OpenTelemetry traces and metrics for Python services, in a few decorators.

::

    import autobot_apm as apm

    apm.configure(service_name="checkout")

    @apm.track_api(route="/carts/{cart_id}", method="GET")
    async def get_cart(cart_id: int): ...

    with apm.track_database("postgresql", query="SELECT * FROM carts WHERE id = %s") as op:
        rows = cursor.fetchall()
        op.rows(len(rows))
"""

from ._sdk.health import telemetry_health
from ._sdk.logs import (
    TraceContextFilter,
    TraceContextFormatter,
    instrument_logging,
    uninstrument_logging,
)
from ._sdk.pools import ConnectionPool, observe_connection_pool
from ._sdk.setup import configure, is_configured, shutdown
from ._tracking.errors import ConfigurationError
from ._tracking.handle import Operation, current_operation
from ._version import VERSION as _VERSION
from .api import ApiOperation, track_api
from .asgi import APMMiddleware, instrument_fastapi, is_excluded_request
from .cache import CacheOperation, track_cache
from .database import DatabaseOperation, track_database
from .http_client import instrument_http_clients, uninstrument_http_clients
from .llm import LlmOperation, track_llm
from .messaging import MessageOperation, track_message
from .operation import TrackedOperation, track_operation
from .propagation import (
    ContextThreadPoolExecutor,
    attach_context,
    extract,
    inject,
    propagate_context,
    track_background,
)
from .sampler import Sampler, describe_hardware, start_sampler

__version__ = _VERSION

__all__ = [
    "APMMiddleware",
    "ApiOperation",
    "CacheOperation",
    "ConfigurationError",
    "ConnectionPool",
    "ContextThreadPoolExecutor",
    "DatabaseOperation",
    "LlmOperation",
    "MessageOperation",
    "Operation",
    "Sampler",
    "TraceContextFilter",
    "TraceContextFormatter",
    "TrackedOperation",
    "attach_context",
    "configure",
    "current_operation",
    "describe_hardware",
    "extract",
    "inject",
    "instrument_fastapi",
    "instrument_http_clients",
    "instrument_logging",
    "is_configured",
    "is_excluded_request",
    "observe_connection_pool",
    "propagate_context",
    "shutdown",
    "start_sampler",
    "telemetry_health",
    "track_api",
    "track_background",
    "track_cache",
    "track_database",
    "track_llm",
    "track_message",
    "track_operation",
    "uninstrument_http_clients",
    "uninstrument_logging",
]
