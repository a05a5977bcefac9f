"""Streams returned by a tracked LLM call: the call's span ends with the stream.

A decorated function that returns an iterator or async iterator of chunks (an SDK
``Stream``, a generator, ``response.iter_lines()``) has not finished when it returns:
the answer is still arriving. The stream is handed back inside a transparent proxy that
sees each chunk and ends the operation when the stream is exhausted, fails, is closed
(``close()``, ``aclose()``, leaving its ``with`` block) or is dropped by a consumer that
broke out early. Everything else (attributes, ``response``, ``with stream:``) reaches
the wrapped object unchanged.
"""

from __future__ import annotations

import asyncio
import inspect
import io
from collections.abc import Awaitable, Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from types import TracebackType
from typing import Any, Literal

import wrapt

from .._tracking.errors import report_internal_error
from .._tracking.handle import Operation
from .._tracking.lifecycle import activate, deactivate, finish, record_item

StreamKind = Literal["sync", "async"]

# Iterable results that are answers, not streams: text, JSON, files, pydantic models
# (which iterate over their fields).
_ANSWERS = (str, bytes, bytearray, memoryview, Mapping, Sequence, AbstractSet, io.IOBase)


def stream_kind(value: object) -> StreamKind | None:
    """``"async"`` or ``"sync"`` when ``value`` is an iterator of chunks, else None."""
    kind = type(value)
    if issubclass(kind, _ANSWERS) or _is_record(kind):
        return None
    if hasattr(kind, "__anext__"):
        return "async"
    if hasattr(kind, "__next__"):
        return "sync"
    return None


def _is_record(kind: type) -> bool:
    return hasattr(kind, "model_dump") or hasattr(kind, "__fields__")


def wrap_stream(
    stream: Any,
    operation: Operation,
    kind: StreamKind,
    on_broken_off: Callable[[], None] | None = None,
) -> Any:
    """``stream`` inside the proxy that ends ``operation`` with it; ``on_broken_off`` is
    called when the stream is closed or dropped before it was exhausted."""
    proxy = AsyncTrackedStream if kind == "async" else TrackedStream
    return proxy(stream, operation, on_broken_off)


def _cancellation(exc: BaseException | None) -> BaseException | None:
    """Only a cancellation leaving a ``with`` block says something about the stream."""
    return exc if isinstance(exc, asyncio.CancelledError) else None


class _StreamProxy(wrapt.ObjectProxy[Any]):
    """What both proxies share: the operation, and its end when the proxy is dropped."""

    def __init__(
        self, wrapped: Any, operation: Operation, on_broken_off: Callable[[], None] | None = None
    ) -> None:
        super().__init__(wrapped)
        self._self_operation = operation
        self._self_on_broken_off = on_broken_off

    def _end(self, exc: BaseException | None = None) -> None:
        """End the operation before the stream's end: closed, left or dropped."""
        operation = self._self_operation
        if not operation._ended and self._self_on_broken_off is not None:
            self._self_on_broken_off()
        finish(operation, exc)

    def __del__(self) -> None:
        # A consumer that breaks out of its loop drops the stream without closing it.
        try:
            self._self_operation  # noqa: B018 (raises when the proxy was never initialised)
        except Exception:
            return
        try:
            self._end()
        except Exception as exc:
            report_internal_error("llm stream finalizer", exc)


class TrackedStream(_StreamProxy):
    """A synchronous stream of chunks whose operation ends with it."""

    def __iter__(self) -> TrackedStream:
        return self

    def __next__(self) -> Any:
        operation = self._self_operation
        activate(operation)
        try:
            chunk = next(self.__wrapped__)
        except StopIteration:
            finish(operation, None)
            raise
        except BaseException as exc:
            finish(operation, exc)
            raise
        finally:
            deactivate(operation)
        record_item(operation, chunk)
        return chunk

    def close(self) -> Any:
        """Close the wrapped stream (if it can be closed) and end the operation."""
        close = getattr(self.__wrapped__, "close", None)
        try:
            return close() if close is not None else None
        finally:
            self._end()

    def __enter__(self) -> Any:
        wrapped = self.__wrapped__
        enter = getattr(type(wrapped), "__enter__", None)
        if enter is None:
            raise TypeError(f"{type(wrapped).__name__!r} object is not a context manager")
        entered = enter(wrapped)
        return self if entered is wrapped else entered

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> Any:
        wrapped = self.__wrapped__
        try:
            return type(wrapped).__exit__(wrapped, exc_type, exc, traceback)
        finally:
            self._end(_cancellation(exc))


class AsyncTrackedStream(_StreamProxy):
    """An asynchronous stream of chunks whose operation ends with it."""

    def __aiter__(self) -> AsyncTrackedStream:
        return self

    async def __anext__(self) -> Any:
        operation = self._self_operation
        activate(operation)
        try:
            chunk = await self.__wrapped__.__anext__()
        except StopAsyncIteration:
            finish(operation, None)
            raise
        except BaseException as exc:  # a cancelled task is recorded as cancelled
            finish(operation, exc)
            raise
        finally:
            deactivate(operation)
        record_item(operation, chunk)
        return chunk

    async def aclose(self) -> None:
        """Close the wrapped stream (``aclose()`` or ``close()``) and end the operation."""
        wrapped = self.__wrapped__
        close = getattr(wrapped, "aclose", None) or getattr(wrapped, "close", None)
        try:
            result = close() if close is not None else None
            if inspect.isawaitable(result):
                await result
        finally:
            self._end()

    def close(self) -> Any:
        """The wrapped ``close()`` (a coroutine for SDK async streams), ending the operation."""
        try:
            result = self.__wrapped__.close()
        except BaseException:
            self._end()
            raise
        if inspect.isawaitable(result):
            return self._end_after(result)
        self._end()
        return result

    async def _end_after(self, closing: Awaitable[Any]) -> Any:
        try:
            return await closing
        finally:
            self._end()

    async def __aenter__(self) -> Any:
        wrapped = self.__wrapped__
        enter = getattr(type(wrapped), "__aenter__", None)
        if enter is None:
            raise TypeError(f"{type(wrapped).__name__!r} object is not an async context manager")
        entered = await enter(wrapped)
        return self if entered is wrapped else entered

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> Any:
        wrapped = self.__wrapped__
        try:
            return await type(wrapped).__aexit__(wrapped, exc_type, exc, traceback)
        finally:
            self._end(_cancellation(exc))
