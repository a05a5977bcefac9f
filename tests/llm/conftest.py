"""Fixtures for the track_llm tests: a fake LLM server on 127.0.0.1."""

from collections.abc import Iterator

import pytest
from fake_llm_server import FakeLLMServer


@pytest.fixture
def fake_llm() -> Iterator[FakeLLMServer]:
    """An OpenAI-compatible and Ollama-style server, stopped (threads joined) after the test."""
    with FakeLLMServer() as server:
        yield server
