"""What is said when facts are missing: streams broken off, models without a price, and
price tables loaded from a file."""

import gc
import json
from pathlib import Path

import pytest

from autobot_apm._sdk.settings import resolve
from autobot_apm._tracking.errors import ConfigurationError
from autobot_apm.llm import track_llm
from autobot_apm.testing import Capture, capture_telemetry

BROKEN_OFF = "autobot_apm.gen_ai.stream.broken_off"
CHUNKS = "autobot_apm.gen_ai.response.chunks"
UNKNOWN_PRICE = "autobot_apm.gen_ai.price_unknown"


def anthropic_events():
    """An Anthropic stream: input tokens first, output tokens only at the end."""
    yield {"type": "message_start", "message": {"usage": {"input_tokens": 11}}}
    yield {"type": "content_block_delta", "delta": {"text": "a"}}
    yield {"type": "content_block_delta", "delta": {"text": "b"}}
    yield {"type": "message_delta", "usage": {"output_tokens": 2}}


@track_llm("anthropic", "claude")
def open_stream():
    return iter(list(anthropic_events()))


class TestBrokenOffStreams:
    def test_a_returned_stream_closed_early(self, apm_capture: Capture):
        """Closed after two chunks: the span says so, with the chunks seen and the input
        tokens that had arrived; no output count is made up."""
        stream = open_stream()
        next(stream)
        next(stream)
        stream.close()
        attributes = apm_capture.span("chat claude").attributes
        assert attributes[BROKEN_OFF] is True
        assert 2 == attributes[CHUNKS]
        assert 11 == attributes["gen_ai.usage.input_tokens"]
        assert "gen_ai.usage.output_tokens" not in attributes
        assert 1 == apm_capture.histogram_count(
            "gen_ai.client.token.usage", {"gen_ai.token.type": "input"}
        )

    def test_a_returned_stream_dropped(self, apm_capture: Capture):
        """A consumer that breaks out of its loop and drops the stream: marked too."""
        for _ in open_stream():
            break
        gc.collect()
        attributes = apm_capture.span("chat claude").attributes
        assert (True, 1) == (attributes[BROKEN_OFF], attributes[CHUNKS])

    def test_a_decorated_generator_closed_early(self, apm_capture: Capture):
        """A tracked generator closed by its consumer before its end: marked."""
        generator = track_llm("anthropic", "claude")(anthropic_events)()
        next(generator)
        generator.close()
        assert apm_capture.span("chat claude").attributes[BROKEN_OFF] is True

    async def test_a_decorated_async_generator_closed_early(self, apm_capture: Capture):
        """An async tracked generator closed by its consumer before its end: marked."""

        @track_llm("anthropic", "claude")
        async def events():
            for event in anthropic_events():
                yield event

        generator = events()
        await generator.__anext__()
        await generator.aclose()
        attributes = apm_capture.span("chat claude").attributes
        assert (True, 1) == (attributes[BROKEN_OFF], attributes[CHUNKS])

    async def test_a_returned_async_stream_closed_early(self, apm_capture: Capture):
        """A returned async stream closed with aclose() after one chunk: marked."""

        async def events():
            for event in anthropic_events():
                yield event

        stream = track_llm("anthropic", "claude")(lambda: events())()
        await stream.__anext__()
        await stream.aclose()
        assert apm_capture.span("chat claude").attributes[BROKEN_OFF] is True

    def test_never_started(self, apm_capture: Capture):
        """Closed before any chunk: marked, with zero chunks seen."""
        open_stream().close()
        attributes = apm_capture.span("chat claude").attributes
        assert (True, 0) == (attributes[BROKEN_OFF], attributes[CHUNKS])

    def test_an_exhausted_stream_is_not_marked(self, apm_capture: Capture):
        """Read to its end (then closed): complete, usage recorded, no mark."""
        stream = open_stream()
        assert 4 == len(list(stream))
        stream.close()
        attributes = apm_capture.span("chat claude").attributes
        assert BROKEN_OFF not in attributes
        assert 2 == attributes["gen_ai.usage.output_tokens"]


class TestUnknownPrice:
    def test_a_model_missing_from_the_table(self):
        """With a price table, a model it does not list is said to have no price."""
        with capture_telemetry(llm_prices={"gpt-4o": (1, 2)}) as capture:
            for model in ("gpt-4o", "mystery"):
                with track_llm("openai", model) as op:
                    op.usage(10, 5)
            priced, unpriced = (capture.span(f"chat {m}").attributes for m in ("gpt-4o", "mystery"))
        assert UNKNOWN_PRICE not in priced
        assert 0 < priced["autobot_apm.gen_ai.cost"]
        assert unpriced[UNKNOWN_PRICE] is True
        assert "autobot_apm.gen_ai.cost" not in unpriced

    def test_no_table_no_mark(self, apm_capture: Capture):
        """Without any price table, nothing is said about prices."""
        with track_llm("openai", "mystery") as op:
            op.usage(10, 5)
        assert UNKNOWN_PRICE not in apm_capture.span("chat mystery").attributes


class TestPriceFile:
    def write(self, tmp_path: Path, content: str) -> Path:
        path = tmp_path / "prices.json"
        path.write_text(content)
        return path

    def test_a_file_given_to_configure(self, tmp_path: Path):
        """llm_prices may be the path of a JSON table; its prices are used."""
        path = self.write(tmp_path, json.dumps({"m": {"input": 1.0, "output": 2.0}}))
        with capture_telemetry(llm_prices=str(path)) as capture:
            with track_llm("openai", "m") as op:
                op.usage(1_000_000, 1_000_000)
            assert 3.0 == capture.span("chat m").attributes["autobot_apm.gen_ai.cost"]

    def test_the_environment_variable(self, tmp_path: Path):
        """AUTOBOT_APM_LLM_PRICES names the file."""
        path = self.write(tmp_path, '{"m": [0.5, 1.5]}')
        settings = resolve({}, environ={"AUTOBOT_APM_LLM_PRICES": str(path)})
        assert {"m": (0.5, 1.5)} == settings.llm_prices

    @pytest.mark.parametrize(
        ("content", "reason"),
        [
            ("{not json", "not JSON"),
            ('["m"]', "expected {model"),
            ('{"m": [1, -2]}', "finite and >= 0"),
            (None, "cannot read"),
        ],
    )
    def test_a_bad_file_is_a_configuration_error(self, tmp_path: Path, content, reason):
        """A missing, malformed or invalid file fails configure() with ConfigurationError."""
        path = tmp_path / "absent.json" if content is None else self.write(tmp_path, content)
        with pytest.raises(ConfigurationError, match=reason):
            resolve({"llm_prices": path}, environ={})

    def test_a_huge_file_is_refused(self, tmp_path: Path):
        """More than 1 MiB is not a price table."""
        path = self.write(tmp_path, " " * (1 << 20) + "{}")
        with pytest.raises(ConfigurationError, match="larger than 1 MiB"):
            resolve({}, environ={"AUTOBOT_APM_LLM_PRICES": str(path)})
