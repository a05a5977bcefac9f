"""Retrievals: the documents and the query, from track_llm and from track_database."""

import json
import runpy
from dataclasses import dataclass
from pathlib import Path

import autobot_apm as apm
from autobot_apm.llm import track_llm
from autobot_apm.testing import Capture, capture_telemetry


@dataclass
class ScoredPoint:
    """Shaped like a Qdrant search result."""

    id: int
    score: float
    payload: dict[str, str]


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
HITS = [
    {"id": "doc-7", "score": 0.82, "content": "GPU nodes are drained first."},
    {"id": "doc-2", "score": 0.4, "text": "Night shifts end at six."},
]


def documents_of(capture: Capture, name: str) -> list[dict[str, object]]:
    return json.loads(str(capture.span(name).attributes["gen_ai.retrieval.documents"]))


class TestTrackLlmRetrieval:
    def test_ids_and_scores_without_content(self, apm_capture: Capture):
        """Capture off: ids and scores only; no text, no query."""
        with track_llm("chroma", operation="retrieval", data_source="handbook") as op:
            op.retrieved(documents=HITS, query="how to upgrade?", top_k=5)
        span = apm_capture.span("retrieval handbook")
        assert [{"id": "doc-7", "score": 0.82}, {"id": "doc-2", "score": 0.4}] == documents_of(
            apm_capture, "retrieval handbook"
        )
        assert "gen_ai.retrieval.query.text" not in span.attributes
        assert 5.0 == span.attributes["gen_ai.request.top_k"]

    def test_count_and_best_score_default_to_the_documents(self, apm_capture: Capture):
        """Without count and best_score, they are read from the documents."""
        with track_llm("chroma", operation="retrieval", data_source="handbook") as op:
            op.retrieved(documents=[("a", 0.1), ("b", 0.7), ("c", 0.3)])
        attributes = apm_capture.span("retrieval handbook").attributes
        assert 3 == attributes["autobot_apm.gen_ai.retrieval.result_count"]
        assert 0.7 == attributes["autobot_apm.gen_ai.retrieval.best_score"]

    def test_content_and_query_with_capture_on(self):
        """Capture on the span: the query text and each document's text (cut)."""
        with capture_telemetry(capture_message_content="SPAN_ONLY", content_max_length=10) as cap:
            with track_llm("chroma", operation="retrieval", data_source="handbook") as op:
                op.retrieved(documents=HITS, query="how to upgrade?")
            span = cap.span("retrieval handbook")
            documents = documents_of(cap, "retrieval handbook")
        assert "how to up…" == span.attributes["gen_ai.retrieval.query.text"]
        assert ["GPU nodes…", "Night shi…"] == [document["content"] for document in documents]

    def test_event_only_keeps_content_off_the_span(self):
        """EVENT_ONLY: text and query go to the details event; the span has ids, scores."""
        with capture_telemetry(capture_message_content="EVENT_ONLY") as cap:
            with track_llm("chroma", operation="retrieval", data_source="handbook") as op:
                op.retrieved(documents=HITS, query="q")
            span = cap.span("retrieval handbook")
        assert "content" not in span.attributes["gen_ai.retrieval.documents"]
        (event,) = span.events
        assert "q" == event.attributes["gen_ai.retrieval.query.text"]
        assert "GPU nodes" in event.attributes["gen_ai.retrieval.documents"]

    def test_odd_documents_never_raise(self, apm_capture: Capture):
        """Unreadable items become empty entries; a failing iterator keeps what came."""

        def failing():
            yield {"id": object(), "score": float("nan")}
            raise RuntimeError("store went away")

        with track_llm("chroma", operation="retrieval", data_source="s") as op:
            op.retrieved(documents=failing())
        with track_llm("chroma", operation="retrieval", data_source="t") as op:
            op.retrieved(documents=42)
        (entry,) = documents_of(apm_capture, "retrieval s")
        assert "score" not in entry
        assert [] == documents_of(apm_capture, "retrieval t")


class TestTrackDatabaseRetrieval:
    def test_a_vector_search_as_a_retrieval(self, apm_capture: Capture):
        """retrieval=True: span `retrieval {collection}` with the GenAI attributes beside
        the db.* ones, and the database duration metric."""
        points = [ScoredPoint(7, 0.82, {"text": "x"}), ScoredPoint(2, 0.4, {"text": "y"})]
        with apm.track_database("qdrant", "search", collection="handbook", retrieval=True) as op:
            op.retrieved(documents=points, top_k=3, query="q")
        span = apm_capture.span("retrieval handbook")
        expected = {
            "gen_ai.operation.name": "retrieval",
            "gen_ai.provider.name": "qdrant",
            "gen_ai.data_source.id": "handbook",
            "db.system.name": "qdrant",
            "db.operation.name": "search",
            "db.collection.name": "handbook",
            "gen_ai.request.top_k": 3.0,
            "db.response.returned_rows": 2,
            "autobot_apm.gen_ai.retrieval.best_score": 0.82,
        }
        assert expected == {key: span.attributes[key] for key in expected}
        assert [{"id": "7", "score": 0.82}, {"id": "2", "score": 0.4}] == documents_of(
            apm_capture, "retrieval handbook"
        )
        assert "gen_ai.retrieval.query.text" not in span.attributes
        assert 1 == apm_capture.histogram_count("db.client.operation.duration")

    def test_without_the_option_a_database_span(self, apm_capture: Capture):
        """Without retrieval=True the search stays a database span with its own names."""
        with apm.track_database("qdrant", "search", collection="handbook") as op:
            op.retrieved(count=2, top_k=3, best_score=0.5, documents=HITS)
        attributes = apm_capture.span("search handbook").attributes
        assert 3 == attributes["autobot_apm.db.vector.top_k"]
        assert "gen_ai.retrieval.documents" not in attributes

    def test_the_example_reports_retrievals(self, apm_capture: Capture):
        """examples/rag.py reports its vector search as `retrieval handbook`."""
        rag = runpy.run_path(str(EXAMPLES / "rag.py"), run_name="rag_example")
        rag["answer"](rag["VectorStore"](rag["HANDBOOK"]), "How do I upgrade the GPU driver?")
        documents = documents_of(apm_capture, "retrieval handbook")
        assert 3 == len(documents)


class TestOneRetrieved:
    def test_the_same_facts_have_the_same_names_on_both_retrieval_spans(self, apm_capture: Capture):
        """retrieved() on track_llm and on track_database(retrieval=True) is one method:
        the count, top-k, best score, documents and query get the same names."""
        with track_llm("qdrant", operation="retrieval", data_source="llm") as op:
            op.retrieved(documents=HITS, top_k=3, query="q")
        with apm.track_database("qdrant", "search", collection="db", retrieval=True) as op:
            op.retrieved(documents=HITS, top_k=3, query="q")

        def retrieval_facts(name: str) -> dict[str, object]:
            attributes = apm_capture.span(name).attributes or {}
            return {
                key: value
                for key, value in attributes.items()
                if "retrieval." in key or key == "gen_ai.request.top_k"
            }

        assert retrieval_facts("retrieval llm") == retrieval_facts("retrieval db")
        assert {
            "autobot_apm.gen_ai.retrieval.result_count": 2,
            "gen_ai.request.top_k": 3.0,
            "autobot_apm.gen_ai.retrieval.best_score": 0.82,
        }.items() <= retrieval_facts("retrieval db").items()
        assert apm.DatabaseOperation.retrieved is apm.LlmOperation.retrieved

    def test_a_database_retrieval_still_reports_its_rows(self, apm_capture: Capture):
        """On a database retrieval the count is also db.response.returned_rows and feeds
        the row histogram, as for any database call."""
        with apm.track_database("qdrant", "search", collection="db", retrieval=True) as op:
            op.retrieved(count=4)
        assert 4 == apm_capture.span("retrieval db").attributes["db.response.returned_rows"]
        assert 1 == apm_capture.histogram_count("db.client.response.returned_rows")
