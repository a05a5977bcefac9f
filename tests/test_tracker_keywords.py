"""Extra keywords mean the same in every tracker.

``attributes=`` are span attributes under any key; ``metric_attributes=`` label the
tracker's metrics and the span; a dotted keyword is a span attribute; an undotted keyword
a tracker does not know is a TypeError when the tracker is made, naming a close match.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind

import autobot_apm as apm
from autobot_apm.testing import Capture


class Tier(enum.Enum):
    GOLD = "gold"


# name -> (build the tracker with extra keywords, its span name, its duration metric)
TRACKERS: dict[str, tuple[Callable[..., Any], str, str]] = {
    "track_api": (
        lambda **kw: apm.track_api("/items/{id}", "GET", **kw),
        "GET /items/{id}", "http.server.request.duration",
    ),
    "track_database": (
        lambda **kw: apm.track_database("postgresql", "SELECT", collection="users", **kw),
        "SELECT users", "db.client.operation.duration",
    ),
    "track_cache": (
        lambda **kw: apm.track_cache("sessions", "set", **kw),
        "set sessions", "autobot_apm.cache.operation.duration",
    ),
    "track_llm": (
        lambda **kw: apm.track_llm("openai", "gpt-4o", **kw),
        "chat gpt-4o", "gen_ai.client.operation.duration",
    ),
    "track_operation": (
        lambda **kw: apm.track_operation("stage", **kw),
        "stage", "autobot_apm.operation.duration",
    ),
    "track_message": (
        lambda **kw: apm.track_message("jobs", operation="send", **kw),
        "send jobs", "messaging.client.operation.duration",
    ),
}  # fmt: skip

# A misspelt keyword of each tracker, and the keyword the error should suggest.
MISSPELT = {
    "track_api": ("shceme", "scheme"),
    "track_database": ("colection", "collection"),
    "track_cache": ("sytem", "system"),
    "track_llm": ("temprature", "temperature"),
    "track_message": ("carier", "carrier"),
}


def _record(tracker: str, **keywords: Any) -> None:
    build = TRACKERS[tracker][0]
    with build(**keywords):
        pass


@pytest.mark.parametrize("tracker", TRACKERS)
class TestEveryTracker:
    def test_attributes_go_on_the_span_only(self, apm_capture: Capture, tracker: str):
        """attributes={...}: span attributes under any key, coerced; never a label."""
        _record(tracker, attributes={"user_id": 7, "myapp.tags": [1, "a"], 3: "no key"})
        _, span_name, metric = TRACKERS[tracker]
        attributes = apm_capture.span(span_name).attributes or {}
        assert 7 == attributes["user_id"]
        assert ("1", "a") == attributes["myapp.tags"]  # the one coercion layer
        (point,) = apm_capture.metric_points(metric)
        assert "user_id" not in point.attributes

    def test_metric_attributes_label_the_metric_and_the_span(
        self, apm_capture: Capture, tracker: str
    ):
        """metric_attributes={...}: bounded values label the metric and the span; other
        values stay on the span."""
        _record(tracker, metric_attributes={"tier": Tier.GOLD, "gpu": True, "blob": 1.5})
        _, span_name, metric = TRACKERS[tracker]
        attributes = apm_capture.span(span_name).attributes or {}
        assert True is attributes["gpu"]
        assert 1.5 == attributes["blob"]
        (point,) = apm_capture.metric_points(metric, {"tier": "gold", "gpu": True})
        assert "blob" not in point.attributes

    def test_a_dotted_keyword_is_a_span_attribute(self, apm_capture: Capture, tracker: str):
        """**{"myapp.tier": ...}: a span attribute under that name, not a label."""
        _record(tracker, **{"myapp.tier": "gold"})
        _, span_name, metric = TRACKERS[tracker]
        assert "gold" == (apm_capture.span(span_name).attributes or {})["myapp.tier"]
        (point,) = apm_capture.metric_points(metric)
        assert "myapp.tier" not in point.attributes

    def test_the_trackers_own_attributes_win(self, apm_capture: Capture, tracker: str):
        """An extra attribute cannot replace one the tracker sets itself."""
        _, span_name, _ = TRACKERS[tracker]
        before = dict(_span_after(apm_capture, tracker).attributes or {})
        apm_capture.clear()
        _record(tracker, attributes=dict.fromkeys(before, "replaced"))
        assert before == dict(apm_capture.span(span_name).attributes or {})

    def test_unusable_extras_never_raise(self, apm_capture: Capture, tracker: str):
        """A non-mapping, or a mapping that fails to iterate, adds nothing."""

        class Failing(dict[str, object]):
            def items(self) -> Any:
                raise RuntimeError("broken mapping")

        _record(tracker, attributes="not a mapping", metric_attributes=Failing(a=1))
        assert 1 == len(apm_capture.spans)


def _span_after(capture: Capture, tracker: str) -> Any:
    _record(tracker)
    return capture.span(TRACKERS[tracker][1])


@pytest.mark.parametrize("tracker", MISSPELT)
def test_a_misspelt_keyword_is_a_type_error_naming_the_close_match(tracker: str):
    """An undotted keyword the tracker does not know fails when the tracker is made."""
    misspelt, meant = MISSPELT[tracker]
    with pytest.raises(TypeError, match=f"{tracker}.*{misspelt!r}.*did you mean {meant!r}"):
        TRACKERS[tracker][0](**{misspelt: "x"})


def test_an_unknown_keyword_lists_the_trackers_keywords():
    """Without a close match, the message still lists what the tracker takes."""
    with pytest.raises(TypeError, match="hit, metric_attributes, operation, system"):
        apm.track_cache("sessions", user_id=7)


def test_track_operation_keeps_undotted_keywords_as_span_attributes(apm_capture: Capture):
    """track_operation's own extension (its released API): any keyword is a span
    attribute, never a label."""
    with apm.track_operation("resize", image_id=42):
        pass
    assert 42 == (apm_capture.span("resize").attributes or {})["image_id"]
    (point,) = apm_capture.metric_points("autobot_apm.operation.duration")
    assert "image_id" not in point.attributes


def test_track_api_under_a_server_span_adds_its_attributes_there(apm_capture: Capture):
    """Under another owner's server span, track_api's extra span attributes go on it."""
    tracer = apm_capture.tracer_provider.get_tracer("server")
    with tracer.start_as_current_span("GET", kind=SpanKind.SERVER) as server:
        assert server is trace.get_current_span()
        with apm.track_api("/items/{id}", attributes={"myapp.tenant": "acme"}):
            pass
    (span,) = apm_capture.spans
    assert "acme" == (span.attributes or {})["myapp.tenant"]
    assert "/items/{id}" == (span.attributes or {})["http.route"]
