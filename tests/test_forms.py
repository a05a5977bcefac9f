"""Every tracker in all four forms, on every kind of callable: the README's promise.

For each tracker, as ``@tracker``, ``@tracker(...)``, ``with tracker(...)`` and
``async with tracker(...)``, and for the decorator forms on functions, coroutines,
generators, async generators, methods, static methods and class methods: what the code
returns (or yields) comes out unchanged, the exception it raises comes out as the same
object, and exactly one span of the tracker's kind is recorded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry.trace import SpanKind

import autobot_apm as apm
from autobot_apm.testing import Capture

# name -> (the called form's tracker, kind of that span, kind of the bare form's span)
TRACKERS: dict[str, tuple[Callable[[], Any], Any, SpanKind, SpanKind]] = {
    "track_api": (
        lambda: apm.track_api("/items/{id}", "GET"), apm.track_api,
        SpanKind.SERVER, SpanKind.SERVER,
    ),
    "track_database": (
        lambda: apm.track_database("redis", "GET"), apm.track_database,
        SpanKind.CLIENT, SpanKind.CLIENT,
    ),
    "track_cache": (
        lambda: apm.track_cache("sessions", "set"), apm.track_cache,
        SpanKind.INTERNAL, SpanKind.INTERNAL,
    ),
    "track_llm": (
        lambda: apm.track_llm("openai", "gpt-4o"), apm.track_llm,
        SpanKind.CLIENT, SpanKind.CLIENT,
    ),
    "track_operation": (
        lambda: apm.track_operation("stage"), apm.track_operation,
        SpanKind.INTERNAL, SpanKind.INTERNAL,
    ),
    "track_message": (
        lambda: apm.track_message("jobs", operation="send"), apm.track_message,
        SpanKind.PRODUCER, SpanKind.CONSUMER,
    ),
}  # fmt: skip
CALLABLES = (
    "function", "coroutine", "generator", "async_generator",
    "method", "staticmethod", "classmethod",
)  # fmt: skip


class UserError(Exception):
    """The user's own exception."""


class Outcome:
    """What the user's code does: return (or yield) these objects, or raise this one."""

    def __init__(self, raises: bool) -> None:
        self.first, self.second = object(), object()
        self.error = UserError("the user's own") if raises else None

    def body(self) -> object:
        if self.error is not None:
            raise self.error
        return self.first


def _decorated(kind: str, decorate: Callable[[Any], Any], outcome: Outcome) -> Callable[[], Any]:
    """The user's callable of ``kind``, decorated; called with no arguments, it returns
    what the caller receives (a generator's items as a list)."""
    if kind == "function":
        return decorate(lambda: outcome.body())
    if kind == "coroutine":

        async def coroutine() -> object:
            await asyncio.sleep(0)
            return outcome.body()

        tracked = decorate(coroutine)
        return lambda: asyncio.run(tracked())
    if kind == "generator":

        def generator() -> Any:
            yield outcome.body()
            yield outcome.second

        tracked = decorate(generator)
        return lambda: list(tracked())
    if kind == "async_generator":

        async def async_generator() -> Any:
            yield outcome.body()
            yield outcome.second

        tracked = decorate(async_generator)

        async def collect() -> list[object]:
            return [item async for item in tracked()]

        return lambda: asyncio.run(collect())
    return _method(kind, decorate, outcome)


def _method(kind: str, decorate: Callable[[Any], Any], outcome: Outcome) -> Callable[[], Any]:
    def class_method(owner: type) -> object:
        assert owner is Service
        return outcome.body()

    class Service:
        def method(self) -> object:
            assert isinstance(self, Service)
            return outcome.body()

        tracked_method = decorate(method)
        tracked_static = decorate(staticmethod(lambda: outcome.body()))
        tracked_class = decorate(classmethod(class_method))

    if kind == "method":
        return lambda: Service().tracked_method()
    if kind == "staticmethod":
        return lambda: Service.tracked_static()
    return lambda: Service.tracked_class()


def _expected(kind: str, outcome: Outcome) -> Any:
    if kind in ("generator", "async_generator"):
        return [outcome.first, outcome.second]
    return outcome.first


def _assert_one_span(capture: Capture, span_kind: SpanKind) -> None:
    spans = capture.spans
    assert 1 == len(spans), [span.name for span in spans]
    assert span_kind == spans[0].kind


def _assert_same(received: Any, expected: Any) -> None:
    if isinstance(expected, list):
        assert len(expected) == len(received)
        assert all(got is want for got, want in zip(received, expected, strict=True))
    else:
        assert received is expected


@pytest.mark.parametrize("raises", [False, True], ids=["returns", "raises"])
@pytest.mark.parametrize("kind", CALLABLES)
@pytest.mark.parametrize("form", ["bare", "called"])
@pytest.mark.parametrize("tracker", TRACKERS)
def test_decorator_forms(apm_capture: Capture, tracker: str, form: str, kind: str, raises: bool):
    """@tracker and @tracker(...) on every kind of callable: the result or the exception
    comes out unchanged, and one span of the tracker's kind is recorded."""
    called, bare, called_kind, bare_kind = TRACKERS[tracker]
    outcome = Outcome(raises)
    decorate = bare if form == "bare" else called()
    run = _decorated(kind, decorate, outcome)
    if outcome.error is not None:
        with pytest.raises(UserError) as raised:
            run()
        assert raised.value is outcome.error
    else:
        _assert_same(run(), _expected(kind, outcome))
    _assert_one_span(apm_capture, bare_kind if form == "bare" else called_kind)


@pytest.mark.parametrize("raises", [False, True], ids=["returns", "raises"])
@pytest.mark.parametrize("form", ["with", "async_with"])
@pytest.mark.parametrize("tracker", TRACKERS)
def test_block_forms(apm_capture: Capture, tracker: str, form: str, raises: bool):
    """with tracker(...) and async with tracker(...): the block's exception comes out as
    the same object, and one span of the tracker's kind is recorded."""
    called, _, called_kind, _ = TRACKERS[tracker]
    outcome = Outcome(raises)

    def block() -> object:
        with called():
            return outcome.body()

    async def async_block() -> object:
        async with called():
            await asyncio.sleep(0)
            return outcome.body()

    run = block if form == "with" else lambda: asyncio.run(async_block())
    if outcome.error is not None:
        with pytest.raises(UserError) as raised:
            run()
        assert raised.value is outcome.error
    else:
        assert run() is outcome.first
    _assert_one_span(apm_capture, called_kind)
