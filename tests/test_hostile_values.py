"""Hostile values at every public entry point: one boundary coerces them all.

Every tracker of ``autobot_apm.__all__``, in every form (decorator on a function, a
coroutine, a generator and an async generator; ``with``; ``async with``; bare), and
every public method of every handle, is driven with values a real program can hold:
objects whose ``__str__``, ``__repr__``, ``__bool__``, ``__len__``, ``__eq__``,
``__hash__`` or comparisons raise, ``int``/``str``/``float``/``bytes`` subclasses whose
dunders raise, ``10**400`` and ``10**5000`` (too long for ``str()``), NaN and
infinities, lone surrogates, invalid UTF-8, a list where a name is expected, ``None``,
a 10 MB string, and exceptions whose ``str()`` raises.

What must hold (docs/reliability.md, docs/trackers.md "Bad values"):

* nothing raises but the user's own exception, which comes out as the same object with
  the same traceback frames as untracked;
* every span, event and metric point encodes as OTLP with the SDK's own encoders;
* text is cut to 4,096 characters (metric labels to 128), numbers are finite and fit
  int64 / double, and values are plain builtins, never the user's subclasses;
* after hostile data, a later export to the loopback receiver is still accepted.

The suite runs with ``AUTOBOT_APM_STRICT=1`` (tests/conftest.py): a fault the library
would contain in production fails the test here.
"""

import asyncio
import inspect
import math
import traceback
from contextlib import nullcontext

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common._internal.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

import autobot_apm as apm
from autobot_apm._sdk.setup import flush
from autobot_apm.receiver import OTLPReceiver
from autobot_apm.testing import capture_telemetry

PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
MAX_TEXT = 4096  # characters of a span name, an event name, a string attribute value
MAX_STACKTRACE = 4 * MAX_TEXT  # characters of exception.stacktrace
MAX_KEY = 255  # characters of an attribute key
MAX_LABEL = 128  # characters of a metric attribute value
CONTENT_KEYS = {"gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions"}
# The retrieved documents: ids and scores bounded like any text, like the messages with
# their text in (content capture on).
DOCUMENTS_KEY = "gen_ai.retrieval.documents"
MAX_CONTENT = 128 * 2 * MAX_TEXT  # opt-in LLM content: 128 messages, as JSON
INT64 = (-(2**63), 2**63 - 1)
TEN_MB = 10 * 2**20


# --- hostile values -----------------------------------------------------------------------


class HostileError(Exception):
    """What every hostile dunder raises: it must never reach the caller."""


def _hostile(*args: object, **kwargs: object) -> object:
    raise HostileError("a dunder of a user value raised")


DUNDERS = (
    "__str__", "__bool__", "__len__", "__eq__", "__ne__", "__lt__", "__le__", "__gt__",
    "__ge__", "__iter__", "__format__", "__index__", "__int__", "__float__", "__getitem__",
    "__contains__", "__add__", "__radd__", "__mod__", "__truediv__", "__bytes__",
)  # fmt: skip


def _raising(base: type, name: str) -> type:
    """A subclass of ``base`` whose every dunder above raises (and which is unhashable
    or whose hash raises); ``repr`` stays, for hypothesis' reports."""
    namespace: dict[str, object] = {name: _hostile for name in DUNDERS if name != "__iter__"}
    namespace["__hash__"] = _hostile
    namespace["__repr__"] = lambda self: f"{name}()"
    if base is str:  # str methods the library might call, also raising
        namespace.update({m: _hostile for m in ("upper", "lower", "split", "strip", "encode",
                                                "isascii", "startswith", "replace")})  # fmt: skip
    if base is object:
        namespace["__iter__"] = _hostile
        namespace["__getattr__"] = _hostile
    return type(name, (base,), namespace)


RaisingObject = _raising(object, "RaisingObject")
EvilInt = _raising(int, "EvilInt")
EvilStr = _raising(str, "EvilStr")
EvilFloat = _raising(float, "EvilFloat")
EvilBytes = _raising(bytes, "EvilBytes")


class UnprintableError(Exception):
    """A user exception whose str() and attributes raise (a half-built ORM error)."""

    def __str__(self) -> str:
        raise HostileError("no str")

    def __getattr__(self, name: str) -> object:
        raise HostileError(f"no {name}")


class CodedError(Exception):
    """A driver error whose codes are hostile subclasses."""

    sqlstate = EvilStr("40001")
    status_code = EvilInt(503)


# Factories, so hypothesis can show an example without calling a hostile method.
HOSTILE_KINDS = [
    RaisingObject,
    lambda: EvilInt(7),
    lambda: EvilInt(10**30),
    lambda: EvilStr("orders"),
    lambda: EvilStr("x" * 10_000),
    lambda: EvilFloat(1.5),
    lambda: EvilFloat("nan"),
    lambda: EvilBytes(b"\xffname"),
    lambda: 10**400,
    lambda: -(10**400),
    lambda: 10**5000,  # str() refuses ints of more than 4,300 digits
    lambda: 2**63,
    lambda: float("nan"),
    lambda: float("inf"),
    lambda: float("-inf"),
    lambda: ["a", "list", "for", "a", "name"],
    lambda: {"nested": RaisingObject()},
    lambda: b"\xff\xfe invalid utf-8",
    lambda: "lone \udcff surrogate",
    lambda: "x" * TEN_MB,
    lambda: b"\xff" * TEN_MB,
    lambda: None,
    lambda: True,
    UnprintableError,
]
HOSTILE = st.sampled_from(HOSTILE_KINDS).map(lambda make: make())
VALUE = (
    HOSTILE
    | st.integers()
    | st.floats()
    | st.text(st.characters(exclude_categories=()), max_size=20)
    | st.lists(HOSTILE, max_size=3)
)

# --- every tracker, argument by argument ------------------------------------------------


def _tracker_arguments():
    """(label, build) for each argument of each public tracker: build(value) -> tracker."""
    arguments = {
        "track_api(route)": lambda v: apm.track_api(v),
        "track_api(method)": lambda v: apm.track_api("/items/{id}", v),
        "track_api(scheme)": lambda v: apm.track_api("/items/{id}", "GET", scheme=v),
        "track_database(system)": lambda v: apm.track_database(v),
        "track_database(operation)": lambda v: apm.track_database("postgresql", v),
        "track_cache(name)": lambda v: apm.track_cache(v),
        "track_cache(operation)": lambda v: apm.track_cache("sessions", v),
        "track_cache(system)": lambda v: apm.track_cache("sessions", system=v),
        "track_llm(model)": lambda v: apm.track_llm("openai", v),
        "track_llm(myapp.attribute)": lambda v: apm.track_llm("openai", "m", **{"myapp.x": v}),
        "track_message(destination)": lambda v: apm.track_message(v),
        "track_operation(name)": lambda v: apm.track_operation(v),
        "track_operation(attribute)": lambda v: apm.track_operation("stage", user_id=v),
        "track_operation(metric_attributes)": lambda v: apm.track_operation(
            "stage", metric_attributes=v
        ),
        "track_operation(metric_attributes value)": lambda v: apm.track_operation(
            "stage", metric_attributes={"tier": v}
        ),
        "track_background(name)": lambda v: apm.track_background(v),
    }
    for name in ("collection", "namespace", "query", "summary", "stored_procedure",
                 "server_address", "server_port", "batch_size"):  # fmt: skip
        arguments[f"track_database({name})"] = lambda v, n=name: apm.track_database(
            "postgresql", **{n: v}
        )
    arguments["track_database(redis query)"] = lambda v: apm.track_database("redis", query=v)
    for name in ("operation", "server_address", "server_port", "data_source", "temperature",
                 "max_tokens", "stop", "n", "seed", "top_k"):  # fmt: skip
        arguments[f"track_llm({name})"] = lambda v, n=name: apm.track_llm("openai", "m", **{n: v})
    arguments["track_llm(provider)"] = lambda v: apm.track_llm(v if v is not None else "x")
    for name in ("system", "operation", "operation_name", "carrier", "message_id",
                 "server_address", "server_port"):  # fmt: skip
        arguments[f"track_message({name})"] = lambda v, n=name: apm.track_message("q", **{n: v})
    for name in ("kind", "pipeline", "modality"):
        arguments[f"track_operation({name})"] = lambda v, n=name: apm.track_operation(
            "stage", **{n: v}
        )
    for name in ("tool_name", "tool_call_id", "tool_description", "tool_type", "agent_name",
                 "agent_id", "agent_description", "agent_version"):  # fmt: skip
        arguments[f"track_llm({name})"] = lambda v, n=name: apm.track_llm(
            "openai", "m", operation="invoke_agent", **{n: v}
        )
    arguments["track_database(retrieval)"] = lambda v: apm.track_database("qdrant", retrieval=v)
    # The extra keywords every tracker shares (one rule): the mapping itself hostile, a
    # value in it hostile, and a dotted keyword.
    for tracker, names in SHARED_KEYWORD_TRACKERS.items():
        arguments[f"{tracker}(attributes)"] = lambda v, t=tracker, a=names: getattr(apm, t)(
            *a, attributes=v
        )
        arguments[f"{tracker}(attributes value)"] = lambda v, t=tracker, a=names: getattr(apm, t)(
            *a, attributes={"myapp.key": v}
        )
        arguments[f"{tracker}(metric_attributes)"] = lambda v, t=tracker, a=names: getattr(apm, t)(
            *a, metric_attributes=v
        )
        arguments[f"{tracker}(metric_attributes value)"] = lambda v, t=tracker, a=names: getattr(
            apm, t
        )(*a, metric_attributes={"tier": v})
        arguments[f"{tracker}(dotted keyword)"] = lambda v, t=tracker, a=names: getattr(apm, t)(
            *a, **{"myapp.value": v}
        )
    return arguments


# Each tracker with the names that identify a call, for the shared extra keywords.
SHARED_KEYWORD_TRACKERS = {
    "track_api": ("/items/{id}", "GET"),
    "track_database": ("postgresql", "SELECT"),
    "track_cache": ("sessions", "get"),
    "track_llm": ("openai", "m"),
    "track_operation": ("stage",),
    "track_message": ("jobs",),
}


TRACKER_ARGUMENTS = _tracker_arguments()


def _run_in_form(tracker, form, result):
    """Run a block that returns ``result`` through ``tracker`` in ``form``; what came out."""
    if form == "with":
        with tracker:
            return result
    if form == "async with":

        async def block():
            async with tracker:
                return result

        return asyncio.run(block())
    if form == "function":
        return tracker(lambda: result)()
    if form == "coroutine":

        async def coroutine():
            return result

        return asyncio.run(tracker(coroutine)())
    if form == "generator":

        def generator():
            yield result

        return next(iter(tracker(generator)()))
    assert form == "async generator"

    async def agenerator():
        yield result

    async def first():
        async for item in tracker(agenerator)():
            return item

    return asyncio.run(first())


FORMS = ("with", "async with", "function", "coroutine", "generator", "async generator")
RESULT = object()  # what the user's block returns: the same object must come back


# --- what "valid" means ---------------------------------------------------------------------


def _assert_text(text, limit=MAX_TEXT):
    assert str is type(text)
    assert len(text) <= limit
    text.encode("utf-8")  # no lone surrogate: protobuf would refuse the whole batch


def _assert_value(value, key=""):
    if key in CONTENT_KEYS or (key == DOCUMENTS_KEY and '"content"' in value):
        _assert_text(value, MAX_CONTENT)
    elif key == "exception.stacktrace":
        _assert_text(value, MAX_STACKTRACE)
    elif type(value) is tuple:
        assert len({type(item) for item in value}) <= 1
        for item in value:
            _assert_value(item)
    elif type(value) is str:
        _assert_text(value)
    elif type(value) is int:
        assert INT64[0] <= value <= INT64[1]
    elif type(value) is float:
        assert math.isfinite(value)
    else:
        assert type(value) is bool


def _assert_attributes(attributes):
    for key, value in (attributes or {}).items():
        _assert_text(key, MAX_KEY)
        _assert_value(value, key)


def _assert_exportable(capture):
    """Spans and metric points encode as OTLP; every text, number and label is bounded."""
    spans = capture.spans
    encode_spans(spans)
    for span in spans:
        _assert_text(span.name)
        _assert_attributes(span.attributes)
        for event in span.events:
            _assert_text(event.name)
            _assert_attributes(event.attributes)
        if span.status.description is not None:
            _assert_text(span.status.description, 256)
    data = capture._reader.get_metrics_data()
    if data is not None:
        encode_metrics(data)
        for metric in capture.metrics().values():
            for point in metric.data.data_points:
                for value in (point.attributes or {}).values():
                    assert type(value) in (bool, int) or (
                        type(value) is str and len(value) <= MAX_LABEL
                    )
                total = getattr(point, "sum", getattr(point, "value", 0))
                assert math.isfinite(total)
                assert abs(total) <= INT64[1]


# --- trackers ---------------------------------------------------------------------------------


class TestEveryTrackerArgument:
    @PROPERTY
    @given(
        argument=st.sampled_from(sorted(TRACKER_ARGUMENTS)),
        form=st.sampled_from(FORMS),
        value=VALUE,
    )
    def test_any_value_in_any_form_is_coerced(self, argument, form, value):
        """Any value for any tracker argument, in any form: the block's result comes back
        unchanged and the telemetry is valid OTLP."""
        with capture_telemetry() as capture:
            tracker = TRACKER_ARGUMENTS[argument](value)
            assert RESULT is _run_in_form(tracker, form, RESULT)
            _assert_exportable(capture)
        assert capture.spans

    @pytest.mark.parametrize("argument", sorted(TRACKER_ARGUMENTS))
    def test_every_argument_takes_every_hostile_kind(self, argument):
        """Not left to chance: each argument meets each hostile kind once, under ``with``."""
        for make in HOSTILE_KINDS:
            with capture_telemetry() as capture:
                with TRACKER_ARGUMENTS[argument](make()):
                    pass
                _assert_exportable(capture)

    def test_every_public_tracker_is_driven(self):
        """A new tracker in __all__ must be added to the table above."""
        trackers = {name for name in apm.__all__ if name.startswith("track_")}
        driven = {label.split("(")[0] for label in TRACKER_ARGUMENTS}
        assert trackers == driven

    def test_a_ten_megabyte_pipeline_name_is_cut_on_every_span_and_label(self):
        """The pipeline's name is copied to each stage's span and metric: bounded there."""
        with capture_telemetry() as capture:
            with apm.track_operation("x" * TEN_MB, kind="pipeline"), apm.track_operation("stage"):
                pass
            stage = capture.span("stage")
            assert MAX_TEXT == len(stage.attributes["autobot_apm.pipeline.name"])
            (point,) = capture.metric_points("autobot_apm.pipeline.items")
            assert MAX_LABEL == len(point.attributes["autobot_apm.pipeline.name"])
            _assert_exportable(capture)


# --- handles ----------------------------------------------------------------------------------

HANDLES = {
    apm.Operation: lambda: apm.track_operation("generic"),
    apm.ApiOperation: lambda: apm.track_api("/items/{id}", "GET"),
    apm.CacheOperation: lambda: apm.track_cache("sessions"),
    apm.DatabaseOperation: lambda: apm.track_database("postgresql", "SELECT"),
    apm.LlmOperation: lambda: apm.track_llm("openai", "gpt-4o"),
    apm.MessageOperation: lambda: apm.track_message("jobs", operation="send"),
    apm.TrackedOperation: lambda: apm.track_operation("media", kind="pipeline"),
}
PROPERTIES = {"trace_id", "span_id", "elapsed", "pipeline"}


def _public_methods(cls):
    return sorted(
        name
        for name, member in inspect.getmembers(cls)
        if not name.startswith("_") and name not in PROPERTIES and callable(member)
    )


def _call_with(method, value):
    """Call ``method`` with ``value`` for every parameter it has (``**extra`` too)."""
    args, kwargs = [], {}
    for parameter in inspect.signature(method).parameters.values():
        if parameter.kind is parameter.VAR_KEYWORD:
            kwargs["cache_read_input_tokens"] = value
            kwargs["myapp_tokens"] = value
        elif parameter.kind is parameter.KEYWORD_ONLY:
            kwargs[parameter.name] = value
        elif parameter.kind is not parameter.VAR_POSITIONAL:
            args.append(value)
    return method(*args, **kwargs)


def _drive_handle(op, value):
    for name in _public_methods(type(op)):
        _call_with(getattr(op, name), value)
    for name in PROPERTIES:
        getattr(op, name, None)


class TestEveryHandleMethod:
    @PROPERTY
    @given(
        handle=st.sampled_from(sorted(HANDLES, key=lambda cls: cls.__name__)),
        value=VALUE,
        capture_content=st.booleans(),
    )
    def test_any_value_in_any_method(self, handle, value, capture_content):
        """Every public method of the handle, every parameter the same hostile value;
        also after the block (an ended handle) and on the inert handle."""
        with capture_telemetry(capture_message_content=capture_content) as capture:
            with HANDLES[handle]() as op:
                _drive_handle(op, value)
            _drive_handle(op, value)
            _assert_exportable(capture)
        _drive_handle(apm.current_operation(handle), value)

    @pytest.mark.parametrize("handle", sorted(HANDLES, key=lambda cls: cls.__name__))
    def test_every_method_takes_every_hostile_kind(self, handle):
        for make in HOSTILE_KINDS:
            with capture_telemetry(capture_message_content=True) as capture:
                with HANDLES[handle]() as op:
                    _drive_handle(op, make())
                _assert_exportable(capture)

    @pytest.mark.parametrize(
        "value",
        [10**400, 2**62, float("inf"), float("nan"), EvilInt(5)],
        ids=["10**400", "2**62", "inf", "nan", "EvilInt"],
    )
    def test_results_and_chunks_with_hostile_usage_stay_exportable(self, value):
        """Usage read from a returned result or from stream chunks passes the same gate."""
        usage = {"prompt_tokens": value, "completion_tokens": value, "total_tokens": value}
        answer = {"model": EvilStr("gpt"), "id": EvilStr("id"), "usage": usage,
                  "choices": [{"finish_reason": EvilStr("stop")}]}  # fmt: skip
        with capture_telemetry(capture_message_content=True) as capture:
            apm.track_llm("openai", "m")(lambda: answer)()
            chunks = [{"choices": [{"delta": {"content": EvilStr("hi")}}]}, answer,
                      {"done": True, "eval_count": value, "total_duration": value,
                       "response": EvilStr("r"), "done_reason": RaisingObject()}]  # fmt: skip
            assert chunks == list(apm.track_llm("ollama", "m")(lambda: iter(chunks))())
            with apm.track_operation("p", kind="pipeline") as pipeline:
                pipeline.items(value, failed=value)
                pipeline.items(value, failed=value)
            _assert_exportable(capture)

    @pytest.mark.parametrize(
        "make",
        [
            lambda: apm.track_database("qdrant", "search", collection="docs", retrieval=True),
            lambda: apm.track_llm("openai", "m", operation="retrieval", data_source="docs"),
        ],
        ids=["database retrieval", "llm retrieval"],
    )
    def test_retrieval_handles_take_every_hostile_kind(self, make):
        """retrieved(documents=, query=) on a retrieval span: documents and query hostile."""
        for kind in HOSTILE_KINDS:
            with capture_telemetry(capture_message_content=True) as capture:
                with make() as op:
                    value = kind()
                    op.retrieved(value, value, value, documents=value, query=value)
                    op.retrieved(documents=[value, {"id": value, "score": value,
                                                    "content": value}])  # fmt: skip
                _assert_exportable(capture)

    def test_every_handle_class_is_driven(self):
        exported = {getattr(apm, name) for name in apm.__all__}
        handles = {
            cls for cls in exported if isinstance(cls, type) and issubclass(cls, apm.Operation)
        }
        assert handles == set(HANDLES)


# --- the user's exceptions ----------------------------------------------------------------


def _frames(exc):
    """(file, line, function) of each traceback entry outside autobot_apm."""
    return [
        (frame.filename, frame.lineno, frame.name)
        for frame in traceback.extract_tb(exc.__traceback__)
        if "/autobot_apm/" not in frame.filename
    ]


def _raise_through(context, error):
    try:
        with context:
            raise error
    except BaseException as caught:
        return caught
    raise AssertionError("nothing was raised")


ERRORS = [
    UnprintableError,
    CodedError,
    lambda: ValueError(RaisingObject()),
    lambda: ValueError("x" * TEN_MB),
    lambda: KeyboardInterrupt(),
    lambda: asyncio.CancelledError(),
]


class TestTheUsersExceptionsPassUnchanged:
    @pytest.mark.parametrize("make_error", ERRORS)
    @pytest.mark.parametrize("handle", sorted(HANDLES, key=lambda cls: cls.__name__))
    def test_same_object_and_same_traceback_from_a_with_block(self, handle, make_error):
        with capture_telemetry() as capture:
            untracked = _raise_through(nullcontext(), make_error())
            error = make_error()
            tracked = _raise_through(HANDLES[handle](), error)
            assert tracked is error
            # Same frames but for the line numbers of the two raise sites' callers.
            assert [f[0] for f in _frames(untracked)] == [f[0] for f in _frames(tracked)]
            assert traceback.extract_tb(tracked.__traceback__)[-1].name == "_raise_through"
            assert len(traceback.extract_tb(tracked.__traceback__)) == 1
            _assert_exportable(capture)

    @pytest.mark.parametrize("form", ["function", "coroutine", "generator", "async generator"])
    def test_same_object_and_the_users_frames_from_a_decorated_callable(self, form):
        """A decorated callable adds its wrapper's frames, never drops or changes one."""
        first, second = UnprintableError(), UnprintableError()

        def raising(error):
            def body():
                raise error

            return body

        with capture_telemetry() as capture:
            untracked = _raise_from(form, raising(first), None)
            tracked = _raise_from(form, raising(second), apm.track_operation("work"))
            assert (untracked, tracked) == (first, second)
            assert [f[2] for f in _frames(untracked)] == [f[2] for f in _frames(tracked)]
            (event,) = capture.span("work").events
            assert "<unprintable>" == event.attributes["exception.message"]
            _assert_exportable(capture)


def _raise_from(form, body, tracker):
    """Run ``body`` (which raises) as a callable of ``form``, tracked or not."""

    def function():
        body()

    async def coroutine():
        body()

    def generator():
        body()
        yield

    async def agenerator():
        body()
        yield

    callables = {"function": function, "coroutine": coroutine, "generator": generator,
                 "async generator": agenerator}  # fmt: skip
    target = callables[form]
    target = tracker(target) if tracker is not None else target
    try:
        if form == "function":
            target()
        elif form == "coroutine":
            asyncio.run(target())
        elif form == "generator":
            next(target())
        else:
            asyncio.run(target().__anext__())
    except UnprintableError as caught:
        return caught
    raise AssertionError("nothing was raised")


# --- the wire -------------------------------------------------------------------------------


class TestALaterExportIsStillAccepted:
    def test_hostile_data_then_normal_data_reach_the_receiver(self):
        """Hostile spans, events and metric values go to the loopback receiver over
        HTTP; every request decodes, and a later export of normal data arrives."""
        with OTLPReceiver() as receiver:
            apm.configure(endpoint=receiver.http_endpoint, metric_export_interval=3600,
                          span_schedule_delay=60)  # fmt: skip
            try:
                for make in HOSTILE_KINDS:
                    value = make()
                    with apm.track_operation(value, kind="pipeline", pipeline=value) as op:
                        _drive_handle(op, value)
                    with apm.track_llm("openai", value) as llm:
                        _drive_handle(llm, value)
                    with apm.track_database("postgresql", query=value) as db:
                        db.rows(value)
                assert flush(timeout=10)
                with apm.track_cache("after"):
                    pass
                assert flush(timeout=10)
                spans = receiver.wait_for_spans(
                    lambda found: any(s.name == "get after" for s in found)
                )
                receiver.wait_for_metrics("autobot_apm.cache.operations", timeout=10)
            finally:
                apm.shutdown(timeout=5)
            assert {"ok"} == {request.mode for request in receiver.requests}
            assert len(spans) > 3 * len(HOSTILE_KINDS)
