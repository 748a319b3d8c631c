"""What id reconciliation needs from the journal (mixed into `SqlJournal`).

- `customers_written`: every customer the destination has written (customer id → contact
  external_id, and the customer's `lastModifiedAt` as last written), so that a snapshot of
  live ids shows which contacts lost their customer.
- `snapshot_ids`: the ids of the snapshot being received, per stream and run; a snapshot is
  compared only once its completion record arrived, and rows of other runs are dropped when a
  new snapshot of the stream starts (an interrupted one never counts).

The comparisons are anti-joins in SQL: a snapshot of 100,000 ids never sits in memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from destination_crmone.journal.commerce import CartRow, _now

SNAPSHOT_SCHEMA = """
CREATE TABLE IF NOT EXISTS customers_written (
  customer_id TEXT PRIMARY KEY,
  external_id TEXT NOT NULL,
  last_modified_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS snapshot_ids (
  stream TEXT NOT NULL,
  run_id TEXT NOT NULL,
  record_id TEXT NOT NULL,
  PRIMARY KEY (stream, run_id, record_id))
"""
ABSENT = (
    "NOT EXISTS (SELECT 1 FROM snapshot_ids s"
    " WHERE s.stream = ? AND s.run_id = ? AND s.record_id = {column})"
)


def _limit(limit: int | None) -> str:
    return "" if limit is None else f" LIMIT {int(limit)}"


class SnapshotTables:
    """Written customers and received snapshots (mixed into `SqlJournal`)."""

    # provided by SqlJournal / CommerceTables
    def query(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]: ...

    def _many(self, statements: list[tuple[str, list[tuple[Any, ...]]]]) -> None: ...

    # --- written customers ---------------------------------------------------------------

    def remember_customers(self, customers: Mapping[str, tuple[str, str]]) -> None:
        """customer id → (contact external_id, `lastModifiedAt` as written)."""
        rows = [(cid, ext, modified or "") for cid, (ext, modified) in customers.items()]
        self._many(
            [
                ("DELETE FROM customers_written WHERE customer_id = ?", [(r[0],) for r in rows]),
                (
                    "INSERT INTO customers_written (customer_id, external_id, last_modified_at)"
                    " VALUES (?, ?, ?)",
                    rows,
                ),
            ]
        )

    def forget_written_customers(self, customer_ids: Iterable[str]) -> None:
        self._many(
            [
                (
                    "DELETE FROM customers_written WHERE customer_id = ?",
                    [(cid,) for cid in customer_ids],
                )
            ]
        )

    # --- snapshots -----------------------------------------------------------------------

    def start_snapshot(self, stream: str, run_id: str) -> None:
        """Drop what earlier (interrupted or used) snapshots of the stream left."""
        self._many(
            [("DELETE FROM snapshot_ids WHERE stream = ? AND run_id <> ?", [(stream, run_id)])]
        )

    def add_snapshot_ids(self, stream: str, run_id: str, ids: Iterable[str]) -> None:
        rows = [(stream, run_id, record_id) for record_id in dict.fromkeys(ids)]
        self._many(
            [
                (
                    "INSERT INTO snapshot_ids (stream, run_id, record_id) VALUES (?, ?, ?)"
                    " ON CONFLICT DO NOTHING",
                    rows,
                )
            ]
        )

    def snapshot_size(self, stream: str, run_id: str) -> int:
        rows = self.query(
            "SELECT COUNT(*) FROM snapshot_ids WHERE stream = ? AND run_id = ?", (stream, run_id)
        )
        return int(rows[0][0]) if rows else 0

    def end_snapshot(self, stream: str, run_id: str) -> None:
        self._many(
            [("DELETE FROM snapshot_ids WHERE stream = ? AND run_id = ?", [(stream, run_id)])]
        )

    def _absent(
        self, select: str, column: str, stream: str, run_id: str, before: str, limit: int | None
    ) -> list[tuple[Any, ...]]:
        """Rows of `select` (aliased `t`, filtered on `t.<time> < ?`) whose `column` the
        snapshot lacks, by that column."""
        return self.query(
            f"{select} AND {ABSENT.format(column=f't.{column}')} ORDER BY t.{column}"
            + _limit(limit),
            (before, stream, run_id),
        )

    def customers_absent(
        self, stream: str, run_id: str, modified_before: str, limit: int | None = None
    ) -> list[tuple[str, str]]:
        """(customer id, external_id) of written customers the snapshot lacks, last written
        from a change before `modified_before` (a later one may be missing only because it was
        not visible yet)."""
        select = (
            "SELECT customer_id, external_id FROM customers_written t WHERE t.last_modified_at < ?"
        )
        rows = self._absent(select, "customer_id", stream, run_id, modified_before, limit)
        return [(row[0], row[1]) for row in rows]

    def orders_absent(
        self, stream: str, run_id: str, placed_before: str, limit: int | None = None
    ) -> list[tuple[str, str]]:
        """(order id, contact key) of written orders the snapshot lacks."""
        select = "SELECT order_id, contact_key FROM order_facts t WHERE t.placed_at < ?"
        rows = self._absent(select, "order_id", stream, run_id, placed_before, limit)
        return [(row[0], row[1]) for row in rows]

    def open_carts_absent(
        self, stream: str, run_id: str, modified_before: str, limit: int | None = None
    ) -> list[CartRow]:
        """Open carts (candidates for `cart_abandoned`) the snapshot lacks."""
        select = (
            "SELECT cart_id, state, contact_key, last_modified_at, activity FROM carts t"
            " WHERE t.state = 'open' AND t.last_modified_at < ?"
        )
        rows = self._absent(select, "cart_id", stream, run_id, modified_before, limit)
        return [CartRow(r[0], r[1], r[2], r[3], json.loads(r[4])) for r in rows]

    def close_carts(self, cart_ids: Iterable[str]) -> None:
        """Carts that need nothing more (gone from commercetools): never `cart_abandoned`."""
        stamp = _now()
        self._many(
            [
                (
                    "UPDATE carts SET state = 'closed', updated_at = ? WHERE cart_id = ?",
                    [(stamp, cart_id) for cart_id in cart_ids],
                )
            ]
        )

    def forget_orders(self, order_ids: Iterable[str]) -> None:
        self._many([("DELETE FROM order_facts WHERE order_id = ?", [(oid,) for oid in order_ids])])
