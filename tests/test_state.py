"""One home for the library's process-wide state, and a reset back to import time."""

import ast
import logging

import pytest

import autobot_apm as apm
from autobot_apm import testing
from autobot_apm._http.exclusions import is_excluded_request
from autobot_apm._llm.settings import llm_settings
from autobot_apm._sdk import health, logs, state
from autobot_apm._sdk.state import STATE, LibraryState
from autobot_apm._tracking import errors
from autobot_apm._tracking import runtime as _runtime
from test_import_graph import PACKAGE_DIR, module_files

# Module globals that functions may rebind, and why they are not in STATE.
REBOUND_ELSEWHERE = {
    # The installed runtime and what the adopter saw: read by every tracked call, where
    # one module attribute is the cheapest read; reset() resets them through a hook.
    "autobot_apm._tracking.runtime",
    # The fork lock of configure() (its after-fork handling moves to a module of its own).
    "autobot_apm._sdk.setup",
    # The SQL summary's last-long-text caches: outside this change, to follow.
    "autobot_apm._privacy.sql",
}


def _make_everything_dirty() -> None:
    health.count_dropped("traces", "queue_full", 2)
    health.count_exported("metrics", 5)
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("AUTOBOT_APM_STRICT")
        errors.report_internal_error("somewhere", ValueError("x"))
    logs.instrument_logging(service_name="dirty")
    capture = testing.Capture()
    _runtime.install(capture.runtime)
    is_excluded_request({"type": "http", "path": "/healthz", "headers": []})
    llm_settings(capture.runtime)
    STATE.setup.settings = capture.runtime.settings
    STATE.ambient.allowed = False


def test_reset_returns_every_piece_to_import_time():
    """Every field of STATE (but the record of global providers) is as a fresh one."""
    original_factory = logging.getLogRecordFactory()
    _make_everything_dirty()
    state.reset()
    fresh = LibraryState()
    assert fresh.setup == STATE.setup
    assert STATE.ambient.allowed
    assert not STATE.ambient.warned
    assert (set(), False, False, None) == (
        STATE.health.warned,
        STATE.logs.in_chain,
        STATE.logs.active,
        STATE.logs.service_name,
    )
    assert fresh.caches.exclusions[1] is STATE.caches.exclusions[1] is None
    assert (set(), None) == (STATE.caches.reported_errors, STATE.caches.llm_settings)
    assert {"exported": {}, "dropped": {}} == apm.telemetry_health()
    assert (None, []) == (_runtime.current, _runtime.active)
    assert not apm.is_configured()
    assert original_factory is logging.getLogRecordFactory()


def test_a_reported_fault_is_reported_again_after_reset(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    """What was "logged once" starts over: the reset reaches the errors module too."""
    monkeypatch.delenv("AUTOBOT_APM_STRICT")
    caplog.set_level(logging.WARNING, logger="autobot_apm")
    errors.report_internal_error("place", ValueError("a"))
    state.reset()
    errors.report_internal_error("place", ValueError("b"))
    assert 2 == sum("internal error in place" in r.getMessage() for r in caplog.records)


def test_configure_works_again_after_a_reset_that_dropped_it():
    """reset() forgets a configure() left running; the next configure() takes effect and
    does not mistake the providers it made global before for the application's."""
    apm.configure(service_name="one", exporter="none")
    state.reset()
    try:
        apm.configure(service_name="two", exporter="none")
        assert apm.is_configured()
        assert _runtime.current is not None
        assert "two" == _runtime.current.settings.service_name
        assert STATE.setup.owned, "the providers are ours, not adopted"
    finally:
        apm.shutdown(timeout=1)


def test_after_reset_our_old_global_providers_are_not_adopted():
    """Unconfigured after a reset, a tracked call does not record through the providers
    an earlier configure() made global and shut down."""
    apm.configure(service_name="one", exporter="none")
    apm.shutdown(timeout=1)
    state.reset()
    assert _runtime.adopt() is None


def _modules_rebinding_globals() -> set[str]:
    found = set()
    for name, (path, _) in module_files(PACKAGE_DIR).items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if any(isinstance(node, ast.Global) for node in ast.walk(tree)):
            found.add(name)
    return found


def test_no_other_module_keeps_state_in_rebound_globals():
    """State lives in STATE: a ``global`` statement elsewhere is state out of its home."""
    assert set() == _modules_rebinding_globals() - REBOUND_ELSEWHERE
