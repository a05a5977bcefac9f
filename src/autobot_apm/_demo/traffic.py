"""The requests the demo sends to the frontend, as a user of the shop would.

The first four show one thing each: a question about a product (the full path: cache
miss, database, streamed LLM answer, queued job), a product page served from the cache,
the sales report (a slow query), and a question to a model the LLM service refuses (an
error that crosses three services). Further requests repeat the ordinary ones, so the
percentiles have something to work with.
"""

from __future__ import annotations

import itertools
import json
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .cluster import DemoError

REQUEST_TIMEOUT = 15.0


@dataclass(frozen=True)
class Call:
    """One request to the frontend and the status it should get."""

    method: str
    path: str
    body: Mapping[str, Any] | None = None
    expected_status: int = 200

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class Outcome:
    """What a call got back."""

    call: Call
    status: int
    seconds: float

    @property
    def as_expected(self) -> bool:
        return self.status == self.call.expected_status


def _question(product_id: int, text: str, model: str | None = None) -> Call:
    body: dict[str, Any] = {"product_id": product_id, "question": text}
    if model is None:
        return Call("POST", "/ask", body)
    return Call("POST", "/ask", {**body, "model": model}, expected_status=502)


SCENARIO = (
    _question(1, "Is this kettle good for green tea?"),
    Call("GET", "/products/1"),
    Call("GET", "/report"),
    _question(2, "Will it fit my teapot?", model="demo-large"),
)
REPEATED = (
    Call("GET", "/products/2"),
    _question(3, "Is it bright enough to read by?"),
    Call("GET", "/products/3"),
    _question(1, "Does it whistle?"),
)
MINIMUM_REQUESTS = len(SCENARIO)
DEFAULT_REQUESTS = 8


def plan(requests: int) -> list[Call]:
    """The scenario, then ordinary requests until there are ``requests`` in all."""
    extra = max(0, requests - len(SCENARIO))
    return [*SCENARIO, *itertools.islice(itertools.cycle(REPEATED), extra)]


def send(base_url: str, call: Call) -> Outcome:
    """Send one call; an error status is an outcome, an unreachable frontend a DemoError."""
    data = json.dumps(call.body).encode() if call.body is not None else None
    request = urllib.request.Request(  # noqa: S310  # always http://127.0.0.1:<port>
        base_url + call.path,
        data=data,
        method=call.method,
        headers={"content-type": "application/json"},
    )
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT) as response:  # noqa: S310
            response.read()
            status = int(response.status)
    except urllib.error.HTTPError as error:
        error.read()
        error.close()
        status = error.code
    except OSError as error:
        raise DemoError(f"the frontend did not answer {call}: {error}") from error
    return Outcome(call, status, time.perf_counter() - started)


def describe(outcomes: list[Outcome]) -> str:
    """One line: how many requests, how many failed as planned, any surprise."""
    planned = [o for o in outcomes if o.as_expected and o.status >= 400]
    surprises = [o for o in outcomes if not o.as_expected]
    text = f"sent {len(outcomes)} requests to the frontend"
    if planned:
        statuses = ", ".join(sorted({str(o.status) for o in planned}))
        text += f"; {len(planned)} failed as planned ({statuses})"
    if surprises:
        text += "; unexpected: " + ", ".join(f"{o.call} -> {o.status}" for o in surprises)
    return text
