"""The tracking engine on every kind of callable, in every form."""

import asyncio
import dis
import inspect
import pickle
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from opentelemetry import trace
from opentelemetry.trace import StatusCode

import autobot_apm as apm
from autobot_apm._tracking import dispatch
from autobot_apm.testing import Capture


def cache_get(value):
    return value


def work() -> None:
    return None


@apm.track_operation("double")
def tracked_module_function(x: int) -> int:
    return 2 * x


class TestForms:
    def test_bare_decorator(self, apm_capture: Capture):
        """@track_cache without arguments names the cache after the function."""

        @apm.track_cache
        def sessions(key):
            return None

        assert None is sessions("k")
        assert 1 == len(apm_capture.spans_named("get sessions"))

    def test_called_decorator(self, apm_capture: Capture):
        """@track_cache(name) makes one span per call."""
        tracked = apm.track_cache("users")(cache_get)
        tracked(1)
        tracked(2)
        assert 2 == len(apm_capture.spans_named("get users"))

    def test_with_block_yields_the_operation(self, apm_capture: Capture):
        """`with` yields the handle and ends the span at the end of the block."""
        with apm.track_cache("users") as op:
            op.hit()
        assert apm_capture.span("get users").attributes["cache.hit"] is True

    async def test_async_with_block(self, apm_capture: Capture):
        """`async with` works like `with`."""
        async with apm.track_cache("users") as op:
            await asyncio.sleep(0)
            op.miss()
        assert apm_capture.span("get users").attributes["cache.hit"] is False

    def test_one_tracker_object_reused_in_nested_blocks(self, apm_capture: Capture):
        """A shared tracker object can be entered again while already entered."""
        tracker = apm.track_cache("users")
        with tracker as outer, tracker as inner:
            assert outer is not inner
        outer_span, inner_span = apm_capture.spans[1], apm_capture.spans[0]
        assert outer_span.context.span_id == inner_span.parent.span_id


class TestCallableKinds:
    def test_signature_and_introspection_are_preserved(self):
        """Name, signature and coroutine-ness are kept for frameworks like FastAPI."""

        @apm.track_api(route="/items/{item_id}", method="GET")
        async def read_item(item_id: int, q: str | None = None) -> dict:
            return {}

        assert "read_item" == read_item.__name__
        assert ["item_id", "q"] == list(inspect.signature(read_item).parameters)
        assert inspect.iscoroutinefunction(read_item)

    def test_a_plain_function_wrapper_resolves_names_in_the_users_module(self):
        """Frameworks that read ``__globals__`` without unwrapping (FastAPI before 0.123,
        for string annotations) see the decorated function's module, not ours."""
        namespace: dict = {}
        exec(  # noqa: S102 - a literal, run to get a module namespace of its own
            "class Item: pass\ndef read(item: 'Item') -> 'Item':\n    return item\n",
            namespace,
        )
        tracked = apm.track_operation("read")(namespace["read"])
        assert tracked.__globals__ is namespace
        annotation = inspect.signature(tracked).parameters["item"].annotation
        assert namespace["Item"] is tracked.__globals__[annotation]
        assert (tracked.__wrapped__, tracked.__qualname__) == (namespace["read"], "read")

    def test_the_plain_wrappers_read_no_global_name(self):
        """They run with the user's globals, so every name they use is bound in them."""
        for template in (dispatch._call, dispatch._coroutine_call):
            code = template(apm.track_operation("x"), work).__code__
            loads = {i.argval for i in dis.get_instructions(code) if i.opname == "LOAD_GLOBAL"}
            assert set() == loads, template.__name__

    def test_a_decorated_module_function_pickles_by_reference(self, apm_capture: Capture):
        """A plain function stays a plain function: pickle (multiprocessing) finds it."""
        assert tracked_module_function is pickle.loads(pickle.dumps(tracked_module_function))  # noqa: S301
        assert 2 == tracked_module_function(1)
        assert ["double"] == [span.name for span in apm_capture.spans]

    async def test_coroutine_is_timed_while_awaited(self, apm_capture: Capture, apm_clock):
        """The span of a coroutine covers its await, not the creation of it."""

        @apm.track_database("postgresql", operation="SELECT", collection="users")
        async def load():
            await asyncio.sleep(0)
            apm_clock.advance(0.5)
            return [1]

        pending = load()
        apm_clock.advance(1.0)  # between creating the coroutine and awaiting it
        assert [1] == await pending
        span = apm_capture.span("SELECT users")
        assert apm_clock.start_ns + 1_000_000_000 == span.start_time
        assert 500_000_000 == span.end_time - span.start_time

    def test_generator_span_stays_open_until_exhausted(self, apm_capture: Capture):
        """A generator's span ends when it is exhausted, and covers every item."""

        @apm.track_cache("rows", operation="scan")
        def scan():
            yield 1
            yield 2
            return "done"

        gen = scan()
        assert 1 == next(gen)
        assert [] == apm_capture.spans
        assert [2] == list(gen)
        assert 1 == len(apm_capture.spans_named("scan rows"))

    def test_generator_closed_early_ends_span(self, apm_capture: Capture):
        """Breaking out of a tracked generator ends its span without an error."""
        closed = []

        @apm.track_cache("rows", operation="scan")
        def scan():
            try:
                yield from range(10)
            finally:
                closed.append(True)

        for item in scan():
            if item == 2:
                break
        assert [True] == closed
        assert StatusCode.UNSET == apm_capture.span("scan rows").status.status_code

    def test_generator_send_and_throw_are_forwarded(self, apm_capture: Capture):
        """send() reaches the generator, throw() is raised inside it."""

        @apm.track_cache("echo", operation="loop")
        def echo():
            received = []
            while True:
                try:
                    value = yield len(received)
                    received.append(value)
                except KeyError:
                    yield "caught"

        gen = echo()
        next(gen)
        assert 1 == gen.send("a")
        assert "caught" == gen.throw(KeyError("k"))
        gen.close()
        assert 1 == len(apm_capture.spans_named("loop echo"))

    def test_generator_context_is_not_attached_while_suspended(self, apm_capture: Capture):
        """Between items, the consumer's current span is its own, not the generator's."""

        @apm.track_cache("rows", operation="scan")
        def scan():
            yield trace.get_current_span()

        outside = trace.get_current_span()
        gen = scan()
        inside = next(gen)
        assert inside.is_recording()
        assert outside is trace.get_current_span()
        gen.close()

    def test_generator_never_started_makes_no_span(self, apm_capture: Capture):
        """A generator that is created but never iterated runs no code and records nothing."""

        @apm.track_cache("rows", operation="scan")
        def scan():
            yield 1

        scan()
        assert [] == apm_capture.spans

    async def test_async_generator_forms(self, apm_capture: Capture):
        """Async generators: span until exhausted; aclose() on early exit ends it too."""

        @apm.track_cache("stream", operation="read")
        async def stream(n):
            for i in range(n):
                await asyncio.sleep(0)
                yield i

        assert [0, 1, 2] == [i async for i in stream(3)]
        agen = stream(5)
        assert 0 == await agen.__anext__()
        await agen.aclose()
        assert 2 == len(apm_capture.spans_named("read stream"))

    async def test_async_generator_asend(self, apm_capture: Capture):
        """asend() values reach the async generator."""

        @apm.track_cache("acc", operation="sum")
        async def accumulate():
            total = 0
            while True:
                value = yield total
                total += value

        agen = accumulate()
        await agen.asend(None)
        assert 5 == await agen.asend(5)
        await agen.aclose()
        assert 1 == len(apm_capture.spans_named("sum acc"))

    def test_methods_of_every_kind(self, apm_capture: Capture):
        """Instance, class and static methods are tracked with the right binding."""

        class Repo:
            factor = 3

            @apm.track_database("sqlite", operation="SELECT", collection="a")
            def instance(self, x):
                return x * self.factor

            @apm.track_database("sqlite", operation="SELECT", collection="b")
            @classmethod
            def klass(cls, x):
                return x * cls.factor

            @apm.track_database("sqlite", operation="SELECT", collection="c")
            @staticmethod
            def static(x):
                return x

        repo = Repo()
        assert (6, 6, 6, 2) == (repo.instance(2), Repo.klass(2), repo.klass(2), Repo.static(2))
        names = sorted(span.name for span in apm_capture.spans)
        assert ["SELECT a", "SELECT b", "SELECT b", "SELECT c"] == names


class TestErrors:
    def test_user_exception_is_the_same_object(self, apm_capture: Capture):
        """The user's exception passes through unchanged and is recorded on the span."""
        error = ValueError("bad id")

        @apm.track_database("postgresql", operation="SELECT", collection="users")
        def load():
            raise error

        with pytest.raises(ValueError, match="bad id") as raised:
            load()
        assert error is raised.value
        span = apm_capture.span("SELECT users")
        assert StatusCode.ERROR == span.status.status_code
        assert "ValueError" == span.attributes["error.type"]
        assert "exception" == span.events[0].name

    async def test_cancelled_coroutine_is_recorded_as_cancelled(self, apm_capture: Capture):
        """Cancellation propagates and is marked cancelled, not as an error status."""

        @apm.track_database("postgresql", operation="SELECT", collection="slow")
        async def slow():
            await asyncio.sleep(10)

        task = asyncio.create_task(slow())
        await asyncio.sleep(0)  # the task starts, and waits in its sleep
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        span = apm_capture.span("SELECT slow")
        assert "cancelled" == span.attributes["error.type"]
        assert StatusCode.UNSET == span.status.status_code

    def test_exception_in_with_block_propagates(self, apm_capture: Capture):
        """An exception leaving a `with` block is recorded and not swallowed."""
        with pytest.raises(KeyError), apm.track_cache("users"):
            raise KeyError("x")
        assert "KeyError" == apm_capture.span("get users").attributes["error.type"]

    def test_internal_fault_never_reaches_the_call(self, monkeypatch, apm_capture: Capture):
        """A fault inside the engine is contained: the call returns its own result."""
        monkeypatch.setenv("AUTOBOT_APM_STRICT", "0")

        def broken_start(*args, **kwargs):
            raise RuntimeError("bug in the tracker")

        tracker = apm.track_cache("users")
        monkeypatch.setattr(tracker, "_start", broken_start)
        assert 42 == tracker(lambda: 42)()
        with tracker as op:
            op.hit()
        assert [] == apm_capture.spans


class TestCurrentOperation:
    def test_decorated_function_reaches_its_handle(self, apm_capture: Capture):
        """current_operation(kind) inside a decorated function is the call's handle."""

        @apm.track_database("postgresql", operation="SELECT", collection="users")
        def load():
            apm.current_operation(apm.DatabaseOperation).rows(3)
            return []

        load()
        assert 3 == apm_capture.span("SELECT users").attributes["db.response.returned_rows"]

    def test_outer_operation_of_a_kind_is_found_through_nesting(self, apm_capture: Capture):
        """Asking for a kind walks out past inner operations of other kinds."""
        with apm.track_database("postgresql", operation="SELECT") as db, apm.track_cache("c"):
            assert db is apm.current_operation(apm.DatabaseOperation)

    def test_untracked_reporting_is_harmless(self):
        """Outside any tracked call, reporting goes nowhere and raises nothing."""
        operation = apm.current_operation()
        assert None is operation.rows(3)
        assert None is apm.current_operation(apm.CacheOperation).hit()
        assert ("0" * 32, False) == (operation.trace_id, operation.span.is_recording())


class TestNestingAndConcurrency:
    def test_nested_calls_are_parent_and_child(self, apm_capture: Capture):
        """A tracked call inside another is its child in the same trace."""
        with (
            apm.track_api(route="/users", method="GET") as outer,
            apm.track_cache("users") as inner,
        ):
            assert outer.trace_id == inner.trace_id
        child = apm_capture.span("get users")
        parent = apm_capture.span("GET /users")
        assert parent.context.span_id == child.parent.span_id

    def test_threads_each_get_their_own_parents(self, apm_capture: Capture):
        """8 threads x 1,000 nested calls: every child has its own thread's parent."""
        child = apm.track_cache("inner")(cache_get)

        def work(i):
            with apm.track_database("sqlite", operation="SELECT", collection=f"t{i % 8}"):
                child(i)

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(work, range(8000)))
        spans = apm_capture.spans
        parents = {s.context.span_id: s for s in spans if s.name.startswith("SELECT")}
        children = [s for s in spans if s.name == "get inner"]
        assert (8000, 8000) == (len(parents), len(children))
        assert all(c.parent.span_id in parents for c in children)
        assert 8000 == len({c.parent.span_id for c in children})

    async def test_concurrent_tasks_keep_their_parents(self, apm_capture: Capture):
        """1,000 concurrent asyncio tasks: each child span's parent is its own task's span."""

        @apm.track_cache("inner")
        async def inner():
            await asyncio.sleep(0)
            return 1

        @apm.track_database("sqlite", operation="SELECT", collection="t")
        async def outer():
            await asyncio.sleep(0)
            return await inner()

        assert 1000 == sum(await asyncio.gather(*(outer() for _ in range(1000))))
        parents = {s.context.span_id for s in apm_capture.spans_named("SELECT t")}
        children = apm_capture.spans_named("get inner")
        assert 1000 == len({c.parent.span_id for c in children} & parents)

    def test_threads_share_one_tracker_object_as_context_manager(self, apm_capture: Capture):
        """A module-level tracker entered from many threads at once stays consistent."""
        tracker = apm.track_cache("shared")
        barrier = threading.Barrier(4)

        def work(_):
            barrier.wait()
            for _ in range(100):
                with tracker as op:
                    op.hit()

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(work, range(4)))
        assert 400 == len(apm_capture.spans_named("get shared"))
        assert 400 == apm_capture.counter_value("autobot_apm.cache.operations")


class TestUnconfigured:
    def test_calls_go_straight_through(self):
        """With nothing configured, tracked calls run untracked and return their result."""

        @apm.track_api(route="/x", method="GET")
        def handler():
            return "ok"

        with apm.track_cache("c") as op:
            op.hit()
        assert "ok" == handler()

    def test_generators_are_returned_untouched(self):
        """Unconfigured, a tracked generator function returns the generator itself."""

        @apm.track_cache("c", operation="scan")
        def scan():
            yield 1

        generator = scan()
        # The generator of the function itself, not one of the tracker's wrapping it (which
        # would also be a generator): its code is the function's own.
        assert generator.gi_code is scan.__wrapped__.__code__
        assert [1] == list(generator)


class TestBareDecoratorOnClassmethods:
    def test_bare_trackers_above_classmethod_and_staticmethod(self, apm_capture: Capture):
        """Bare trackers placed above @classmethod/@staticmethod decorate, named after it."""

        class Store:
            @apm.track_cache
            @classmethod
            def sessions(cls, key):
                return None

            @apm.track_database
            @staticmethod
            def load_rows():
                return []

            @apm.track_operation
            @classmethod
            def rebuild(cls):
                return "done"

        assert (None, [], "done") == (Store.sessions("k"), Store.load_rows(), Store.rebuild())
        assert ["get sessions", "load_rows", "rebuild"] == [s.name for s in apm_capture.spans]


class TestHandleAfterTheBlock:
    def test_writes_after_the_block_are_quiet_no_ops(self, apm_capture, caplog):
        """A handle used after its block ended changes nothing and logs nothing."""
        with apm.track_database("postgresql", "SELECT") as op:
            pass
        with caplog.at_level("DEBUG"):
            op.set_attribute("late", 1)
            op.set_attributes({"later": 2})
            op.add_event("late event")
            op.fail("late failure")
            op.rows(3)
        (span,) = apm_capture.spans
        assert "late" not in span.attributes
        assert "later" not in span.attributes
        assert [] == [event.name for event in span.events]
        assert [] == caplog.records

    def test_ids_stay_readable_after_the_block(self, apm_capture):
        """op.trace_id and op.span_id name the ended span."""
        with apm.track_cache("users") as op:
            pass
        (span,) = apm_capture.spans
        assert format(span.context.trace_id, "032x") == op.trace_id
        assert format(span.context.span_id, "016x") == op.span_id
