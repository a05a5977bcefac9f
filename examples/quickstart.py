"""Quickstart: track an endpoint, a cache and a database call; see the telemetry printed.

Run it with no collector at all: with no OTLP endpoint configured, autobot-apm prints
each finished trace as a tree and, at exit, a table of the metrics.

    python examples/quickstart.py

Point it at a collector instead with OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318.
"""

from __future__ import annotations

import random
import sqlite3
import time

import autobot_apm as apm

DB = sqlite3.connect(":memory:")
DB.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
DB.executemany("INSERT INTO users VALUES (?, ?)", [(1, "ada"), (2, "grace"), (3, "linus")])
CACHE: dict[int, str] = {}


@apm.track_cache("users")
def cached_user(user_id: int) -> str | None:
    return CACHE.get(user_id)  # None counts as a miss


@apm.track_database("sqlite", query="SELECT name FROM users WHERE id = ?")
def load_user(user_id: int) -> str | None:
    row = DB.execute("SELECT name FROM users WHERE id = ?", (user_id,)).fetchone()
    apm.current_operation(apm.DatabaseOperation).rows(0 if row is None else 1)
    time.sleep(random.uniform(0.001, 0.004))  # a little latency to look at
    return None if row is None else str(row[0])


@apm.track_api(route="/users/{user_id}", method="GET")
def get_user(user_id: int) -> dict[str, object]:
    name = cached_user(user_id)
    if name is None:
        name = load_user(user_id)
        if name is not None:
            CACHE[user_id] = name
    return {"id": user_id, "name": name}


def main() -> None:
    apm.configure(service_name="quickstart", environment="development")
    for user_id in (1, 2, 1, 3, 1):
        get_user(user_id)
    apm.shutdown()  # flushes: the last traces and the metrics table are printed now


if __name__ == "__main__":
    main()
