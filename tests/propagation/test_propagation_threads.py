"""The trace context across thread pools, asyncio tasks and background work."""

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from fastapi import BackgroundTasks, FastAPI
from opentelemetry import baggage
from opentelemetry import context as otel_context

import autobot_apm as apm
from autobot_apm.asgi import instrument_fastapi
from autobot_apm.propagation import (
    ContextThreadPoolExecutor,
    propagate_context,
    track_background,
)


def lookup(key="item"):
    """Tracked work a thread or task does: one span."""
    with apm.track_cache(key):
        return threading.current_thread().name


def span_id(span):
    return span.context.span_id


def hex_ids(span_context):
    return format(span_context.trace_id, "032x"), format(span_context.span_id, "016x")


class TestPropagateContext:
    def test_a_plain_thread_pool_loses_the_context(self, apm_capture):
        """The problem solved here: without help, a pool thread's span starts a new trace."""
        with ThreadPoolExecutor(1) as pool, apm.track_api(route="/r", method="GET"):
            pool.submit(lookup).result()
        assert apm_capture.span("get item").parent is None

    def test_the_wrapped_callable_runs_in_the_callers_context(self, apm_capture):
        """propagate_context(fn) run on a pool thread makes a child of the caller's span."""
        with ThreadPoolExecutor(1) as pool, apm.track_api(route="/r", method="GET"):
            thread_name = pool.submit(propagate_context(lookup)).result()
        assert threading.current_thread().name != thread_name
        request = apm_capture.span("GET /r")
        assert span_id(request) == apm_capture.span("get item").parent.span_id

    def test_one_wrapped_callable_runs_on_many_threads_at_once(self, apm_capture):
        """Each call gets its own copy of the context, so concurrent calls do not collide."""
        barrier = threading.Barrier(4, timeout=5)

        def wait_then_lookup(key):
            barrier.wait()
            return lookup(key)

        with ThreadPoolExecutor(4) as pool, apm.track_api(route="/r", method="GET"):
            names = set(pool.map(propagate_context(wait_then_lookup), "abcd"))
        assert 4 == len(names)
        parents = {span.parent.span_id for span in apm_capture.spans if span.name != "GET /r"}
        assert {span_id(apm_capture.span("GET /r"))} == parents

    def test_changes_made_in_the_thread_stay_there(self):
        """Context attached inside the wrapped callable does not leak into the caller."""
        before = otel_context.get_current()

        def attach_baggage():
            otel_context.attach(baggage.set_baggage("leak", "yes"))

        propagate_context(attach_baggage)()
        assert before == otel_context.get_current()

    def test_keeps_the_wrapped_name(self):
        """The wrapper reads like the function it wraps (logs, tracebacks)."""
        assert "lookup" == propagate_context(lookup).__name__


class TestContextThreadPoolExecutor:
    def test_submit_joins_the_submitters_trace(self, apm_capture):
        """Work submitted from inside a span is its child."""
        with ContextThreadPoolExecutor(2) as pool, apm.track_api(route="/r", method="GET"):
            pool.submit(lookup, "k").result()
        assert span_id(apm_capture.span("GET /r")) == apm_capture.span("get k").parent.span_id

    def test_map_joins_the_trace_too(self, apm_capture):
        """map() goes through submit(), so every item's span is a child."""
        with ContextThreadPoolExecutor(2) as pool, apm.track_api(route="/r", method="GET"):
            list(pool.map(lookup, ["a", "b", "c"]))
        request = span_id(apm_capture.span("GET /r"))
        assert [request] * 3 == [apm_capture.span(f"get {k}").parent.span_id for k in "abc"]

    def test_the_context_is_the_one_at_submit_time(self, apm_capture):
        """A pool created before the request still carries each submitter's own context."""
        with ContextThreadPoolExecutor(1) as pool:
            for route in ("/one", "/two"):
                with apm.track_api(route=route, method="GET"):
                    pool.submit(lookup, route).result()
        for route in ("/one", "/two"):
            expected = span_id(apm_capture.span(f"GET {route}"))
            assert expected == apm_capture.span(f"get {route}").parent.span_id


class TestAsyncioTasks:
    async def test_created_tasks_inherit_the_context(self, apm_capture):
        """asyncio copies the context into a task: its spans are children of the creator's."""

        async def work(key):
            async with apm.track_cache(key):
                await asyncio.sleep(0)

        async with apm.track_api(route="/r", method="GET"):
            await asyncio.gather(work("a"), asyncio.create_task(work("b")))
        request = span_id(apm_capture.span("GET /r"))
        assert [request, request] == [apm_capture.span(f"get {k}").parent.span_id for k in "ab"]

    async def test_to_thread_carries_the_context(self, apm_capture):
        """asyncio.to_thread copies the context as well: no wrapper is needed there."""
        async with apm.track_api(route="/r", method="GET"):
            await asyncio.to_thread(lookup)
        assert span_id(apm_capture.span("GET /r")) == apm_capture.span("get item").parent.span_id


@track_background
def send_receipt(order_id):
    lookup(f"order-{order_id}")


@track_background("reindex")
async def reindex():
    await asyncio.sleep(0)


class TestTrackBackground:
    def test_starts_a_new_trace_linked_to_the_current_span(self, apm_capture):
        """The job's span is a root in its own trace, with a link back to the request."""
        with apm.track_api(route="/orders", method="GET") as request:
            send_receipt(7)
        job = apm_capture.span("send_receipt")
        assert job.parent is None
        assert request.trace_id != format(job.context.trace_id, "032x")
        (link,) = job.links
        assert (request.trace_id, request.span_id) == hex_ids(link.context)

    def test_work_inside_the_job_belongs_to_the_jobs_trace(self, apm_capture):
        """Spans made by the job are its children, not the request's."""
        with apm.track_api(route="/orders", method="GET"):
            send_receipt(7)
        assert span_id(apm_capture.span("send_receipt")) == apm_capture.span(
            "get order-7").parent.span_id  # fmt: skip

    def test_without_a_current_span_there_is_no_link(self, apm_capture):
        """Started outside any span, the job is a plain root span."""
        send_receipt(1)
        assert () == tuple(apm_capture.span("send_receipt").links)

    def test_keeps_baggage(self, apm_capture):
        """Baggage (say, a tenant) still reaches the job; only the parent span is dropped."""
        seen = []
        token = otel_context.attach(baggage.set_baggage("tenant", "blue"))
        try:
            with track_background("job"):
                seen.append(baggage.get_baggage("tenant"))
        finally:
            otel_context.detach(token)
        assert ["blue"] == seen

    async def test_a_task_that_outlives_the_request(self, apm_capture):
        """A task still running when the request ends is linked to it, not its child."""
        async with apm.track_api(route="/reindex", method="GET"):
            task = asyncio.create_task(reindex())
        await task
        request, job = apm_capture.span("GET /reindex"), apm_capture.span("reindex")
        assert request.end_time <= job.end_time
        assert (None, span_id(request)) == (job.parent, job.links[0].context.span_id)

    def test_exceptions_are_recorded_and_pass_through(self, apm_capture):
        """The job's own failure marks its span and reaches the caller unchanged."""
        error = RuntimeError("smtp down")
        with pytest.raises(RuntimeError) as raised, track_background("mail"):
            raise error
        assert error is raised.value
        assert "RuntimeError" == apm_capture.span("mail").attributes["error.type"]

    def test_untracked_when_telemetry_is_off(self):
        """Unconfigured, the decorated function simply runs."""
        assert send_receipt(3) is None


def fastapi_app():
    app = FastAPI()

    @app.post("/orders/{order_id}")
    async def create_order(order_id: int, background_tasks: BackgroundTasks):
        background_tasks.add_task(send_receipt, order_id)  # linked, in a trace of its own
        background_tasks.add_task(lookup, "audit")  # undecorated: stays in the request trace
        return {"order": order_id}

    return instrument_fastapi(app)


class TestFastAPIBackgroundTasks:
    async def test_background_tasks_see_the_request_context(self, apm_capture):
        """A decorated task is linked to the server span; an undecorated one is its child."""
        transport = httpx.ASGITransport(app=fastapi_app())
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            assert 200 == (await client.post("/orders/5")).status_code
        server = apm_capture.span("POST /orders/{order_id}")
        job = apm_capture.span("send_receipt")
        assert (None, span_id(server)) == (job.parent, job.links[0].context.span_id)
        assert server.end_time <= job.start_time
        assert span_id(server) == apm_capture.span("get audit").parent.span_id
