"""A fault inside the instrumentation is contained: the call goes on, and it is logged once."""

import logging

import pytest

import autobot_apm as apm
from autobot_apm._tracking import errors
from autobot_apm.operation import TrackedOperation


@pytest.fixture
def contained_faults(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture):
    """Production behaviour (the suite runs strict), with nothing reported yet."""
    monkeypatch.delenv("AUTOBOT_APM_STRICT", raising=False)
    caplog.set_level(logging.WARNING, logger="autobot_apm")
    return caplog


def _contained_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if "was contained" in r.getMessage()]


def test_a_fault_in_a_tracked_call_is_logged_once(monkeypatch, contained_faults, apm_capture):
    """The same internal fault in two calls: both calls return, one log record."""

    def broken_on_end(self, duration):
        raise RuntimeError("bug in the instrumentation")

    monkeypatch.setattr(TrackedOperation, "_on_end", broken_on_end)

    @apm.track_operation("work")
    def work(value):
        return value

    assert [1, 2] == [work(1), work(2)]
    (record,) = _contained_records(contained_faults)
    assert "internal error in finish was contained" in record.getMessage()
    assert isinstance(record.exc_info[1], RuntimeError)
    assert 2 == len(apm_capture.spans_named("work"))  # the spans still end


def test_a_contained_helper_returns_its_default_and_logs_once(contained_faults):
    calls = []

    @errors.contained(default="fallback")
    def helper():
        calls.append(1)
        raise KeyError("boom")

    assert ["fallback", "fallback"] == [helper(), helper()]
    assert 2 == len(calls)
    (record,) = _contained_records(contained_faults)
    assert "helper" in record.getMessage()


def test_faults_in_different_places_are_each_logged(contained_faults):
    errors.report_internal_error("first place", ValueError("a"))
    errors.report_internal_error("second place", ValueError("b"))
    errors.report_internal_error("first place", ValueError("c"))
    messages = [r.getMessage() for r in _contained_records(contained_faults)]
    assert 2 == len(messages)
    assert "first place" in messages[0]
    assert "second place" in messages[1]


def test_strict_mode_raises_the_fault(monkeypatch):
    """AUTOBOT_APM_STRICT=1 (this suite's setting) makes a fault loud instead."""
    monkeypatch.setenv("AUTOBOT_APM_STRICT", "1")
    fault = ValueError("loud")
    with pytest.raises(ValueError, match="loud") as raised:
        errors.report_internal_error("anywhere", fault)
    assert fault is raised.value


HANDLE_CLASSES = (apm.Operation, apm.ApiOperation, apm.CacheOperation, apm.DatabaseOperation,
                  apm.LlmOperation, apm.MessageOperation, apm.TrackedOperation)  # fmt: skip


def test_a_fault_in_a_report_method_costs_only_that_report(
    monkeypatch, contained_faults, apm_capture
):
    """A value the coercion did not foresee: the report is lost, the user's call goes on."""
    import autobot_apm.database as database_module

    def unforeseen(*args, **kwargs):
        raise RuntimeError("a value the coercion did not foresee")

    monkeypatch.setattr(database_module, "metric_number", unforeseen)
    with apm.track_database("postgresql", "SELECT") as op:
        op.rows(3)
        op.rows(4)
        done = True
    assert done
    (record,) = _contained_records(contained_faults)
    assert "DatabaseOperation.rows was contained" in record.getMessage()
    assert "db.response.returned_rows" not in apm_capture.span("SELECT").attributes


@pytest.mark.parametrize("cls", HANDLE_CLASSES, ids=lambda cls: cls.__name__)
def test_every_report_method_of_every_handle_is_contained(cls):
    """Each public method returning None runs contained, whichever class defined it."""
    reports = [
        name
        for name in dir(cls)
        if not name.startswith("_")
        and callable(getattr(cls, name))
        and getattr(cls, name).__annotations__.get("return") in ("None", None)
    ]
    assert reports
    assert [] == [name for name in reports if not hasattr(getattr(cls, name), "__wrapped__")]
