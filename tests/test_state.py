"""One home for the library's process-wide state, and a reset back to import time."""

import ast
import logging

import httpx
import pytest
import requests
import wrapt

import autobot_apm as apm
from autobot_apm import http_client, testing
from autobot_apm._http import fastapi as _fastapi
from autobot_apm._http.exclusions import is_excluded_request
from autobot_apm._llm.settings import llm_settings
from autobot_apm._privacy import sql as _sql
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
}

# Module-level mutable containers (besides ``__all__``), and why they are not in STATE.
MUTABLE_ELSEWHERE = {
    # The hooks reset() runs, registered when each module is imported.
    ("autobot_apm._sdk.state", "_reset_hooks"),
    # The runtime list every tracked call reads, and callbacks registered at import.
    ("autobot_apm._tracking.runtime", "active"),
    ("autobot_apm._tracking.runtime", "_on_configure"),
    # The sampler imports nothing of the package: its hubs stay its own.
    ("autobot_apm.sampler._instruments", "_hubs"),
    ("autobot_apm.sampler._instruments", "_lock"),
    # Outside this change, to follow: the observed pools, the parsed Host values.
    ("autobot_apm._sdk.pools", "_pools"),
    ("autobot_apm._sdk.pools", "_lock"),
    ("autobot_apm._http.attributes", "_authorities"),
}
_MUTABLE_MAKERS = {"set", "dict", "list", "Counter", "WeakValueDictionary", "WeakSet"}
_MUTABLE_MAKERS |= {"WeakKeyDictionary", "deque", "defaultdict", "Lock", "RLock"}
_LONG_SQL = "SELECT a FROM t WHERE b IN (" + ", ".join(map(str, range(1000))) + ")"


def _tracked_original() -> None:
    """A function track_api wrapped (its wrapper outlives reset(), and so does this)."""


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
    for query in ("SELECT 1", _LONG_SQL):
        _sql.sanitize_sql(query)
        _sql.summarize_sql(query)
    _fastapi.warn_tracked_above(_tracked_original, "/dirty")
    http_client.instrument_http_clients()


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
    assert (set(), ("", "", ""), ("", "", None)) == (
        STATE.caches.fastapi_warned,
        STATE.caches.sql_cleaned,
        STATE.caches.sql_analyzed,
    )
    assert (0, 0) == (_sql._clean_cached.cache_info()[3], _sql._analyze_cached.cache_info()[3])
    assert {"exported": {}, "dropped": {}} == apm.telemetry_health()
    assert (None, []) == (_runtime.current, _runtime.active)
    assert not apm.is_configured()
    assert original_factory is logging.getLogRecordFactory()
    assert (False, {}) == (STATE.http_clients.enabled, STATE.http_clients.patched)
    for client in (httpx.Client, httpx.AsyncClient, requests.Session):
        assert not isinstance(vars(client)["send"], wrapt.FunctionWrapper), client


def test_reset_keeps_what_it_cannot_undo():
    """The wrapt import hooks and the functions track_api wrapped outlive reset(), and
    the HTTP clients are instrumented again by the next call."""
    _fastapi.remember_tracked_original(_tracked_original)
    http_client.instrument_http_clients()
    state.reset()
    assert _fastapi._is_tracked_original(_tracked_original)
    assert {"httpx", "requests"} <= STATE.http_import_hooks
    http_client.instrument_http_clients()
    try:
        assert isinstance(vars(httpx.Client)["send"], wrapt.FunctionWrapper)
    finally:
        http_client.uninstrument_http_clients()


def test_a_long_query_is_cleaned_again_after_reset(monkeypatch: pytest.MonkeyPatch):
    """The last long SQL text is remembered in STATE.caches, and reset() forgets it."""
    cleaned = []
    monkeypatch.setattr(_sql, "clean", lambda text, dialect: cleaned.append(text) or "x")
    _sql.sanitize_sql(_LONG_SQL)
    _sql.sanitize_sql(_LONG_SQL)
    state.reset()
    _sql.sanitize_sql(_LONG_SQL)
    assert 2 == len(cleaned)
    assert STATE.caches.sql_cleaned[0] == _LONG_SQL


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


def _is_mutable_maker(value: ast.expr | None) -> bool:
    if isinstance(value, ast.List | ast.Dict | ast.Set):
        return True
    if not isinstance(value, ast.Call):
        return False
    called = value.func
    name = called.id if isinstance(called, ast.Name) else getattr(called, "attr", None)
    return name in _MUTABLE_MAKERS


def _mutable_module_globals() -> set[tuple[str, str]]:
    """(module, name) of each container or lock a module builds at its top level."""
    found = set()
    for module, (path, _) in module_files(PACKAGE_DIR).items():
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Assign):
                targets, value = node.targets, node.value
            elif isinstance(node, ast.AnnAssign):
                targets, value = [node.target], node.value
            else:
                continue
            for target in targets:
                name = target.id if isinstance(target, ast.Name) else ""
                constant = name.lstrip("_").isupper() or name == "__all__"
                if name and not constant and _is_mutable_maker(value):
                    found.add((module, name))
    return found


def test_no_other_module_keeps_state_in_mutable_globals():
    """A set or dict filled at run time is state too, even without ``global``."""
    assert set() == _mutable_module_globals() - MUTABLE_ELSEWHERE
    assert set() == MUTABLE_ELSEWHERE - _mutable_module_globals(), "stale allow-list"
