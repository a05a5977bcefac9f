"""FastAPI's own telemetry, handed over to APMMiddleware; track_api stacked above a route.

FastAPI (0.165 on) makes its own server span, duration record and exception logs for
every request once SDK providers exist, and only its constructor configures that
(``FastAPI(telemetry={...})``). An application built before ``apm.configure()`` has
it on. When APMMiddleware sits in an app's own middleware stack, FastAPI has already
started its span before the middleware runs, so the middleware switches FastAPI's
telemetry off for that app: the app keeps the configuration its constructor built in
``app._telemetry`` and reads it again for every request, so setting ``tracing``,
``metrics`` and ``logs`` to False there is the same as having passed them to the
constructor. The class and identity of the application stay as they are.

A middleware that wraps the app from outside needs none of this: it sets the
``fastapi.telemetry`` scope key, FastAPI's public signal that a request is observed.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from contextlib import suppress
from typing import Any, Final

from .._sdk.state import STATE

logger = logging.getLogger("autobot_apm")

_TELEMETRY_OFF: Final = {"tracing": False, "metrics": False, "logs": False}


def remember_tracked_original(fn: object) -> None:
    # A callable without weak references (a builtin) is no route endpoint to check.
    with suppress(TypeError):
        STATE.track_api_originals[id(fn)] = fn


def is_fastapi_app(app: object) -> bool:
    fastapi = sys.modules.get("fastapi")  # not imported: no FastAPI app can exist
    return fastapi is not None and isinstance(app, fastapi.FastAPI)


def switch_off_native_telemetry(app: object, middleware_class: type) -> None:
    """Turn FastAPI's own telemetry off for ``app`` if ``middleware_class`` is in its stack.

    The check keeps a middleware that merely runs under some FastAPI app (a wrapped
    sub-application mounted in it) from switching off the parent's telemetry.
    """
    if not is_fastapi_app(app) or not _has_middleware(app, middleware_class):
        return
    config = vars(app).get("_telemetry")
    if isinstance(config, dict) and "tracing" in config:
        config.update(_TELEMETRY_OFF)
    native = vars(app).get("_native_telemetry")
    enabled = getattr(native, "enabled", None)
    warned = STATE.caches.fastapi_warned
    if callable(enabled) and enabled() and id(app) not in warned:
        warned.add(id(app))
        logger.warning(
            "autobot-apm: could not switch off FastAPI's own telemetry for this app; its "
            "server spans are enriched instead of replaced. Build the app with "
            'FastAPI(telemetry={"tracing": False, "metrics": False, "logs": False})'
        )


def warn_routes_tracked_above(app: object) -> None:
    """Log each route whose endpoint is the undecorated function of a ``track_api``."""
    for route in _routes(app):
        endpoint = getattr(route, "endpoint", None)
        if endpoint is not None and _is_tracked_original(endpoint):
            warn_tracked_above(endpoint, getattr(route, "path", "?"))


def warn_tracked_above(endpoint: object, path: str) -> None:
    warned = STATE.caches.fastapi_warned
    if id(endpoint) in warned:
        return
    warned.add(id(endpoint))
    logger.warning(
        "autobot-apm: @track_api is stacked above the route decorator of %s (%s): the "
        "framework registered the undecorated function, so track_api never runs for "
        "this route. Put @apm.track_api below @app.get/@app.post, or leave it out: "
        "APMMiddleware and instrument_fastapi already trace every route.",
        getattr(endpoint, "__qualname__", endpoint),
        path,
    )


def check_route_order(fn: object) -> None:
    """At decoration: warn if ``fn`` is the endpoint a router has just registered.

    A route decorator returns the function it registered, unchanged; a decorator
    above it wraps a function the router will never call. The router is found among
    the module's globals (``app``, ``router``), as the newest of its routes.
    """
    module_globals = getattr(fn, "__globals__", None)
    if "starlette.routing" not in sys.modules or not isinstance(module_globals, dict):
        return
    for value in list(module_globals.values()):
        routes = _routes(value)
        if routes and getattr(routes[-1], "endpoint", None) is fn:
            warn_tracked_above(fn, getattr(routes[-1], "path", "?"))
            return


def _is_tracked_original(endpoint: object) -> bool:
    return STATE.track_api_originals.get(id(endpoint)) is endpoint


def _routes(app: object) -> list[Any]:
    """The route list of a Starlette/FastAPI app or router; [] for anything else."""
    starlette = sys.modules.get("starlette.routing")
    applications = sys.modules.get("starlette.applications")
    if applications is not None and isinstance(app, applications.Starlette):
        app = app.router
    if starlette is None or not isinstance(app, starlette.Router):
        return []
    routes = app.routes
    return routes if isinstance(routes, list) else []


def _has_middleware(app: object, middleware_class: type) -> bool:
    stack: Iterable[Any] = getattr(app, "user_middleware", None) or ()
    return any(getattr(entry, "cls", None) is middleware_class for entry in stack)
