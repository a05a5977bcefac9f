"""observe_connection_pool: ``db.client.connection.*`` gauges read from user callables.

Pools are registered in one table; one observable instrument per metric reads every
registered pool when the metric reader collects, so nothing runs between collections.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from opentelemetry.metrics import CallbackOptions, Observation

from .._tracking import runtime as _runtime
from .._tracking.attributes import metric_number
from .._tracking.errors import report_internal_error

Reading = Callable[[], int | float]


@dataclass(frozen=True, eq=False)
class ConnectionPool:
    """A registered pool; ``close()`` stops observing it."""

    name: str
    used: Reading | None
    idle: Reading | None
    max: Reading | None
    pending: Reading | None

    def close(self) -> None:
        """Stop reporting this pool."""
        with _lock:
            if self in _pools:
                _pools.remove(self)


_lock = threading.Lock()
_pools: list[ConnectionPool] = []


def observe_connection_pool(
    name: str,
    *,
    used: Reading | None = None,
    idle: Reading | None = None,
    max: Reading | None = None,
    pending: Reading | None = None,
) -> ConnectionPool:
    """Report a connection pool's state so that pool exhaustion can be alerted on.

    Each argument is a callable returning the current number. They are read when metrics
    are collected; one that raises is skipped for that collection.

    Example::

        apm.observe_connection_pool("main-db", used=lambda: engine.pool.checkedout(),
                                    idle=lambda: engine.pool.checkedin(),
                                    max=lambda: engine.pool.size())
    """
    pool = ConnectionPool(str(name), used, idle, max, pending)
    with _lock:
        _pools.append(pool)
    return pool


def _read(pool: ConnectionPool, reading: Reading | None) -> int | float | None:
    if reading is None:
        return None
    try:
        value = reading()
    except Exception as exc:
        report_internal_error(f"connection pool {pool.name!r} callable", exc)
        return None
    # An observed gauge is exported as it is: it must be a 64-bit int or a finite float.
    return metric_number(value, floats=True, minimum=None)


def _observations(
    field: str, state: str | None = None
) -> Callable[[CallbackOptions], Iterable[Observation]]:
    def observe(options: CallbackOptions) -> Iterable[Observation]:
        with _lock:
            pools = list(_pools)
        for pool in pools:
            value = _read(pool, getattr(pool, field))
            if value is None:
                continue
            attributes = {"db.client.connection.pool.name": pool.name}
            if state is not None:
                attributes["db.client.connection.state"] = state
            yield Observation(value, attributes)

    return observe


def _register(runtime: _runtime.Runtime) -> None:
    meter = runtime.meter
    meter.create_observable_up_down_counter(
        "db.client.connection.count",
        callbacks=[_observations("used", "used"), _observations("idle", "idle")],
        unit="{connection}",
        description="Connections in the pool, by state (idle or used).",
    )
    meter.create_observable_up_down_counter(
        "db.client.connection.max",
        callbacks=[_observations("max")],
        unit="{connection}",
        description="Most open connections the pool allows.",
    )
    meter.create_observable_up_down_counter(
        "db.client.connection.pending_requests",
        callbacks=[_observations("pending")],
        unit="{request}",
        description="Requests waiting for a connection.",
    )


_runtime.on_configure(_register)
