"""A retrieval-augmented answer: embed the question, search a vector store, generate.

One trace per question: the ``answer`` operation with three children, an embeddings call
(``track_llm``, operation ``embeddings``), a vector search reported as a GenAI retrieval
(``track_database("qdrant", ..., retrieval=True)``: span ``retrieval handbook`` with the
documents' ids and scores, top-k and best score) and the generation (``track_llm``,
operation ``chat``, with token usage). With content capture on
(``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=SPAN_ONLY``) the query and the
passages are recorded too.

    python examples/rag.py

Everything runs in process: the "embedding model" hashes words, the "vector store" is a
list, the "LLM" stitches the best passages together. No collector needed either: traces
are printed as trees and the metrics as a table at exit.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import autobot_apm as apm

DIMENSIONS = 256
HANDBOOK = (
    "Night shifts end at six; hand over open tickets in the shift log.",
    "GPU nodes are drained before a driver upgrade, one rack at a time.",
    "The staging cluster is rebuilt every Monday from the main branch.",
    "Pager alerts for disk usage fire at eighty percent on database hosts.",
    "Driver upgrades on GPU nodes need a reboot and a burn-in test.",
)


@dataclass(frozen=True)
class Hit:
    id: str
    passage: str
    score: float


def _vector(text: str) -> list[float]:
    """Hashed bag of words (short words left out), normalised: shared words, high score."""
    vector = [0.0] * DIMENSIONS
    words = text.lower().replace(".", " ").replace(",", " ").replace("?", " ").split()
    for word in (word for word in words if len(word) > 3):
        vector[int(hashlib.sha256(word.encode()).hexdigest(), 16) % DIMENSIONS] += 1.0
    norm = math.sqrt(sum(value * value for value in vector)) or 1.0
    return [value / norm for value in vector]


def embed(text: str) -> list[float]:
    with apm.track_llm(provider="demo", model="hash-embed-256", operation="embeddings") as op:
        op.usage(input_tokens=len(text.split()))
        return _vector(text)


class VectorStore:
    """A stand-in for Qdrant: cosine similarity over an in-memory collection."""

    def __init__(self, passages: tuple[str, ...]) -> None:
        self.points = [
            (f"handbook-{index}", passage, _vector(passage))
            for index, passage in enumerate(passages)
        ]

    def search(self, question: str, query: list[float], top_k: int) -> list[Hit]:
        with apm.track_database(
            "qdrant", operation="search", collection="handbook", retrieval=True
        ) as op:
            scored = [Hit(id, passage, _dot(query, vector)) for id, passage, vector in self.points]
            hits = sorted(scored, key=lambda hit: hit.score, reverse=True)[:top_k]
            found = [{"id": hit.id, "score": hit.score, "content": hit.passage} for hit in hits]
            op.retrieved(top_k=top_k, documents=found, query=question)
            return hits


def _dot(left: list[float], right: list[float]) -> float:
    return sum(a * b for a, b in zip(left, right, strict=True))


def generate(question: str, hits: list[Hit]) -> str:
    with apm.track_llm(provider="demo", model="stitcher-1", max_tokens=64) as op:
        context = " ".join(hit.passage for hit in hits[:2])
        answer = f"Q: {question} A (from the handbook): {context}"
        op.usage(input_tokens=len(question.split()) + len(context.split()),
                 output_tokens=len(answer.split()))  # fmt: skip
        op.response(model="stitcher-1", finish_reasons=["stop"])
        return answer


@apm.track_operation("answer", modality="text")
def answer(store: VectorStore, question: str) -> str:
    hits = store.search(question, embed(question), top_k=3)
    return generate(question, hits)


def main() -> None:
    apm.configure(service_name="rag-demo")
    store = VectorStore(HANDBOOK)
    for question in ("How do I upgrade the GPU driver?", "When do night shifts end?"):
        print(answer(store, question))
    apm.shutdown()


if __name__ == "__main__":
    main()
