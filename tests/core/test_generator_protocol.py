"""A tracked generator answers next/send/throw/close exactly as the untracked one.

Each test runs one script of protocol calls on a generator twice, untracked and
tracked, side by side, and compares what every call returned or raised. The bodies
cover what users write: an echo, a finite stream with a return value, and generators
that catch what is thrown in (``GeneratorExit`` included) and yield or return.
"""

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry import trace

import autobot_apm as apm
from autobot_apm.testing import capture_telemetry

PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
MAX_CLOSES = 4  # every body below ends after at most this many close() calls


def echo():
    received = yield "ready"
    while received != "stop":
        received = yield received
    return "echoed"


def finite():
    yield 1
    yield 2
    return 3


def catches_exit_and_yields():
    try:
        yield "first"
    except GeneratorExit:
        yield "caught exit"
    return "done"


def catches_everything_once():
    try:
        yield "first"
    except BaseException as exc:
        yield f"caught {type(exc).__name__}"
    return "done"


def catches_exit_and_returns():
    try:
        yield "first"
    except GeneratorExit:
        return "ignored"
    yield "second"


BODIES = [echo, finite, catches_exit_and_yields, catches_everything_once, catches_exit_and_returns]
THROWN = {"GeneratorExit": GeneratorExit, "ValueError": ValueError, "KeyError": KeyError}
STEP = st.sampled_from(["next", "send", "close"]) | st.sampled_from(
    [f"throw {name}" for name in THROWN]
)
SCRIPT = st.lists(STEP, min_size=1, max_size=6)


def _outcome(call):
    """What a protocol call gave: ("yield", value) or ("raise", type, args)."""
    try:
        return ("yield", call())
    except BaseException as exc:
        return ("raise", type(exc).__name__, exc.args)


def _sync_step(gen, step):
    if step == "next":
        return lambda: next(gen)
    if step == "send":
        return lambda: gen.send("sent")
    if step == "close":
        return gen.close
    return lambda: gen.throw(THROWN[step.split()[1]]())


def _run_sync(gen, script):
    outcomes = [_outcome(_sync_step(gen, step)) for step in script]
    for _ in range(MAX_CLOSES):  # end it here, not in the garbage collector
        if _outcome(gen.close)[0] == "yield":
            break
    return outcomes


async def _async_body(body):
    """The async twin of a sync body: the same protocol, driven by the sync one."""
    inner = body()
    sent, thrown = None, None
    while True:
        try:
            item = inner.send(sent) if thrown is None else inner.throw(thrown)
        except StopIteration:
            return
        sent, thrown = None, None
        try:
            sent = yield item
        except BaseException as exc:
            thrown = exc


def _async_step(gen, step):
    if step == "next":
        return gen.__anext__()
    if step == "send":
        return gen.asend("sent")
    if step == "close":
        return gen.aclose()
    return gen.athrow(THROWN[step.split()[1]]())


async def _async_outcome(awaitable):
    try:
        return ("yield", await awaitable)
    except BaseException as exc:
        return ("raise", type(exc).__name__, exc.args)


async def _run_async(gen, script):
    outcomes = [await _async_outcome(_async_step(gen, step)) for step in script]
    for _ in range(MAX_CLOSES):
        if (await _async_outcome(gen.aclose()))[0] == "yield":
            break
    return outcomes


class TestSyncGenerators:
    @PROPERTY
    @given(body=st.sampled_from(BODIES), script=SCRIPT)
    def test_any_script_gives_the_same_outcomes(self, body, script):
        with capture_telemetry() as capture:
            untracked = _run_sync(body(), script)
            tracked = _run_sync(apm.track_operation("stream")(body)(), script)
            assert untracked == tracked
            assert not trace.get_current_span().get_span_context().is_valid
        assert len(capture.spans) <= 1

    def test_throwing_generator_exit_into_one_that_yields_returns_the_value(self):
        """The reported case: untracked throw() returns the yielded value; so does tracked."""
        with capture_telemetry() as capture:
            for gen in (catches_exit_and_yields(),
                        apm.track_operation("s")(catches_exit_and_yields)()):  # fmt: skip
                assert "first" == next(gen)
                assert "caught exit" == gen.throw(GeneratorExit())
                with pytest.raises(StopIteration):
                    next(gen)
        (span,) = capture.spans
        assert span.status.is_ok

    def test_close_of_one_that_yields_is_the_same_runtime_error(self):
        for gen in (catches_exit_and_yields(), apm.track_operation("s")(catches_exit_and_yields)()):
            with capture_telemetry():
                next(gen)
                with pytest.raises(RuntimeError, match="ignored GeneratorExit"):
                    gen.close()
                gen.close()


class TestAsyncGenerators:
    @PROPERTY
    @given(body=st.sampled_from(BODIES), script=SCRIPT)
    def test_any_script_gives_the_same_outcomes(self, body, script):
        async def both():
            untracked = await _run_async(_async_body(body), script)
            tracked_body = apm.track_operation("stream")(_async_body)
            tracked = await _run_async(tracked_body(body), script)
            return untracked, tracked

        with capture_telemetry() as capture:
            untracked, tracked = asyncio.run(both())
            assert untracked == tracked
        assert len(capture.spans) <= 1

    def test_athrow_generator_exit_into_one_that_yields_returns_the_value(self):
        async def run(gen):
            assert "first" == await gen.__anext__()
            assert "caught exit" == await gen.athrow(GeneratorExit())
            with pytest.raises(StopAsyncIteration):
                await gen.__anext__()

        with capture_telemetry() as capture:
            asyncio.run(run(_async_body(catches_exit_and_yields)))
            asyncio.run(run(apm.track_operation("s")(_async_body)(catches_exit_and_yields)))
        assert 1 == len(capture.spans)
