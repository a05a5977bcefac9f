"""track_api: server spans, status, and the HTTP duration metric."""

import pytest
from opentelemetry.trace import SpanKind, StatusCode

import autobot_apm as apm
from autobot_apm.testing import Capture

DURATION = "http.server.request.duration"


class Response:
    def __init__(self, status_code):
        self.status_code = status_code


class HTTPError(Exception):
    def __init__(self, status_code):
        super().__init__(status_code)
        self.status_code = status_code


class TestSpan:
    def test_server_span_named_by_method_and_route(self, apm_capture: Capture):
        """A SERVER span `{method} {route}` with the semconv attributes."""

        @apm.track_api(route="/items/{item_id}", method="post")
        def create(item_id):
            return Response(201)

        create(1)
        span = apm_capture.span("POST /items/{item_id}")
        assert SpanKind.SERVER == span.kind
        assert "/items/{item_id}" == span.attributes["http.route"]
        assert "POST" == span.attributes["http.request.method"]
        assert 201 == span.attributes["http.response.status_code"]

    def test_unknown_method_becomes_other(self, apm_capture: Capture):
        """Unknown methods are recorded as _OTHER with the original kept on the span."""
        with apm.track_api(route="/x", method="BREW"):
            pass
        span = apm_capture.span("HTTP /x")
        assert "_OTHER" == span.attributes["http.request.method"]
        assert "BREW" == span.attributes["http.request.method_original"]

    def test_no_route_names_span_by_method(self, apm_capture: Capture):
        """Without a route the span is named by the method alone, never by a path."""

        @apm.track_api(method="GET")
        def handler():
            return Response(200)

        handler()
        assert "GET" == apm_capture.spans[0].name


class TestStatus:
    def test_http_exception_sets_its_status_without_error(self, apm_capture: Capture):
        """A raised 404 HTTP exception is a 404, not an error, on a server span."""
        with pytest.raises(HTTPError), apm.track_api(route="/items/{id}", method="GET"):
            raise HTTPError(404)
        span = apm_capture.span("GET /items/{id}")
        assert 404 == span.attributes["http.response.status_code"]
        assert StatusCode.UNSET == span.status.status_code

    def test_other_exception_is_500_and_error(self, apm_capture: Capture):
        """Any other exception counts as 500 with error.type set to its class."""
        with pytest.raises(ZeroDivisionError), apm.track_api(route="/div", method="GET"):
            1 / 0  # noqa: B018
        span = apm_capture.span("GET /div")
        assert 500 == span.attributes["http.response.status_code"]
        assert "ZeroDivisionError" == span.attributes["error.type"]
        assert StatusCode.ERROR == span.status.status_code

    def test_explicit_5xx_status_is_an_error(self, apm_capture: Capture):
        """op.status(503) marks the span as an error with error.type "503"."""
        with apm.track_api(route="/busy", method="GET") as op:
            op.status(503)
        span = apm_capture.span("GET /busy")
        assert "503" == span.attributes["error.type"]
        assert StatusCode.ERROR == span.status.status_code


class TestMetric:
    def test_one_duration_record_per_call_with_route_and_status(self, apm_capture: Capture):
        """http.server.request.duration: one record per call, by route, method, status."""

        @apm.track_api(route="/items/{id}", method="GET")
        def handler():
            return Response(200)

        for _ in range(3):
            handler()
        attributes = {"http.route": "/items/{id}", "http.request.method": "GET",
                      "http.response.status_code": 200, "url.scheme": "http"}  # fmt: skip
        assert 3 == apm_capture.histogram_count(DURATION, attributes)

    def test_semconv_buckets_are_used(self, apm_capture: Capture):
        """The histogram uses the semconv boundaries in seconds, not the SDK's ms ones."""
        with apm.track_api(route="/x", method="GET"):
            pass
        (point,) = apm_capture.metric_points(DURATION)
        assert (0.005, 0.01, 0.025) == tuple(point.explicit_bounds[:3])

    def test_exemplar_links_the_measurement_to_the_trace(self, apm_capture: Capture):
        """A measurement made in a sampled span carries its trace and span id."""
        with apm.track_api(route="/x", method="GET") as op:
            pass
        (point,) = apm_capture.metric_points(DURATION)
        exemplar = next(e for e in point.exemplars if e.trace_id)
        assert op.trace_id == format(exemplar.trace_id, "032x")
        assert op.span_id == format(exemplar.span_id, "016x")


class TestEnrichment:
    def test_inside_an_existing_server_span_no_second_span(self, apm_capture: Capture):
        """Under a server span (the middleware's), track_api adds to it, records no metric."""
        with apm.track_api(method="GET") as server:
            assert server.span.is_recording()

            @apm.track_api(route="/items/{id}")
            def endpoint():
                return Response(200)

            endpoint()
        assert ["GET /items/{id}"] == [span.name for span in apm_capture.spans]
        assert 1 == apm_capture.histogram_count(DURATION)
