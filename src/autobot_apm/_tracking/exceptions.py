"""Exceptions as telemetry: the semconv ``error.type`` and ``exception`` event."""

from __future__ import annotations

import traceback
from typing import Final

from .errors import contained
from .text import MAX_ATTRIBUTE_LENGTH, OTHER, TRUNCATION_MARKER, safe_str, truncate

_NO_ATTRIBUTES: dict[str, str] = {}


@contained(OTHER)
def error_type(exc: BaseException | type[BaseException]) -> str:
    """The semconv ``error.type`` of an exception: ``module.QualName``, builtins bare.

    ``error_type(TimeoutError())`` is ``"TimeoutError"``; an exception defined in
    ``myapp.db`` gives ``"myapp.db.RetryError"``.
    """
    cls = exc if issubclass(type(exc), type) else type(exc)
    module = getattr(cls, "__module__", None)
    name = getattr(cls, "__qualname__", None) or getattr(cls, "__name__", None)
    if not isinstance(name, str):
        return OTHER
    if not isinstance(module, str) or module == "builtins":
        return name
    return f"{module}.{name}"


MAX_STACKTRACE_LENGTH: Final = 4 * MAX_ATTRIBUTE_LENGTH


@contained(_NO_ATTRIBUTES)
def exception_attributes(exc: BaseException) -> dict[str, str]:
    """The semconv ``exception`` event of ``exc``, bounded and never raising.

    The SDK's ``record_exception`` calls ``str(exc)``, which user exceptions may make
    raise, and keeps messages of any size. Here the message is cut to the text cap and
    the stack trace keeps its last 16,384 characters: the frames nearest the raise and
    the exception line. ``exc`` itself, its ``__traceback__`` included, is not touched.
    """
    stacktrace = _stacktrace(exc)
    if len(stacktrace) > MAX_STACKTRACE_LENGTH:
        stacktrace = TRUNCATION_MARKER + stacktrace[-(MAX_STACKTRACE_LENGTH - 1) :]
    return {
        "exception.type": truncate(error_type(exc), 256),
        "exception.message": truncate(safe_str(exc), MAX_ATTRIBUTE_LENGTH),
        "exception.stacktrace": truncate(stacktrace, MAX_STACKTRACE_LENGTH),
        "exception.escaped": "False",  # as the SDK's record_exception writes it
    }


def _stacktrace(exc: BaseException) -> str:
    """The formatted traceback; without chained causes and notes when reading those
    raises (a user exception's ``__getattr__`` answers ``__notes__`` too)."""
    try:
        return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    except Exception:
        frames = "".join(traceback.format_tb(exc.__traceback__))
        return f"Traceback (most recent call last):\n{frames}{error_type(exc)}: {safe_str(exc)}\n"
