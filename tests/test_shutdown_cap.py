"""shutdown() and flush() keep to their cap: they stop waiting for an export that hangs."""

import logging
import threading

import pytest

from autobot_apm._sdk import setup
from support import wait_until


@pytest.fixture
def hung_export():
    """A step that blocks until the test ends, like an export to a hung collector."""
    release = threading.Event()
    yield release.wait
    release.set()


def _run_in_thread(target):
    outcome = []
    thread = threading.Thread(target=lambda: outcome.append(target()), daemon=True)
    thread.start()
    wait_until(lambda: not thread.is_alive(), what="the bounded run returning")
    return outcome[0]


def test_gives_up_on_a_step_that_never_ends(hung_export, caplog):
    """With a zero cap, a hung step is abandoned at once: False, and one warning."""
    with caplog.at_level(logging.WARNING, logger=setup.logger.name):
        assert _run_in_thread(lambda: setup._run_bounded([hung_export], 0.0)) is False
    assert ["autobot-apm: shutdown gave up after 0.0 s; unsent telemetry was dropped"] == [
        record.getMessage() for record in caplog.records
    ]


def test_steps_that_end_are_waited_for(caplog):
    """Steps that end within the cap all run to completion: True, no warning."""
    ran = []
    steps = [lambda: ran.append("traces"), lambda: ran.append("metrics")]
    with caplog.at_level(logging.WARNING, logger=setup.logger.name):
        assert _run_in_thread(lambda: setup._run_bounded(steps, 60.0)) is True
    assert ["metrics", "traces"] == sorted(ran)
    assert [] == caplog.records
