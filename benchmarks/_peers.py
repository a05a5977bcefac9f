"""Other libraries measured beside autobot-apm, when they are installed.

Neither is a dependency of the package or of its tests. Install them for a measurement
(see docs/performance.md); a missing peer is skipped with a printed note. Both are set
up to export nowhere, so that their figure is their per-call cost, not the network's.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Callable
from typing import Any

from opentelemetry.sdk.trace.export import BatchSpanProcessor

from ._sdk import NullSpanExporter

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]
CONTRIB_FASTAPI = "opentelemetry.instrumentation.fastapi"


def installed(module: str, label: str) -> bool:
    """Whether ``module`` can be imported; prints the skip note when it cannot."""
    try:  # find_spec raises, rather than answers None, when a parent package is missing
        found = importlib.util.find_spec(module) is not None
    except ImportError:
        found = False
    if not found:
        print(f"note: {label} is not installed; its row is skipped")
    return found


def logfire_instrument() -> Decorator | None:
    """``@logfire.instrument`` with logfire's own SDK set-up, exporting to a null exporter."""
    try:
        import logfire
    except ImportError:
        print("note: logfire is not installed; its row is skipped")
        return None
    logfire.configure(
        send_to_logfire=False,
        console=False,
        metrics=False,
        inspect_arguments=False,
        additional_span_processors=[BatchSpanProcessor(NullSpanExporter())],
    )
    instrument: Decorator = logfire.instrument("work")
    return instrument


def ddtrace_wrap() -> Decorator | None:
    """``@tracer.wrap()`` with ddtrace's default writer, aimed at an agent that is not there.

    Spans are encoded and buffered as in production; the background flush fails and
    drops them, off the measured path. Telemetry and remote configuration are turned off
    so that ddtrace opens no other connection.
    """
    for name, value in {
        "DD_TRACE_AGENT_URL": "http://127.0.0.1:9",
        "DD_INSTRUMENTATION_TELEMETRY_ENABLED": "false",
        "DD_REMOTE_CONFIGURATION_ENABLED": "false",
        "DD_TRACE_STARTUP_LOGS": "false",
    }.items():
        os.environ.setdefault(name, value)
    try:
        from ddtrace.trace import tracer
    except ImportError:
        print("note: ddtrace is not installed; its row is skipped")
        return None
    logging.getLogger("ddtrace").setLevel(logging.CRITICAL)
    wrap: Decorator = tracer.wrap("work")
    return wrap
