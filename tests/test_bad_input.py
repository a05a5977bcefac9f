"""Bad input, as properties: any Python value where a tracker, a handle or configure()
takes one, and hostile trace headers.

What the library promises (docs/reliability.md):

* tracker arguments (route, method, system, names, query, model...) are given once, at
  decoration; any value is turned into text (``None`` dropped, bytes decoded, other
  objects through ``str()``, ``<unprintable>`` when that fails), cut to 4,096
  characters, and never raises. The few arguments that are code, not data, raise a
  clear ``TypeError`` at decoration: a ``hit=`` predicate that is not callable,
  ``track_llm()`` without ``provider=`` and an unknown LLM request parameter;
* handle methods (``op.set_attribute``, ``op.add_event``, ``op.fail``...) take any
  value at run time, coerce it or drop it, and never raise;
* whatever goes in, the exported span is valid OTLP: one bad value never costs the
  other spans of its export batch;
* configure() raises ConfigurationError naming the setting, and nothing else;
* a malformed or hostile ``traceparent`` starts a new trace; hostile ``baggage`` is
  bounded and never breaks the trace.

The suite runs with ``AUTOBOT_APM_STRICT=1`` (tests/conftest.py): a fault that the
library would contain in production fails the test here.
"""

import asyncio
import re

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from opentelemetry import baggage, trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

import autobot_apm as apm
from autobot_apm._sdk import settings as _config
from autobot_apm.asgi import APMMiddleware
from autobot_apm.llm import REQUEST_PARAMETERS, track_llm
from autobot_apm.propagation import attach_context, extract
from autobot_apm.receiver import OTLPReceiver
from autobot_apm.testing import capture_telemetry

PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MAX_TEXT = 4096  # characters of a span name or string attribute value
MAX_KEY = 255  # characters of an attribute key
MAX_ITEMS = 128  # items of an array attribute
MAX_LABEL = 128  # characters of a metric attribute value
# Opt-in LLM content: up to 128 messages of 4,096 characters each, as JSON.
CONTENT_KEYS = {"gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions"}
MAX_CONTENT = 128 * 2 * MAX_TEXT
RESULT = object()  # what the user's function returns: the same object must come back


# --- hostile values -----------------------------------------------------------------------


class RaisingStr:
    """str() and format() fail, as with a half-initialized ORM object."""

    def __str__(self):
        raise RuntimeError("no str")

    def __repr__(self):
        # Hypothesis reports examples with repr(); a raising repr would hide the failure.
        return "RaisingStr()"


class RaisingEverything(RaisingStr):
    """Every dunder a library might touch raises (a broken proxy object), except repr."""

    __hash__ = None  # unhashable, as a mutable object is

    def __repr__(self):
        return "RaisingEverything()"

    def __eq__(self, other):
        raise RuntimeError("no eq")

    def __bool__(self):
        raise RuntimeError("no bool")

    def __len__(self):
        raise RuntimeError("no len")

    def __iter__(self):
        raise RuntimeError("no iter")

    def __getattr__(self, name):
        raise RuntimeError(f"no {name}")


class RaisingRepr(RaisingEverything):
    """Even repr() fails; used outside hypothesis, which reports examples with repr()."""

    def __repr__(self):
        raise RuntimeError("no repr")


class HugeInt(int):
    """An int subclass beyond 64 bits whose conversions raise."""

    def __int__(self):
        raise OverflowError("no int")

    def __index__(self):
        raise OverflowError("no index")


def _self_containing():
    items = []
    items.append(items)
    return items


# Factories, so that hypothesis can describe the strategy without calling a hostile repr().
ODD = st.sampled_from(
    [
        RaisingStr,
        RaisingEverything,
        lambda: HugeInt(2**80),
        _self_containing,
        object,
        lambda: "x" * 100_000,
        lambda: "é" * 50_000,
        lambda: b"\xff" * 100_000,
        lambda: "lone \udcff surrogate",
        lambda: b"\xfe\xff bytes",
        lambda: float("nan"),
        lambda: float("inf"),
        lambda: 2**100,
        lambda: -(2**70),
        lambda: bytearray(b"abc"),
        lambda: memoryview(b"mem"),
        lambda: range(10**9),
        lambda: frozenset({1, "a"}),
        lambda: {1: {2: {3: {4: {5: {6: "deep"}}}}}},
        lambda: [RaisingStr(), 1, "a"],
    ]
).map(lambda make: make())
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(st.characters(exclude_categories=()), max_size=40)
    | st.binary(max_size=40)
    | ODD
)
ANY = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=5) | st.integers(), inner, max_size=4)
    ),
    max_leaves=8,
)


# --- what "valid" means ---------------------------------------------------------------------


def _assert_text(text, limit=MAX_TEXT):
    assert str is type(text)
    assert len(text) <= limit
    text.encode("utf-8")  # no lone surrogates: protobuf would refuse the batch


def _assert_value(value):
    if type(value) is tuple:
        assert len(value) <= MAX_ITEMS
        assert len({type(item) for item in value}) <= 1
        for item in value:
            _assert_value(item)
    elif type(value) is str:
        _assert_text(value)
    elif type(value) is int:
        assert -(2**63) <= value < 2**63
    else:
        assert type(value) in (bool, float)


def _assert_attributes(attributes):
    for key, value in (attributes or {}).items():
        _assert_text(key, MAX_KEY)
        if key in CONTENT_KEYS:
            _assert_text(value, MAX_CONTENT)
        else:
            _assert_value(value)


def _assert_exportable(capture):
    """Every span encodes as OTLP and every name, key, value and label is bounded."""
    spans = capture.spans
    encode_spans(spans)
    for span in spans:
        _assert_text(span.name)
        _assert_attributes(span.attributes)
        for event in span.events:
            _assert_text(event.name)
            _assert_attributes(event.attributes)
    for metric in capture.metrics().values():
        for point in metric.data.data_points:
            for value in (point.attributes or {}).values():
                assert type(value) in (bool, int) or (
                    type(value) is str and len(value) <= MAX_LABEL
                )


def _mapping(key, value):
    """``{key: value}``, or ``{"key": value}`` when ``key`` cannot be a dict key."""
    try:
        return {key: value}
    except Exception:
        return {"key": value}


def _returns_result(tracker):
    @tracker
    def user_function():
        return RESULT

    return user_function()


# --- tracker arguments ------------------------------------------------------------------------


class TestTrackerArguments:
    @PROPERTY
    @given(route=ANY, method=ANY, scheme=ANY)
    @example(route=RaisingStr(), method=RaisingEverything(), scheme=None)
    @example(route="/files/\udcff", method=b"GET", scheme="http")
    def test_track_api_takes_any_route_method_and_scheme(self, route, method, scheme):
        """Any route, method and scheme: the call returns its result, the span is valid."""
        with capture_telemetry() as capture:
            tracker = apm.track_api(route=route, method=method, scheme=scheme)
            assert RESULT is _returns_result(tracker)
            _assert_exportable(capture)
        assert 1 == len(capture.spans)

    @PROPERTY
    @given(system=ANY, names=st.fixed_dictionaries({}, optional={
        "operation": ANY, "collection": ANY, "namespace": ANY, "query": ANY, "summary": ANY,
        "stored_procedure": ANY, "server_address": ANY, "server_port": ANY,
        "batch_size": ANY,
    }))  # fmt: skip
    @example(system=b"\xff", names={"batch_size": "many", "collection": RaisingEverything()})
    @example(system=[1, 2], names={"query": "SELECT 1"})
    def test_track_database_takes_any_argument(self, system, names):
        """Any system, names and query: the call returns its result, the span is valid."""
        with capture_telemetry() as capture:
            assert RESULT is _returns_result(apm.track_database(system, **names))
            _assert_exportable(capture)
        assert 1 == len(capture.spans)

    @PROPERTY
    @given(name=ANY, operation=ANY, system=ANY)
    @example(name=RaisingStr(), operation=["get"], system=RaisingEverything())
    def test_track_cache_takes_any_name_operation_and_system(self, name, operation, system):
        """Any cache name, operation and system: the call returns its result, the span is valid."""
        with capture_telemetry() as capture:
            tracker = apm.track_cache(name, operation=operation, system=system)
            assert RESULT is _returns_result(tracker)
            _assert_exportable(capture)
        assert 1 == len(capture.spans)

    @PROPERTY
    @given(
        provider=ANY.filter(lambda value: value is not None),
        model=ANY,
        operation=ANY,
        parameter=st.sampled_from(sorted(REQUEST_PARAMETERS)),
        value=ANY,
    )
    @example(provider="openai", model=RaisingStr(), operation=RaisingEverything(),
             parameter="n", value=RaisingEverything())  # fmt: skip
    def test_track_llm_takes_any_model_operation_and_parameter(
        self, provider, model, operation, parameter, value
    ):
        """Any provider, model, operation and request parameter value: the span is valid."""
        with capture_telemetry() as capture:
            tracker = track_llm(
                provider=provider, model=model, operation=operation, **{parameter: value}
            )
            assert RESULT is _returns_result(tracker)
            _assert_exportable(capture)
        assert 1 == len(capture.spans)

    def test_a_hit_predicate_that_is_not_callable_is_a_type_error_at_decoration(self):
        """hit= is code, not data: a non-callable is a clear TypeError at decoration."""
        with pytest.raises(TypeError, match="hit"):
            apm.track_cache("sessions", hit="yes")

    def test_track_llm_without_a_provider_is_a_type_error(self):
        """provider= is required; leaving it out is a clear TypeError naming it."""
        with pytest.raises(TypeError, match="provider"):
            track_llm(model="gpt-4o")

    def test_an_unknown_llm_request_parameter_is_a_type_error(self):
        """A misspelt request parameter is a TypeError that lists the known ones."""
        with pytest.raises(TypeError, match="max_tokens"):
            track_llm(provider="openai", max_tokenz=10)


# --- handle methods ---------------------------------------------------------------------------


class TestHandleMethods:
    @PROPERTY
    @given(key=ANY, value=ANY)
    @example(key="k\udcff", value=RaisingStr())
    @example(key="k" * 100_000, value=RaisingEverything())
    def test_every_operation_method_takes_any_value(self, key, value):
        """set_attribute, add_event, fail, status and rows take any value and never raise."""
        with capture_telemetry() as capture:
            with apm.track_api(route="/items/{id}", method="GET") as op:
                op.set_attribute(key, value)
                op.set_attributes(value)
                op.set_attributes(_mapping(key, value))
                op.add_event(value, value)
                op.add_event("event", _mapping(key, value))
                op.status(value)
                op.fail(value)
            with apm.track_database("postgresql", operation="SELECT") as db:
                db.rows(value)
            with apm.track_cache("sessions") as cache:
                cache.hit()
            _assert_exportable(capture)
        assert 3 == len(capture.spans)

    @PROPERTY
    @given(value=ANY, capture_content=st.booleans())
    @example(value=RaisingEverything(), capture_content=True)
    @example(value=7, capture_content=False)
    def test_every_llm_method_takes_any_value(self, value, capture_content):
        """usage, chunk, response, prompt, completion and retrieved take any value."""
        with capture_telemetry(capture_message_content=capture_content) as capture:
            with track_llm(provider="openai", model="gpt-4o") as op:
                op.usage(value, value, cache_read_input_tokens=value)
                op.chunk(value)
                op.response(model=value, id=value, finish_reasons=value)
                op.prompt(value)
                op.completion(value)
                op.retrieved(value, value, value)
            _assert_exportable(capture)
        assert 1 == len(capture.spans)


class TestOneBadSpanPerBatch:
    def test_an_unencodable_route_does_not_cost_the_other_spans(self):
        """A route with a lone surrogate still lets the spans exported beside it arrive."""
        with OTLPReceiver() as receiver:
            apm.configure(endpoint=receiver.http_endpoint, metric_export_interval=3600,
                          span_schedule_delay=60)  # fmt: skip
            try:
                with apm.track_api(route="/files/\udcff", method="GET"):
                    pass
                with apm.track_cache("neighbour"):
                    pass
            finally:
                apm.shutdown(timeout=5)
            names = {span.name for span in receiver.spans}
        assert "get neighbour" in names


# --- configure() ------------------------------------------------------------------------------


class TestConfigureValues:
    @PROPERTY
    @given(name=st.sampled_from([s.name for s in _config.SETTINGS]), value=ANY)
    @example(name="excluded_urls", value=5)
    @example(name="protocol", value=RaisingEverything())
    def test_any_value_is_accepted_or_a_configuration_error(self, name, value):
        """Whatever the value, resolving the settings raises only ConfigurationError."""
        try:
            _config.resolve({name: value}, environ={})
        except apm.ConfigurationError as error:
            refused = error
        else:
            return
        assert refused.setting.startswith(name)
        assert name in str(refused)

    def test_the_error_message_survives_a_value_whose_repr_raises(self):
        """A value whose repr() raises still gives the ConfigurationError, naming the setting."""
        with pytest.raises(apm.ConfigurationError, match="protocol"):
            _config.resolve({"protocol": RaisingRepr()}, environ={})

    @pytest.mark.parametrize(
        ("setting", "value"),
        [("capture_message_content", "sometimes"), ("llm_prices", {"gpt-4o": "cheap"})],
    )
    def test_llm_settings_are_checked_at_configure(self, setting, value):
        """A malformed LLM setting is refused by configure(), not at the first LLM call."""
        try:
            with pytest.raises(apm.ConfigurationError, match=setting):
                apm.configure(exporter="none", **{setting: value})
        finally:
            apm.shutdown()


# --- hostile trace headers ------------------------------------------------------------------

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
SPAN_ID = "b7ad6b7169203331"
VALID = f"00-{TRACE_ID}-{SPAN_ID}-01"
_W3C = re.compile(r"^\s*00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}\s*$")


def _is_valid_traceparent(value):
    match = _W3C.match(value) if isinstance(value, str) else None
    return bool(match) and set(match[1]) != {"0"} and set(match[2]) != {"0"}


def _replace(text, position, char):
    return text[:position] + char + text[position + 1 :]


HOSTILE_TRACEPARENTS = st.one_of(
    st.integers(0, len(VALID) - 1).map(lambda n: VALID[:n]),  # cut short
    st.text(min_size=1, max_size=20).filter(str.strip).map(lambda tail: VALID + tail),
    st.builds(
        _replace,
        st.just(VALID),
        st.integers(3, len(VALID) - 4).filter(lambda n: VALID[n] != "-"),
        st.sampled_from("ghxzGAF!_ -\x00é"),  # not lower-case hex
    ),
    st.just(f"00-{'0' * 32}-{SPAN_ID}-01"),  # all-zero trace id
    st.just(f"00-{TRACE_ID}-{'0' * 16}-01"),  # all-zero span id
    st.just(f"ff-{TRACE_ID}-{SPAN_ID}-01"),  # forbidden version
    st.just(10_000).map(lambda n: VALID + "-" + "a" * n),  # oversized
    st.text(max_size=80),
    st.binary(max_size=80),
    ODD,
).filter(lambda value: not _is_valid_traceparent(value))

HOSTILE_BAGGAGE = st.one_of(
    st.just(9_000).map(lambda n: "k=" + "v" * n),  # over 8,192 bytes in all
    st.just(500).map(lambda n: ",".join(f"k{i}=v" for i in range(n))),  # over 180 members
    st.just(5_000).map(lambda n: "big=" + "v" * n + ",small=1"),  # a member over 4,096
    st.just("a=%zz,=,;;;,==,k=v;prop=%"),  # malformed encoding and members
    st.text(max_size=200),
    st.binary(max_size=200),
    ODD.filter(lambda value: not (type(value) is str and "\udcff" in value)),  # see below
)


async def _asgi_app(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def _header_bytes(value):
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return str(value).encode("utf-8", "surrogatepass") if isinstance(value, str) else b"\x00"


def _request_through_middleware(headers):
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": "/items/1", "raw_path": b"/items/1", "query_string": b"",
        "root_path": "", "headers": headers, "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }  # fmt: skip
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    asyncio.run(APMMiddleware(_asgi_app)(scope, receive, send))
    return sent


class TestHostileTraceHeaders:
    @PROPERTY
    @given(traceparent=HOSTILE_TRACEPARENTS)
    def test_a_malformed_traceparent_starts_a_new_trace(self, traceparent):
        """apm.attach_context with a malformed traceparent: the span is a new trace's root."""
        with capture_telemetry() as capture:
            with (
                attach_context({"traceparent": traceparent}),
                apm.track_api(route="/x", method="GET"),
            ):
                pass
            (span,) = capture.spans
        assert span.parent is None
        assert TRACE_ID != format(span.context.trace_id, "032x")

    @PROPERTY
    @given(traceparent=HOSTILE_TRACEPARENTS, tracestate=ANY)
    def test_the_middleware_starts_a_new_trace_for_a_malformed_traceparent(
        self, traceparent, tracestate
    ):
        """Through APMMiddleware: the request is answered and its span starts a new trace."""
        headers = [(b"traceparent", _header_bytes(traceparent)),
                   (b"tracestate", _header_bytes(tracestate))]  # fmt: skip
        with capture_telemetry() as capture:
            sent = _request_through_middleware(headers)
            (span,) = capture.spans
        assert 200 == sent[0]["status"]
        assert span.parent is None
        assert TRACE_ID != format(span.context.trace_id, "032x")

    @PROPERTY
    @given(hostile=HOSTILE_BAGGAGE)
    def test_hostile_baggage_is_bounded_and_keeps_the_trace(self, hostile):
        """Hostile baggage never raises, keeps within 180 entries and does not break the trace."""
        context = extract({"traceparent": VALID, "baggage": hostile})
        entries = baggage.get_all(context)
        assert len(entries) <= 180
        assert all(len(str(key)) + len(str(value)) <= 4096 for key, value in entries.items())
        with capture_telemetry() as capture:
            carrier = {"traceparent": VALID, "baggage": hostile}
            with attach_context(carrier), apm.track_api(route="/x", method="GET"):
                pass
            (span,) = capture.spans
        assert SPAN_ID == format(span.parent.span_id, "016x")

    def test_a_baggage_value_with_a_lone_surrogate_keeps_the_trace(self):
        """An unencodable baggage value is ignored; the valid traceparent is still continued."""
        context = extract({"traceparent": VALID, "baggage": "k=lone \udcff surrogate"})
        parent = trace.get_current_span(context).get_span_context()
        assert TRACE_ID == format(parent.trace_id, "032x")

    def test_a_valid_traceparent_is_still_continued(self):
        """Control: the same header, well formed, is continued (the checks above can fail)."""
        with capture_telemetry() as capture:
            _request_through_middleware([(b"traceparent", VALID.encode())])
            (span,) = capture.spans
        assert TRACE_ID == format(span.context.trace_id, "032x")
        assert SPAN_ID == format(span.parent.span_id, "016x")
