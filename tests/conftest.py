"""Shared test setup: internal faults are raised, not contained, so bugs fail loudly, and
every test starts from the library as it is at import."""

import os

import pytest

from autobot_apm._sdk import state

os.environ["AUTOBOT_APM_STRICT"] = "1"


@pytest.fixture(autouse=True)
def _fresh_library():
    """Not configured, nothing counted, nothing cached, nothing reported yet."""
    state.reset()
    yield
    state.reset()
