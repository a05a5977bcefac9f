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
from types import ModuleType
from typing import Any, Final

import wrapt

from ._http.client_spans import HttpClientTracker, tracker_for
from ._sdk.state import STATE, on_reset
from .propagation import inject

__all__ = ["HttpClientTracker", "instrument_http_clients", "uninstrument_http_clients"]

# (module, class, method, whether the method is a coroutine function)
_TARGETS: Final = (
    ("httpx", "Client", "send", False),
    ("httpx", "AsyncClient", "send", True),
    ("requests", "Session", "send", False),
)

# What is on and what is patched: STATE.http_clients (reset() uninstruments); the
# libraries with an import hook: STATE.http_import_hooks.


def instrument_http_clients() -> None:
    """Track every outgoing request made with httpx or requests from now on.

    Safe to call more than once. Libraries that are not installed are skipped, and
    libraries not imported yet are not imported by this call: they are instrumented
    when the application imports them. Call it once at start-up, next to configure().
    """
    clients = STATE.http_clients
    with clients.lock:
        if clients.enabled:
            return
        clients.enabled = True
        hooked = STATE.http_import_hooks
        for module_name in sorted({target[0] for target in _TARGETS}):
            if module_name not in hooked:
                hooked.add(module_name)
                wrapt.register_post_import_hook(_on_import, module_name)
            elif module_name in sys.modules:
                _patch(sys.modules[module_name], clients.patched)


def uninstrument_http_clients() -> None:
    """Undo :func:`instrument_http_clients`: clients send requests untracked again."""
    clients = STATE.http_clients
    with clients.lock:
        clients.enabled = False
        for (owner, method), (original, wrapper) in list(clients.patched.items()):
            if owner.__dict__.get(method) is wrapper:
                setattr(owner, method, original)
            del clients.patched[(owner, method)]


# reset() forgets what was patched: unpatch first, so that nothing stays patched unknown.
on_reset(uninstrument_http_clients)


def _on_import(module: ModuleType) -> None:
    clients = STATE.http_clients
    with clients.lock:
        if clients.enabled:
            _patch(module, clients.patched)


def _patch(module: ModuleType, patched: dict[tuple[type, str], tuple[Any, Any]]) -> None:
    for module_name, class_name, method, is_async in _TARGETS:
        owner = getattr(module, class_name, None) if module.__name__ == module_name else None
        original = owner.__dict__.get(method) if isinstance(owner, type) else None
        if owner is None or original is None or (owner, method) in patched:
            continue
        wrapper = wrapt.FunctionWrapper(original, _send_async if is_async else _send)
        setattr(owner, method, wrapper)
        patched[(owner, method)] = (original, wrapper)


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
