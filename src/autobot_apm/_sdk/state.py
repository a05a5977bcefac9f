"""Every piece of the library's process-wide mutable state, in one typed object.

Each module reads and writes its own part of ``STATE`` (``STATE.health``,
``STATE.setup``...), so what the library remembers between calls can be read here in
one place, and :func:`reset` can put all of it back as it was at import (the test
suite does so before every test).

Some things live elsewhere, on purpose:

* the installed runtime (``_tracking.runtime.current``): every tracked call reads it,
  and one module attribute is the cheapest read there is. ``reset`` uninstalls it
  through the hook the runtime module registers;
* the record-factory chain of :mod:`logging`, which belongs to the logging module; the
  logs module registers a hook that puts it back;
* the patched ``send`` methods of httpx and requests, which belong to those classes:
  the HTTP client module registers a hook that unpatches them, so reset() never leaves
  a class patched by a wrapper nothing remembers (``http_clients.patched``);
* the SQL sanitizer's LRU caches (``functools.lru_cache`` on pure functions): the SQL
  module registers a hook that clears them.

A few fields outlive reset(), because they mirror what reset() cannot undo: the
providers made global, the import hooks registered with wrapt, and the functions
track_api has wrapped (see :class:`LibraryState`).

This module imports nothing of the library at run time, so that any module can use it.
"""

from __future__ import annotations

import logging
import re
import threading
import weakref
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._llm.settings import LlmSettings
    from .._privacy.sql import QueryAnalysis
    from .._tracking.runtime import Runtime
    from .settings import Settings


@dataclass
class SetupState:
    """What configure() set up and shutdown() tears down."""

    settings: Settings | None = None  # None: not configured (or shut down)
    owned: tuple[Any, ...] = ()  # providers this library built, flushed by shutdown()
    # Held by configure() and shutdown() while they change the settings and the runtime.
    lock: threading.Lock = field(default_factory=threading.Lock, compare=False)
    sampler: Any = None  # the background sampler configure(sampler=...) started
    logs: Any = None  # the LoggingSetup of configure(logging=...)
    # In a forked child: the inherited pipeline replaced by its own, kept unused (see fork).
    retired: tuple[Any, ...] = ()
    atexit_registered: bool = False


@dataclass
class HealthState:
    """Counts of telemetry exported and lost, and the loss kinds already warned about."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    dropped: Counter[tuple[str, str]] = field(default_factory=Counter)
    exported: Counter[str] = field(default_factory=Counter)
    warned: set[tuple[str, str]] = field(default_factory=set)
    # Counting pipelines (span processors, metric exporters) not shut down yet.
    unfinished: weakref.WeakSet[Any] = field(default_factory=weakref.WeakSet)


@dataclass
class AmbientState:
    """Adoption of providers the process installed itself (without configure())."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    # No configure() and no shutdown() yet: after either, the process has said what it
    # wants and is never second-guessed.
    allowed: bool = True
    warned: bool = False  # the one "nothing records" warning was logged


@dataclass
class LogsState:
    """The record factory ours wraps, whether ours is installed and stamping."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    wrapped: Callable[..., logging.LogRecord] | None = None
    in_chain: bool = False
    active: bool = False
    service_name: str | None = None


_NOTHING_YET = object()  # equal to no runtime and no environment: compile at first use


@dataclass
class CacheState:
    """What is remembered to avoid work or repeated warnings."""

    reported_errors: set[str] = field(default_factory=set)  # contained faults, logged once
    # (the runtime or environment values they were compiled for, the ASGI exclusions)
    exclusions: tuple[object, re.Pattern[str] | None] = field(
        default_factory=lambda: (object(), None)
    )
    # The runtime seen last by llm_settings() and its LLM settings.
    llm_settings: tuple[weakref.ref[Runtime], LlmSettings] | None = None
    # The FastAPI apps and route endpoints already warned about, by id.
    fastapi_warned: set[int] = field(default_factory=set)
    # The last SQL text too long for the LRU caches, with its dialect and what was made
    # of it: (text, dialect, sanitized text) and (text, dialect, analysis).
    sql_cleaned: tuple[str, str, str] = ("", "", "")
    sql_analyzed: tuple[str, str, QueryAnalysis | None] = ("", "", None)


@dataclass
class HttpClientState:
    """Whether instrument_http_clients() is on, and the methods it patched."""

    # Reentrant: an import hook may patch a library while instrument_http_clients() holds it.
    lock: threading.RLock = field(default_factory=threading.RLock)
    enabled: bool = False
    # (class, method name) -> (the original function, the wrapper installed in its place)
    patched: dict[tuple[type, str], tuple[Any, Any]] = field(default_factory=dict)


@dataclass
class LibraryState:
    setup: SetupState = field(default_factory=SetupState)
    health: HealthState = field(default_factory=HealthState)
    ambient: AmbientState = field(default_factory=AmbientState)
    logs: LogsState = field(default_factory=LogsState)
    caches: CacheState = field(default_factory=CacheState)
    http_clients: HttpClientState = field(default_factory=HttpClientState)
    # What follows outlives reset(): it mirrors state reset() cannot undo.
    # Providers this library made the OpenTelemetry globals (the API sets each once).
    installed_globally: list[Any] = field(default_factory=list)
    # The client libraries with a post-import hook registered (wrapt cannot remove one;
    # a hook does nothing while http_clients.enabled is False).
    http_import_hooks: set[str] = field(default_factory=set)
    # The functions track_api has wrapped, as they were before, by id: a route whose
    # endpoint is one of them runs the function without its tracking. The wrappers
    # outlive reset() (a module decorates at import), so this does too. By id, because
    # a wrapper compares and hashes equal to the function it wraps.
    track_api_originals: weakref.WeakValueDictionary[int, Any] = field(
        default_factory=weakref.WeakValueDictionary
    )


STATE = LibraryState()

_reset_hooks: list[Callable[[], None]] = []


def on_reset(hook: Callable[[], None]) -> None:
    """Run ``hook`` at each reset(), before the state is replaced (it may read it)."""
    _reset_hooks.append(hook)


def reset() -> None:
    """Put the library back as it was at import: not configured, nothing counted,
    nothing cached, no HTTP client patched. Providers already made global stay so (see
    ``installed_globally``), and nothing is flushed: what a test left configured is
    dropped, not shut down."""
    for hook in _reset_hooks:
        hook()
    STATE.setup = SetupState()
    STATE.health = HealthState()
    STATE.ambient = AmbientState()
    STATE.logs = LogsState()
    STATE.caches = CacheState()
    STATE.http_clients = HttpClientState()
