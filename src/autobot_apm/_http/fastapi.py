"""instrument_fastapi(app): APMMiddleware as the outermost layer of a FastAPI application.

``app.add_middleware`` cannot do this: FastAPI starts its own telemetry for a request
in ``FastAPI.__call__``, before the middleware stack runs, and decides there, from the
``fastapi.telemetry`` scope key, whether someone else already observes the request.
Only code that runs before ``FastAPI.__call__`` can set that key, so the application
object itself has to call the middleware first. Subclassing FastAPI and overriding
``__call__`` is the ordinary way to do that; ``instrument_fastapi`` does it for an
existing object, by moving it to such a subclass of its own class (``isinstance`` and
every attribute stay as they were), so that ``uvicorn main:app`` keeps working with no
change to what is served.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from ..asgi import APMMiddleware

AppT = TypeVar("AppT")

_MIDDLEWARE_ATTRIBUTE = "_autobot_apm_middleware"
_instrumented_classes: dict[type, type] = {}


def instrument_fastapi(
    app: AppT,
    *,
    excluded_urls: str | Iterable[str] | None = None,
    capture_request_headers: str | Iterable[str] | None = None,
    capture_response_headers: str | Iterable[str] | None = None,
    sanitize_header_fields: str | Iterable[str] | None = None,
    server_timing: bool | None = None,
) -> AppT:
    """Put :class:`APMMiddleware` in front of a FastAPI (or Starlette) app; return the app.

    The middleware then owns each request's server span and duration metric, and
    FastAPI's own telemetry steps aside for every request it sees, health checks
    included. The arguments are those of :class:`APMMiddleware`. Calling it again on
    the same app changes nothing::

        app = FastAPI()
        apm.instrument_fastapi(app)
    """
    from ..asgi import APMMiddleware  # asgi imports this module: import here, not at the top

    if type(app).__module__ == "builtins" or not isinstance(getattr(app, "__dict__", None), dict):
        raise TypeError(
            "instrument_fastapi() takes a FastAPI or Starlette application object; "
            f"wrap any other ASGI application with APMMiddleware(app), not {type(app).__name__}"
        )
    if isinstance(vars(app).get(_MIDDLEWARE_ATTRIBUTE), APMMiddleware):
        return app
    original_call = type(app).__call__.__get__(app)  # bound before the class changes
    middleware = APMMiddleware(
        original_call,
        excluded_urls=excluded_urls,
        capture_request_headers=capture_request_headers,
        capture_response_headers=capture_response_headers,
        sanitize_header_fields=sanitize_header_fields,
        server_timing=server_timing,
    )
    setattr(app, _MIDDLEWARE_ATTRIBUTE, middleware)
    app.__class__ = _instrumented_class(type(app))
    return app


def _instrumented_class(cls: type) -> type:
    """A subclass of ``cls`` whose ``__call__`` goes through the app's middleware."""
    subclass = _instrumented_classes.get(cls)
    if subclass is None:
        namespace = {
            "__call__": _call_through_middleware,
            "__module__": cls.__module__,
            "__qualname__": cls.__qualname__,
            "__doc__": cls.__doc__,
        }
        subclass = _instrumented_classes[cls] = type(cls.__name__, (cls,), namespace)
    return subclass


async def _call_through_middleware(
    self: Any, scope: MutableMapping[str, Any], receive: Any, send: Any
) -> None:
    middleware: APMMiddleware = getattr(self, _MIDDLEWARE_ATTRIBUTE)
    await middleware(scope, receive, send)
