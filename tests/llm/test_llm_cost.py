"""Cost from the price table: parsing, the span attribute and the counter by model."""

import math

import pytest

import autobot_apm as apm
from autobot_apm.llm import parse_prices, track_llm
from autobot_apm.testing import capture_telemetry

COST = "autobot_apm.gen_ai.client.cost"
PRICES = {"gpt-4o-mini": (0.15, 0.60), "gpt-4o-mini-2024-07-18": {"input": 0.2, "output": 0.8}}


def call(model, input_tokens=None, output_tokens=None, response_model=None):
    with track_llm(provider="openai", model=model) as op:
        op.usage(input_tokens=input_tokens, output_tokens=output_tokens)
        op.response(model=response_model)


class TestParsePrices:
    def test_accepted_forms(self):
        """Pairs (tuple or list) and {input, output} mappings, as floats."""
        assert {"a": (1.0, 2.0), "b": (0.5, 0.0), "c": (3.0, 4.5)} == parse_prices(
            "llm_prices", {"a": (1, 2), "b": [0.5, 0], "c": {"input": 3, "output": 4.5}}
        )

    def test_parsed_prices_parse_to_themselves(self):
        """The parser accepts its own output (configure time, then runtime)."""
        parsed = parse_prices("llm_prices", PRICES)
        assert parsed == parse_prices("llm_prices", parsed)

    def test_none_is_no_prices(self):
        """No table: no cost."""
        assert {} == parse_prices("llm_prices", None)

    @pytest.mark.parametrize(
        "value",
        [
            "gpt-4o=1,2",
            {"m": 1.0},
            {"m": (1.0,)},
            {"m": (1.0, 2.0, 3.0)},
            {"m": ("1", 2)},
            {"m": (True, 2)},
            {"m": (-1, 2)},
            {"m": (math.inf, 2)},
            {"m": {"input": 1}},
            {"m": {"input": 1, "output": 2, "cached": 0.5}},
            {"": (1, 2)},
            {3: (1, 2)},
        ],
    )
    def test_malformed_tables_are_configuration_errors(self, value):
        """Every malformed table is refused with the setting named."""
        with pytest.raises(apm.ConfigurationError, match="llm_prices"):
            parse_prices("llm_prices", value)


class TestCost:
    def test_cost_on_span_and_counter(self):
        """Tokens x price per million: on the span and added to the counter by model."""
        with capture_telemetry(llm_prices=PRICES) as capture:
            call("gpt-4o-mini", 1_000_000, 500_000)
            call("gpt-4o-mini", 2_000, 1_000)
        expected_first = 0.15 + 0.30
        spans = capture.spans_named("chat gpt-4o-mini")
        assert pytest.approx(expected_first) == spans[0].attributes["autobot_apm.gen_ai.cost"]
        total = capture.counter_value(COST, {"gen_ai.request.model": "gpt-4o-mini"})
        assert pytest.approx(expected_first + 0.0003 + 0.0006) == total
        assert "{USD}" == capture.metrics()[COST].unit

    def test_response_model_price_comes_first(self):
        """A dated response model with its own price is priced by it."""
        with capture_telemetry(llm_prices=PRICES) as capture:
            call("gpt-4o-mini", 1_000_000, 0, response_model="gpt-4o-mini-2024-07-18")
        span = capture.span("chat gpt-4o-mini")
        assert pytest.approx(0.2) == span.attributes["autobot_apm.gen_ai.cost"]

    def test_no_price_no_cost(self):
        """A model missing from the table, or a call without usage, has no cost."""
        with capture_telemetry(llm_prices=PRICES) as capture:
            call("llama3.2", 10, 10)
            call("gpt-4o-mini")
        assert all("autobot_apm.gen_ai.cost" not in span.attributes for span in capture.spans)
        assert 0 == capture.counter_value(COST)

    def test_known_output_alone_is_priced(self):
        """Only output tokens known: the input side counts as zero."""
        with capture_telemetry(llm_prices=PRICES) as capture:
            call("gpt-4o-mini", output_tokens=1_000_000)
        assert pytest.approx(0.6) == capture.counter_value(COST)
