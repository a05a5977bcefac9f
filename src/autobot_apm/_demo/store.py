"""The backend's database: a small shop catalogue in an in-memory SQLite database.

Queries run in a worker thread, as a blocking driver's calls should in an async service;
``asyncio.to_thread`` copies the context, so their spans are children of the request's.
The sales report is slow on purpose, to show the ``slow_operation`` event: SQLite is
far too fast to be slow by itself, so its ``HAVING`` clause calls ``pause(seconds)``, a
function registered here that sleeps once per product category.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from typing import Any

import autobot_apm as apm

PRODUCTS = (
    (1, "Copper kettle", "kitchen", 49.0),
    (2, "Tea strainer", "kitchen", 9.5),
    (3, "Reading lamp", "home", 35.0),
    (4, "Wool blanket", "home", 79.0),
    (5, "Trail map", "outdoor", 12.0),
)
ORDERS = ((1, 2), (2, 5), (3, 1), (4, 1), (5, 3), (1, 1), (3, 2))
PAUSE_PER_CATEGORY = 0.1  # seconds; three categories make the report take about 0.3 s

# Short on purpose: the trace tree shows the query text on the span's line.
PRODUCT_QUERY = "SELECT * FROM products WHERE id = ?"
REPORT_QUERY = (
    "SELECT p.category, SUM(o.quantity * p.price) AS revenue "
    "FROM orders o JOIN products p ON p.id = o.product_id "
    "GROUP BY p.category HAVING pause(?) ORDER BY revenue DESC"
)

# Trackers are built once: the query is parsed and sanitized here, not on every call.
FIND_PRODUCT = apm.track_database("sqlite", namespace="shop", query=PRODUCT_QUERY)
SALES_REPORT = apm.track_database("sqlite", namespace="shop", query=REPORT_QUERY)


def _pause(seconds: float) -> int:
    time.sleep(seconds)
    return 1


class Catalogue:
    """Products and orders; one connection, used by one thread at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._db.create_function("pause", 1, _pause)
        self._db.executescript(
            "CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT, category TEXT, "
            "price REAL); CREATE TABLE orders (product_id INTEGER, quantity INTEGER);"
        )
        self._db.executemany("INSERT INTO products VALUES (?, ?, ?, ?)", PRODUCTS)
        self._db.executemany("INSERT INTO orders VALUES (?, ?)", ORDERS)

    async def product(self, product_id: int) -> dict[str, Any] | None:
        """The product with this id, or None."""
        return await asyncio.to_thread(self._product, product_id)

    async def sales_report(self) -> list[dict[str, Any]]:
        """Revenue per category, largest first (the slow query)."""
        return await asyncio.to_thread(self._sales_report)

    def _product(self, product_id: int) -> dict[str, Any] | None:
        with self._lock, FIND_PRODUCT as op:
            rows = self._db.execute(PRODUCT_QUERY, (product_id,)).fetchall()
            op.rows(len(rows))
        if not rows:
            return None
        identifier, name, category, price = rows[0]
        return {"id": identifier, "name": name, "category": category, "price": price}

    def _sales_report(self) -> list[dict[str, Any]]:
        with self._lock, SALES_REPORT as op:
            rows = self._db.execute(REPORT_QUERY, (PAUSE_PER_CATEGORY,)).fetchall()
            op.rows(len(rows))
        return [{"category": category, "revenue": revenue} for category, revenue in rows]

    def close(self) -> None:
        self._db.close()
