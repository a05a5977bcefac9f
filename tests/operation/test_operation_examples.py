"""The pipeline and RAG examples: they run, and they record what the docs say they do."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from autobot_apm.testing import Capture

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ITEMS = "autobot_apm.pipeline.items"


@pytest.fixture
def load(monkeypatch):
    """Import an example as a module (registered: its dataclasses look themselves up)."""

    def load_example(name):
        spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, spec.name, module)
        spec.loader.exec_module(module)
        return module

    return load_example


class TestPipelineExample:
    def test_stages_count_items_and_failures(self, apm_capture: Capture, load):
        """Every third-of-seven upload fails transcription; the index counts the rest."""
        load("pipeline").run(uploads=20, batch_size=5)
        transcribe = {"autobot_apm.operation.name": "transcribe"}
        assert 17 == apm_capture.counter_value(
            ITEMS, {**transcribe, "autobot_apm.item.result": "processed"}
        )
        assert 3 == apm_capture.counter_value(
            ITEMS, {**transcribe, "autobot_apm.item.result": "failed"}
        )
        root = apm_capture.span("media")
        assert 17 == root.attributes["autobot_apm.pipeline.items.processed"]
        stages = {span.name for span in apm_capture.spans if span.parent is not None}
        assert {"read_uploads", "transcribe", "caption", "index_cards"} == stages
        assert all(span.parent.span_id == root.context.span_id
                   for span in apm_capture.spans if span.parent is not None)  # fmt: skip


class TestRagExample:
    def test_one_trace_with_embedding_search_and_generation(self, apm_capture: Capture, load):
        """The answer span holds the embedding, the vector search and the generation."""
        rag = load("rag")
        rag.answer(rag.VectorStore(rag.HANDBOOK), "How do I upgrade the GPU driver?")
        # The vector search is reported as a GenAI retrieval (track_database(retrieval=True)).
        search = apm_capture.span("retrieval handbook")
        assert "qdrant" == search.attributes["db.system.name"]
        assert (3, 3) == (search.attributes["db.response.returned_rows"],
                          search.attributes["gen_ai.request.top_k"])  # fmt: skip
        assert 0 < search.attributes["autobot_apm.gen_ai.retrieval.best_score"] <= 1
        root = apm_capture.span("answer")
        children = [span for span in apm_capture.spans if span.parent is not None]
        assert 3 == len(children)
        assert {root.context.span_id} == {span.parent.span_id for span in children}


@pytest.mark.parametrize("name", ["pipeline", "rag"])
def test_example_runs_as_a_script(name):
    """Each example runs on its own, with no collector, and prints its traces."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    result = subprocess.run([sys.executable, str(EXAMPLES / f"{name}.py")], env=env,
                            capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert 0 == result.returncode, result.stderr
    assert "trace " in result.stdout
