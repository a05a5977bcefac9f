"""Errors raised by autobot-apm, and containment of the library's own faults.

Exception tree::

    ValueError
     └── ConfigurationError     a setting given to configure() (or read from the
                                environment) is malformed; raised at configure time only

Beyond it, only a misused tracker raises, and where it is made (at decoration or at the
``with`` statement), never inside the tracked call: a ``TypeError`` for arguments that are
code, not data (a keyword the tracker does not know, ``hit=`` that is not callable, a
tracker applied to something that is not callable). A fault inside the instrumentation
is caught by :func:`contained`, logged once per place, and swallowed, so the tracked
call goes on as if it were not tracked. Tests can make such faults loud with
``AUTOBOT_APM_STRICT=1`` (the test suite of this project does).
"""

from __future__ import annotations

import functools
import logging
import os
import re
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from .._sdk.state import STATE

logger = logging.getLogger("autobot_apm")

P = ParamSpec("P")
R = TypeVar("R")


class ConfigurationError(ValueError):
    """A setting has a value autobot-apm cannot use; the message names both."""

    def __init__(self, setting: str, value: object, reason: str) -> None:
        self.setting = setting
        self.value = value
        self.reason = reason
        super().__init__(f"autobot-apm setting {setting}={_shown(value)}: {reason}")


# ``scheme://user:password@host``: the credentials part of a URL, hidden in messages.
_URL_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]*@")


def _shown(value: object) -> str:
    """``repr(value)`` for a message: bounded, credentials of a URL hidden, never raising."""
    try:
        text = repr(value)
    except Exception:
        return "<unprintable>"
    text = text if len(text) <= 200 else text[:199] + "…"
    return _URL_CREDENTIALS.sub("REDACTED@", text)


def strict() -> bool:
    """Whether internal faults should be raised instead of contained (tests only)."""
    return os.environ.get("AUTOBOT_APM_STRICT", "") in {"1", "true", "True"}


def report_internal_error(where: str, exc: BaseException) -> None:
    """Log an instrumentation fault once per place; raise it in strict mode."""
    if strict():
        raise exc
    reported = STATE.caches.reported_errors
    if where in reported:
        return
    reported.add(where)
    logger.warning(
        "autobot-apm: internal error in %s was contained; telemetry for this call "
        "may be incomplete (reported once)",
        where,
        exc_info=exc,
    )


def contained(default: R) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate an instrumentation helper so a fault in it returns ``default``.

    Use it on everything the tracking core calls around user code: a bug there must
    cost telemetry, never the application's call.
    """

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        where = f"{fn.__module__}.{fn.__qualname__}"

        @functools.wraps(fn)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                report_internal_error(where, exc)
                return default

        return guarded

    return decorate
