"""is_excluded_request: the configured ``excluded_urls``, as a predicate on an ASGI scope.

Made for ``FastAPI(telemetry={"exclude": ...})``, so that FastAPI's own telemetry, where
an application keeps it, skips the requests this library skips.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from typing import Any, Final

from .._sdk.parsers.values import parse_url_list
from .._sdk.settings import SETTINGS_BY_NAME
from .._sdk.state import STATE
from .._tracking import runtime as _runtime
from .attributes import pick_headers, request_url
from .options import compile_exclusions

_EXCLUSION_VARIABLES: Final = SETTINGS_BY_NAME["excluded_urls"].env


def is_excluded_request(scope: MutableMapping[str, Any]) -> bool:
    """Whether the configured ``excluded_urls`` (or the default list) match this request.

    Made to be given to FastAPI, so that its own telemetry skips the same requests when
    APMMiddleware is added with ``app.add_middleware``::

        app = FastAPI(telemetry={"exclude": apm.is_excluded_request})
        app.add_middleware(apm.APMMiddleware)
    """
    runtime = _runtime.current
    # Compiled once per configure(); unconfigured, once per value of the variables.
    source = runtime if runtime is not None else tuple(map(os.environ.get, _EXCLUSION_VARIABLES))
    caches = STATE.caches
    if caches.exclusions[0] != source:
        caches.exclusions = (source, compile_exclusions(_configured_exclusions(runtime)))
    pattern = caches.exclusions[1]
    if pattern is None or scope.get("type") not in ("http", "websocket"):
        return False
    host = pick_headers(scope.get("headers") or (), {b"host": "host"}).get("host")
    return pattern.search(request_url(scope, host)) is not None


def _configured_exclusions(runtime: _runtime.Runtime | None) -> tuple[str, ...] | None:
    if runtime is not None:
        patterns: tuple[str, ...] | None = runtime.settings.excluded_urls
        return patterns
    for variable in _EXCLUSION_VARIABLES:
        if os.environ.get(variable, "").strip():
            return parse_url_list(variable, os.environ[variable])
    return None
