"""One HTTP request under APMMiddleware: its span, its timing, its status.

The request is an :class:`~autobot_apm.api.ApiOperation`, so the status, error and
metric rules of ``track_api`` apply unchanged; this module adds what only a server
sees: the response messages. The request ends when the last body chunk has been sent
(a streaming response is timed to its end, background tasks that run afterwards are
not), when the application fails, or when it returns without finishing the response.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.trace import Span, set_span_in_context

from .._tracking.errors import report_internal_error
from .._tracking.handle import OPERATION_KEY, Operation
from .._tracking.lifecycle import deactivate, finish
from ..api import ApiOperation, server_span_name
from .attributes import route_template
from .options import RequestOptions

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]

_SERVER_TIMING = b"server-timing"
# Where a fault reading the response start is reported (the name @contained would give).
_READ_RESPONSE_START = f"{__name__}.ServerRequest._read_response_start"


class ServerRequest(ApiOperation):
    """A request whose server span this middleware started and ends."""

    __slots__ = (
        "_client_gone",
        "_complete",
        "_ended_at",
        "_options",
        "_receive",
        "_scope",
        "_send",
        "_trailers",
    )

    def __init__(
        self,
        options: RequestOptions,
        span: Span,
        scope: MutableMapping[str, Any],
        metric_attributes: dict[str, Any],
        receive: Receive,
        send: Send,
        *,
        started: float,
        owns_span: bool = True,
    ) -> None:
        super().__init__(None, options.runtime, span, owns_span=owns_span, parent_context=_EMPTY)
        self._started = started
        self._metric_attributes = metric_attributes
        self._options = options
        self._scope: MutableMapping[str, Any] | None = scope  # None once the app returned
        self._complete = False
        self._client_gone = False
        self._trailers = False
        self._ended_at: tuple[float, int] | None = None
        self._receive = receive
        self._send = send

    async def run(
        self, app: ASGIApp, scope: MutableMapping[str, Any], parent: otel_context.Context
    ) -> None:
        """Run the application with this request's span current; end it as the app ends."""
        self._context_token = otel_context.attach(
            otel_context.set_value(OPERATION_KEY, self, set_span_in_context(self.span, parent))
        )
        try:
            await app(scope, self.receive, self.send)
        except BaseException as exc:
            finish(self, exc)
            raise
        else:
            self._returned()
        finally:
            deactivate(self)
            self._let_go()

    def _let_go(self) -> None:
        """Drop what only the running application needed, so that it dies with the request.

        The handle outlives the request wherever the request's context was copied: the
        keep-alive timer a server schedules from within ``send`` (uvicorn does), a task
        the application started. Through the scope and the server's ``receive`` and
        ``send`` it would keep the whole request alive with it (the scope, the
        framework's objects in it, the server's request cycle) until the next request on
        the connection, long enough for the collector to move all of it to an older
        generation. After the application has returned, a kept ``receive`` answers as a
        server does once the response is over, and a kept ``send`` goes nowhere.
        """
        self._scope = None
        self._receive = _receive_after_return
        self._send = _send_after_return

    # --- the application's view of receive and send ---

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.disconnect" and not self._complete:
            self._client_gone = True  # the client left before it had the whole response
        return message

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            message = self._on_response_start(message)
        await self._send(message)
        if kind == "http.response.body":
            if not message.get("more_body", False) and not self._trailers:
                self._completed()
        elif kind == "http.response.trailers":
            if not message.get("more_trailers", False):
                self._completed()
        elif kind == "http.response.pathsend":
            self._completed()

    # --- what the messages tell ---

    def _on_response_start(self, message: Message) -> Message:
        """The message to forward: the application's own, or a copy with Server-Timing."""
        # Contained here rather than by @contained: on the path of every request, the
        # decorator's extra frame and argument packing were a measurable share of ours.
        try:
            return self._read_response_start(message)
        except Exception as exc:
            report_internal_error(_READ_RESPONSE_START, exc)
            return message

    def _read_response_start(self, message: Message) -> Message:
        self._record_status(message["status"])
        self._trailers = bool(message.get("trailers", False))
        if not self._options.hooks_response:
            return message
        headers = message.get("headers") or ()
        captured = self._options.response_headers.attributes(headers, "http.response.header.")
        if captured:
            self.span.set_attributes(captured)
        if self._options.server_timing and (value := _server_timing(self.span)) is not None:
            return {**message, "headers": [*headers, (_SERVER_TIMING, value)]}
        return message

    def _completed(self) -> None:
        self._complete = True
        if self._client_gone:
            self._set_cancelled()  # the last byte went out after the client had gone
        elif self._owns_span and self._status_code is not None and self._status_code >= 500:
            # Starlette's ServerErrorMiddleware sends its 500, then re-raises the exception:
            # wait for it, so that it is recorded, but stop the clock here.
            self._ended_at = (time.perf_counter() - self._started, time.time_ns())
            return
        finish(self, None)

    @property
    def elapsed(self) -> float:
        """Seconds from the request's arrival to its last response byte (or to now)."""
        return self._ended_at[0] if self._ended_at is not None else super().elapsed

    def _returned(self) -> None:
        """The application returned: end the request if its response did not."""
        if self._ended:
            return  # the last response byte ended it (the usual case)
        if self._complete:
            finish(self, None)  # a 5xx response waited for an exception that did not come
            return
        if self._client_gone:
            self._set_cancelled()
        elif self._status_code is None:
            self._record_status(500)  # what the server answers for an application that sent nothing
        else:
            self.fail("incomplete_response")  # the server closes the connection
        finish(self, None)

    # --- engine hooks ---

    def _on_exception(self, exc: BaseException) -> None:
        if self._client_gone:
            self._set_cancelled()  # errors after a disconnect are the disconnect's echo
        elif isinstance(exc, Exception):
            if self._status_code is None:
                self._record_status(500)  # the server answers 500 to an application that raised
            Operation._on_exception(self, exc)
        else:
            super()._on_exception(exc)

    def _on_end(self, duration: float) -> None:
        scope = self._scope  # present: a request ends before its application returns
        route = route_template(scope) if scope is not None else None
        route = route or _route_set_by_track_api(self.span)
        if route is not None:
            self._metric_attributes["http.route"] = route
            self.span.set_attribute("http.route", route)
            method = self._metric_attributes["http.request.method"]
            self.span.update_name(server_span_name(method, route))
        super()._on_end(duration)
        if self._ended_at is not None:
            self._owns_span = False  # ended here, at the time the response did
            self.span.end(end_time=self._ended_at[1])


class EnrichingServerRequest(ServerRequest):
    """A request that already has a server span: add to it, never end or count it.

    The span is FastAPI's own (APMMiddleware added with ``app.add_middleware``) or another
    server instrumentation's. Its owner sees the final response, sets the status, ends
    the span and records the duration, so that a request is never counted twice.
    """

    __slots__ = ()

    def _on_exception(self, exc: BaseException) -> None:
        return

    def _on_end(self, duration: float) -> None:
        return

    def _returned(self) -> None:
        return


_EMPTY = otel_context.Context()


async def _receive_after_return() -> Message:
    return {"type": "http.disconnect"}  # what a server answers once the response is over


async def _send_after_return(message: Message) -> None:
    # The application that sent it has returned: its response is over (servers raise
    # for such a message, or drop it when the connection is gone) and so is its span.
    # Dropped here in every case: the instrumentation never raises into the application.
    return None


def _route_set_by_track_api(span: Span) -> str | None:
    # A plain ASGI application has no router: track_api(route=...) on its handler may
    # have named the route on this span. Read it back for the metric.
    route = (getattr(span, "attributes", None) or {}).get("http.route")
    return route if isinstance(route, str) else None


def _server_timing(span: Span) -> bytes | None:
    """``traceparent;desc="00-<trace id>-<span id>-<flags>"``: a browser's Resource
    Timing entry then names the trace this response belongs to."""
    context = span.get_span_context()
    if not context.is_valid:
        return None
    flags = int(context.trace_flags) & 0xFF
    value = f'traceparent;desc="00-{context.trace_id:032x}-{context.span_id:016x}-{flags:02x}"'
    return value.encode("ascii")
