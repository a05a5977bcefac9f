"""One signature rule: a tracker's identifying names positionally, by keyword, or bare."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

import autobot_apm as apm
from autobot_apm.testing import Capture


class TestOriginSnippet:
    def test_the_origin_snippet_runs_as_pasted(self, apm_capture: Capture):
        """The origin system's integration snippet decorates and records, verbatim."""
        from autobot_apm import track_api, track_database

        @track_api("/api/chat")
        async def chat_endpoint(): ...

        @track_database("redis", "query")
        async def knowledge_search(): ...

        asyncio.run(chat_endpoint())
        asyncio.run(knowledge_search())
        names = sorted(span.name for span in apm_capture.spans)
        assert ["HTTP /api/chat", "query"] == names
        database = next(s for s in apm_capture.spans if s.name == "query")
        assert "redis" == database.attributes["db.system.name"]
        assert "query" == database.attributes["db.operation.name"]

    def test_the_readme_shows_the_origin_snippet_working(self, apm_capture: Capture):
        """The README's copy of the snippet is the origin's, and it runs as shown."""
        readme = (Path(__file__).resolve().parents[1] / "README.md").read_text("utf-8")
        blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.DOTALL)
        (snippet,) = [block for block in blocks if '@track_api("/api/chat")' in block]
        assert '@track_database("redis", "query")' in snippet
        namespace: dict[str, object] = {}
        exec(compile(snippet, "README.md", "exec"), namespace)  # noqa: S102  # our own README
        asyncio.run(namespace["chat_endpoint"]())  # type: ignore[operator]
        asyncio.run(namespace["knowledge_search"]())  # type: ignore[operator]
        assert ["HTTP /api/chat", "query"] == sorted(span.name for span in apm_capture.spans)


class TestPositionalNames:
    @pytest.mark.parametrize(
        ("positional", "keyword"),
        [
            (
                lambda: apm.track_api("/chat", "POST"),
                lambda: apm.track_api(route="/chat", method="POST"),
            ),
            (
                lambda: apm.track_database("redis", "GET"),
                lambda: apm.track_database("redis", operation="GET"),
            ),
            (
                lambda: apm.track_cache("users", "set"),
                lambda: apm.track_cache("users", operation="set"),
            ),
            (
                lambda: apm.track_llm("openai", "gpt-4o"),
                lambda: apm.track_llm(provider="openai", model="gpt-4o"),
            ),
        ],
    )
    def test_positional_and_keyword_names_give_the_same_span(
        self, apm_capture: Capture, positional, keyword
    ):
        """Names given positionally or by keyword give the same span name and attributes."""
        with positional():
            pass
        with keyword():
            pass
        first, second = apm_capture.spans
        assert first.name == second.name
        assert dict(first.attributes or {}) == dict(second.attributes or {})

    @pytest.mark.parametrize(
        "tracker",
        [apm.track_api, apm.track_database, apm.track_cache, apm.track_llm,
         apm.track_operation, apm.track_message],
    )  # fmt: skip
    def test_every_tracker_works_as_a_bare_decorator(self, apm_capture: Capture, tracker):
        """A callable as the only positional argument is decorated, and the call recorded."""

        @tracker
        def work(value):
            return value

        assert 7 == work(7)
        assert 1 == len(apm_capture.spans)


class TestMethod:
    def test_an_unstated_method_is_never_guessed(self, apm_capture: Capture):
        """Without a method from the code or a request, the span says _OTHER, not GET."""

        @apm.track_api("/orders")
        def create_order():
            return None

        create_order()
        (span,) = apm_capture.spans
        assert "_OTHER" == span.attributes["http.request.method"]
        assert "HTTP /orders" == span.name
