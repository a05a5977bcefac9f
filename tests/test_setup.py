"""configure() and shutdown() racing from two threads leave a consistent state."""

import threading

import pytest

import autobot_apm as apm
from autobot_apm._sdk.state import STATE
from autobot_apm._tracking import runtime as _runtime

WAIT = 10  # seconds; a bound on waits for events that the code under test sets


class SignallingLock:
    """Stand-in for STATE.setup.lock that tells the test when a thread must wait for it."""

    def __init__(self, on_contention):
        self._inner = threading.Lock()
        self._on_contention = on_contention

    def acquire(self, blocking=True, timeout=-1):
        if self._inner.acquire(blocking=False):
            return True
        self._on_contention()
        return self._inner.acquire(blocking, timeout)

    def release(self):
        self._inner.release()

    def locked(self):
        return self._inner.locked()

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc_info):
        self.release()


def consistent() -> bool:
    """The invariant: configured exactly when a runtime is installed."""
    return apm.is_configured() == (_runtime.current is not None)


def configure():
    apm.configure(service_name="race", exporter="none")


@pytest.fixture
def clean_slate():
    apm.shutdown(timeout=0)
    yield
    apm.shutdown(timeout=0)


@pytest.mark.parametrize(
    ("paused", "first", "second"),
    [
        # shutdown() has cleared the settings and is about to uninstall the runtime when
        # configure() runs in another thread.
        ("shutdown", apm.shutdown, configure),
        # configure() has set the settings and is about to install its runtime when
        # shutdown() runs in another thread.
        ("configure", configure, apm.shutdown),
    ],
)
def test_configure_and_shutdown_from_two_threads(monkeypatch, clean_slate, paused, first, second):
    """The first call pauses where it (un)installs the runtime; the second runs until it
    finishes or has to wait for the lock; then the first goes on. Either way the end
    state is consistent: is_configured() is true exactly when a runtime is installed."""
    if paused == "shutdown":
        configure()
    at_install, progressed = threading.Event(), threading.Event()
    monkeypatch.setattr(STATE.setup, "lock", SignallingLock(progressed.set))
    real_install = _runtime.install

    def pausing_install(runtime):
        if threading.current_thread() is first_thread and not at_install.is_set():
            at_install.set()
            progressed.wait(WAIT)
        return real_install(runtime)

    monkeypatch.setattr(_runtime, "install", pausing_install)

    def run_second():
        second()
        progressed.set()

    first_thread = threading.Thread(target=first)
    second_thread = threading.Thread(target=run_second)
    first_thread.start()
    assert at_install.wait(WAIT)
    second_thread.start()
    first_thread.join(WAIT)
    second_thread.join(WAIT)
    assert not first_thread.is_alive()
    assert not second_thread.is_alive()
    assert consistent(), (apm.is_configured(), _runtime.current)
