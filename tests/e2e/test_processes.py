"""Forked and spawned processes export their own spans, with their own instance id."""

import os
import subprocess
import sys
import textwrap

import pytest

from autobot_apm.receiver import OTLPReceiver

pytestmark = pytest.mark.e2e

PROGRAM = """
import multiprocessing, os, sys
import autobot_apm as apm

# At import, as applications do: a spawned child re-imports this module and configures too.
apm.configure(service_name="forker", endpoint=os.environ["ENDPOINT"], span_schedule_delay=60)

def work(tag):
    with apm.track_cache(tag):
        pass

if __name__ == "__main__":
    work("parent")
    {body}
"""

BODIES = {
    "os.fork": """
    pid = os.fork()
    if pid == 0:
        work("child")
        sys.exit(0)  # a normal exit runs the atexit flush
    os.waitpid(pid, 0)
    """,
    "multiprocessing fork": """
    ctx = multiprocessing.get_context("fork")
    p = ctx.Process(target=work, args=("child",)); p.start(); p.join()
    """,
    "multiprocessing spawn": """
    ctx = multiprocessing.get_context("spawn")
    p = ctx.Process(target=work, args=("child",)); p.start(); p.join()
    """,
}


@pytest.mark.parametrize("how", sorted(BODIES))
def test_children_export_their_spans(tmp_path, how):
    """The child's span arrives from the child, with a service.instance.id of its own."""
    script = tmp_path / "program.py"
    body = textwrap.indent(textwrap.dedent(BODIES[how]), "    ").strip()
    script.write_text(textwrap.dedent(PROGRAM).replace("{body}", body))
    with OTLPReceiver() as receiver:
        env = {**os.environ, "ENDPOINT": receiver.http_endpoint}
        result = subprocess.run(
            [sys.executable, str(script)],
            env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert 0 == result.returncode, result.stderr
        spans = receiver.wait_for_spans(2)
    by_name = {span.name: span for span in spans}
    parent, child = by_name["get parent"], by_name["get child"]
    assert parent.resource["service.instance.id"] != child.resource["service.instance.id"]
