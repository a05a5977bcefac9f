"""track_database: span names, sanitized query text, rows, slow calls, pools."""

import pytest
from opentelemetry.trace import SpanKind

import autobot_apm as apm
from autobot_apm.testing import Capture, capture_telemetry, fake_clock

DURATION = "db.client.operation.duration"


class TestSpan:
    def test_name_and_attributes_from_the_query(self, apm_capture: Capture):
        """Operation, table and summary come from the query; literals become ?."""
        query = "SELECT name FROM users WHERE id = 42 AND email = 'a@b.c'"
        with apm.track_database("postgresql", query=query, namespace="shop"):
            pass
        span = apm_capture.span("SELECT users")
        assert SpanKind.CLIENT == span.kind
        assert "postgresql" == span.attributes["db.system.name"]
        assert "SELECT" == span.attributes["db.operation.name"]
        assert "users" == span.attributes["db.collection.name"]
        assert "42" not in span.attributes["db.query.text"]
        assert "a@b.c" not in span.attributes["db.query.text"]

    def test_name_falls_back_per_semconv(self, apm_capture: Capture):
        """Without summary: `{operation} {target}`, then target, then the system."""
        with apm.track_database("redis", operation="SET"):
            pass
        with apm.track_database("mongodb", collection="orders"):
            pass
        with apm.track_database("sqlite"):
            pass
        assert ["SET", "orders", "sqlite"] == [span.name for span in apm_capture.spans]

    def test_mysql_double_quoted_strings_are_literals(self, apm_capture: Capture):
        """On MySQL "..." is a string, so its content is hidden like '...'."""
        with apm.track_database("mysql", query='SELECT * FROM users WHERE name = "ada"'):
            pass
        assert "ada" not in apm_capture.spans[0].attributes["db.query.text"]

    def test_multi_table_query_is_named_by_its_summary(self, apm_capture: Capture):
        """A join names its span by the summary and sets no single collection."""
        query = "SELECT * FROM orders JOIN users ON orders.user_id = users.id"
        with apm.track_database("postgresql", query=query):
            pass
        span = apm_capture.spans[0]
        assert "db.collection.name" not in span.attributes
        assert span.name == span.attributes["db.query.summary"]

    def test_redis_command_is_sanitized(self, apm_capture: Capture):
        """Redis argument values are hidden, the command and key kept."""
        with apm.track_database("redis", operation="SET", query="SET session:1 secret-token"):
            pass
        text = apm_capture.spans[0].attributes["db.query.text"]
        assert "secret-token" not in text
        assert text.startswith("SET")

    def test_rows_are_reported(self, apm_capture: Capture):
        """op.rows(n) sets db.response.returned_rows and records the rows histogram."""
        with apm.track_database("sqlite", operation="SELECT", collection="t") as op:
            op.rows(7)
        assert 7 == apm_capture.span("SELECT t").attributes["db.response.returned_rows"]
        assert 1 == apm_capture.histogram_count("db.client.response.returned_rows")

    def test_error_carries_the_driver_code(self, apm_capture: Capture):
        """A driver exception's SQLSTATE becomes db.response.status_code."""

        class IntegrityError(Exception):
            sqlstate = "23505"

        with pytest.raises(IntegrityError), apm.track_database("postgresql", operation="INSERT"):
            raise IntegrityError("duplicate key")
        assert "23505" == apm_capture.spans[0].attributes["db.response.status_code"]


class TestMetric:
    def test_duration_by_system_operation_collection(self, apm_capture: Capture):
        """db.client.operation.duration has the low-cardinality attributes, no query."""
        for user_id in range(5):
            with apm.track_database(
                "postgresql", query=f"SELECT * FROM users WHERE id = {user_id}"
            ):
                pass
        (point,) = apm_capture.metric_points(DURATION)
        assert 5 == point.count
        assert "users" == point.attributes["db.collection.name"]
        assert "db.query.text" not in point.attributes

    def test_slow_calls_get_an_event(self):
        """A call over the slow threshold gets the slow_operation event."""
        with capture_telemetry(slow_query_threshold=0.01) as capture, fake_clock() as clock:
            with apm.track_database("sqlite", operation="SELECT", collection="t"):
                clock.advance(0.02)
            with apm.track_database("sqlite", operation="SELECT", collection="fast"):
                pass
        assert ["autobot_apm.slow_operation"] == [e.name for e in capture.span("SELECT t").events]
        assert () == tuple(capture.span("SELECT fast").events)


class TestVectorSearch:
    def test_retrieved_records_count_top_k_and_best_score(self, apm_capture: Capture):
        """op.retrieved() reports results as rows, plus top-k and the best score."""
        with apm.track_database("qdrant", operation="search", collection="docs") as op:
            op.retrieved(count=4, top_k=5, best_score=0.87)
        attributes = apm_capture.span("search docs").attributes
        assert 4 == attributes["db.response.returned_rows"]
        assert 5 == attributes["autobot_apm.db.vector.top_k"]
        assert 0.87 == attributes["autobot_apm.db.vector.best_score"]
        assert 1 == apm_capture.histogram_count("db.client.response.returned_rows")

    @pytest.mark.parametrize("bad", [True, float("nan"), "5", None])
    def test_unusable_values_are_left_out(self, apm_capture: Capture, bad):
        """Values that are not counts or finite scores are ignored, never raised."""
        with apm.track_database("chroma", operation="query", collection="docs") as op:
            op.retrieved(top_k=bad, best_score=bad)
        attributes = apm_capture.span("query docs").attributes
        assert "autobot_apm.db.vector.top_k" not in attributes
        assert "autobot_apm.db.vector.best_score" not in attributes


class TestConnectionPool:
    def test_pool_gauges_are_read_at_collection(self, apm_capture: Capture):
        """observe_connection_pool reports used/idle counts, max and pending requests."""
        state = {"used": 3}
        pool = apm.observe_connection_pool(
            "main", used=lambda: state["used"], idle=lambda: 2, max=lambda: 10, pending=lambda: 1
        )
        try:
            state["used"] = 9
            points = apm_capture.metric_points("db.client.connection.count")
            by_state = {p.attributes["db.client.connection.state"]: p.value for p in points}
            assert {"used": 9, "idle": 2} == by_state
            assert 10 == apm_capture.metric_points("db.client.connection.max")[0].value
        finally:
            pool.close()

    def test_a_raising_callable_is_skipped(self, monkeypatch, apm_capture: Capture):
        """A pool callable that raises costs that one value, nothing else."""
        monkeypatch.setenv("AUTOBOT_APM_STRICT", "0")
        pool = apm.observe_connection_pool("flaky", used=lambda: 1 / 0, idle=lambda: 4)
        try:
            points = apm_capture.metric_points("db.client.connection.count")
            assert [4] == [p.value for p in points]
        finally:
            pool.close()
