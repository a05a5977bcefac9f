"""examples/llm_streaming.py runs on its own and prints the telemetry it promises."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "llm_streaming.py"


@pytest.mark.e2e
def test_example_prints_streaming_telemetry():
    """Two traces with first-chunk times, then the gen_ai metrics and the cost."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LLM_"))}
    result = subprocess.run(
        [sys.executable, "-W", "error", str(EXAMPLE)],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )  # fmt: skip
    assert 0 == result.returncode, result.stderr
    assert "answer: Paris is the capital and largest city of France" in result.stdout
    assert 2 == result.stdout.count("chat demo-mini")
    assert 2 == result.stdout.count("ttfc=")
    assert "tokens_out=10" in result.stdout
    for metric in ("gen_ai.client.operation.time_to_first_chunk", "gen_ai.client.token.usage",
                   "autobot_apm.gen_ai.client.cost"):  # fmt: skip
        assert metric in result.stdout
