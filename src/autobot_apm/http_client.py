"""Outgoing HTTP requests: a CLIENT span, a duration, and the trace sent along.

One call, :func:`instrument_http_clients`, covers ``httpx.Client``,
``httpx.AsyncClient`` and ``requests.Session`` (so ``requests.get`` too). Each request
gets one CLIENT span named ``{method}`` with the stable HTTP attributes (``url.full``
with credentials and signatures redacted, ``server.address``, ``server.port``,
``http.response.status_code``, ``error.type``), one ``http.client.request.duration``
record, and the ``traceparent`` (and ``baggage``) headers of that span.

The span covers the whole logical call as the client library sees it (``send``): httpx
follows redirects inside one span; requests nests one span per redirect. For a streamed
response it ends when the headers have arrived. A 4xx or 5xx status marks the span as an
error, as the conventions ask of clients.

Requests made while OpenTelemetry suppresses instrumentation (the SDK's exporters do,
while they send telemetry) are not tracked, so exporting never makes more telemetry.
"""

from __future__ import annotations

import sys
import threading
from types import ModuleType
from typing import Any, Final

import wrapt

from ._http.client_spans import HttpClientTracker, tracker_for
from .propagation import inject

__all__ = ["HttpClientTracker", "instrument_http_clients", "uninstrument_http_clients"]

# (module, class, method, whether the method is a coroutine function)
_TARGETS: Final = (
    ("httpx", "Client", "send", False),
    ("httpx", "AsyncClient", "send", True),
    ("requests", "Session", "send", False),
)

_lock = threading.RLock()  # import hooks may run while instrument_http_clients() holds it
_state: dict[str, bool] = {"enabled": False}
_hooked_modules: set[str] = set()
# (class, method name) -> (the original function, the wrapper installed in its place)
_patched: dict[tuple[type, str], tuple[Any, Any]] = {}


def instrument_http_clients() -> None:
    """Track every outgoing request made with httpx or requests from now on.

    Safe to call more than once. Libraries that are not installed are skipped, and
    libraries not imported yet are not imported by this call: they are instrumented
    when the application imports them. Call it once at start-up, next to configure().
    """
    with _lock:
        if _state["enabled"]:
            return
        _state["enabled"] = True
        for module_name in sorted({target[0] for target in _TARGETS}):
            if module_name not in _hooked_modules:
                _hooked_modules.add(module_name)
                wrapt.register_post_import_hook(_on_import, module_name)
            elif module_name in sys.modules:
                _patch(sys.modules[module_name])


def uninstrument_http_clients() -> None:
    """Undo :func:`instrument_http_clients`: clients send requests untracked again."""
    with _lock:
        _state["enabled"] = False
        for (owner, method), (original, wrapper) in list(_patched.items()):
            if owner.__dict__.get(method) is wrapper:
                setattr(owner, method, original)
            del _patched[(owner, method)]


def _on_import(module: ModuleType) -> None:
    with _lock:
        if _state["enabled"]:
            _patch(module)


def _patch(module: ModuleType) -> None:
    for module_name, class_name, method, is_async in _TARGETS:
        owner = getattr(module, class_name, None) if module.__name__ == module_name else None
        original = owner.__dict__.get(method) if isinstance(owner, type) else None
        if owner is None or original is None or (owner, method) in _patched:
            continue
        wrapper = wrapt.FunctionWrapper(original, _send_async if is_async else _send)
        setattr(owner, method, wrapper)
        _patched[(owner, method)] = (original, wrapper)


def _send(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    request = args[0] if args else kwargs.get("request")
    tracker = tracker_for(request)
    if tracker is None:
        return wrapped(*args, **kwargs)
    with tracker as operation:
        inject(getattr(request, "headers", None))
        response = wrapped(*args, **kwargs)
        operation.response(response)
        return response


async def _send_async(
    wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    request = args[0] if args else kwargs.get("request")
    tracker = tracker_for(request)
    if tracker is None:
        return await wrapped(*args, **kwargs)
    async with tracker as operation:
        inject(getattr(request, "headers", None))
        response = await wrapped(*args, **kwargs)
        operation.response(response)
        return response
