"""``autobot-apm demo``: five services on loopback, traced and measured end to end.

This module imports nothing heavy: the demo's services need FastAPI, uvicorn and httpx
(the ``demo`` extra), and :func:`run_demo` names the extra when they are missing
instead of failing on an import.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from typing import TextIO

from .._sdk.console.text import write_text
from .traffic import DEFAULT_REQUESTS, MINIMUM_REQUESTS

__all__ = ["DEFAULT_REQUESTS", "add_demo_arguments", "missing_packages", "run_demo"]

# What the services import; all three come with ``pip install 'autobot-apm[demo]'``.
DEMO_PACKAGES = ("fastapi", "uvicorn", "httpx")


def missing_packages() -> list[str]:
    """The demo's packages that are not installed here."""
    return [name for name in DEMO_PACKAGES if importlib.util.find_spec(name) is None]


def run_demo(
    requests: int = DEFAULT_REQUESTS,
    *,
    color: bool | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Run the demo, writing to ``out`` (problems to ``err``); returns the exit status.

    ``color`` None means colour on a terminal only (and never with ``NO_COLOR`` set).
    """
    if missing := missing_packages():
        write_text(
            sys.stderr if err is None else err,
            f"autobot-apm demo runs its services on FastAPI and uvicorn; not installed: "
            f"{', '.join(missing)}.\nInstall the demo extra:  pip install 'autobot-apm[demo]'\n",
        )
        return 1
    from .runner import run

    return run(requests, color=color, out=out, err=err)


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    """The demo's own options, for ``autobot-apm demo``."""
    parser.add_argument(
        "--requests",
        type=_request_count,
        default=DEFAULT_REQUESTS,
        help=f"requests to send, at least {MINIMUM_REQUESTS} (default: %(default)s)",
    )


def _request_count(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if number < MINIMUM_REQUESTS:
        raise argparse.ArgumentTypeError(f"must be at least {MINIMUM_REQUESTS}, one of each kind")
    return number
