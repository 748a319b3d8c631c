"""What the destination remembers about commerce across runs, in the journal's database.

- `carts`: carts with a known buyer whose `cart_abandoned` may still be due (`open`), or was
  written (`abandoned`, with the activity as sent, so a recovery can flag it), or that need
  nothing more (`recovered`, `closed`). An idle cart is never read again by an incremental
  source: this table is how the end of a run finds the carts that went idle since.
- `order_facts`: the orders written for each contact (`ext:<external_id>` or `email:<email>`),
  from which the contact's `order_count`, `last_order_at` and `total_spent` are computed.
- `contact_stores`: each contact's segment membership as last written (in or out of the
  filters' scope, the lists and routed properties routing gave it), so that leaving a rule or
  the scope can be undone (its lists left, its properties cleared); journals of earlier
  releases hold the routed store keys there, read as what those stores' routes gave.
- `order_events`: the lifecycle activities written (a state reached, a return): each is
  written once, at the time the destination first saw it, and never moved by later changes.
- `payment_facts`: each payment's method and state (derived from its transactions), kept
  whether or not an order naming it has been written yet: no personal data, only ids, the
  method and the state.
- `order_payments`: the payments each written order object names (`paymentInfo.payments`),
  with the order's contact key, so a payment arriving later updates the order objects that
  reference it.
- `store_languages`: each store's `languages` (from the `stores` stream), the second choice
  of a localized value's language after the customer's locale.

`SqlJournal` inherits these methods; statements use `?` markers like the rest of the journal.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from destination_crmone.timefmt import format_rfc3339

COMMERCE_SCHEMA = """
CREATE TABLE IF NOT EXISTS carts (
  cart_id TEXT PRIMARY KEY,
  state TEXT NOT NULL,
  contact_key TEXT,
  last_modified_at TEXT NOT NULL,
  activity TEXT NOT NULL,
  abandoned_at TEXT,
  updated_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS carts_state ON carts (state, last_modified_at);
CREATE TABLE IF NOT EXISTS order_facts (
  order_id TEXT PRIMARY KEY,
  contact_key TEXT NOT NULL,
  placed_at TEXT NOT NULL,
  amount TEXT,
  currency TEXT,
  cancelled INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS order_facts_contact ON order_facts (contact_key);
CREATE TABLE IF NOT EXISTS contact_stores (
  contact_key TEXT PRIMARY KEY,
  stores TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS order_events (
  activity_id TEXT PRIMARY KEY,
  order_id TEXT NOT NULL,
  contact_key TEXT);
CREATE INDEX IF NOT EXISTS order_events_order ON order_events (order_id);
CREATE TABLE IF NOT EXISTS payment_facts (
  payment_id TEXT PRIMARY KEY,
  state TEXT NOT NULL,
  method TEXT,
  version TEXT);
CREATE TABLE IF NOT EXISTS order_payments (
  order_id TEXT NOT NULL,
  payment_id TEXT NOT NULL,
  contact_key TEXT,
  PRIMARY KEY (order_id, payment_id));
CREATE INDEX IF NOT EXISTS order_payments_payment ON order_payments (payment_id);
CREATE TABLE IF NOT EXISTS store_languages (
  store_key TEXT PRIMARY KEY,
  languages TEXT NOT NULL)
"""
CART_STATES = ("open", "abandoned", "recovered", "closed")
# The tables that hold rows under a contact key: what an erasure clears.
COMMERCE_TABLES = ("carts", "order_facts", "contact_stores", "order_events", "order_payments")
CHUNK = 500  # keys per IN (…) list


@dataclass(frozen=True)
class CartRow:
    """One remembered cart; `activity` is its `cart_abandoned` (`ActivityPayload.to_api()`):
    the one to write while `open`, the one written once `abandoned`."""

    cart_id: str
    state: str
    contact_key: str | None
    last_modified_at: str
    activity: Mapping[str, Any]


@dataclass(frozen=True)
class OrderFact:
    """One order the destination has written, as the journal keeps it."""

    order_id: str
    placed_at: str
    amount: str | None
    currency: str | None
    cancelled: bool = False


@dataclass(frozen=True)
class PaymentFact:
    """One payment as the journal keeps it: its state (`commerce_events.payment_state`) and
    method; `version` is the record's (`versions.record_version`), so an older copy of the
    payment never replaces a newer one."""

    payment_id: str
    state: str
    method: str | None
    version: str | None = None


@dataclass(frozen=True)
class OrderPayments:
    """A written order object and the payments it names."""

    order_id: str
    contact_key: str | None
    payment_ids: tuple[str, ...]


def _chunks(keys: Iterable[str]) -> Iterator[list[str]]:
    wanted = list(dict.fromkeys(keys))
    for start in range(0, len(wanted), CHUNK):
        yield wanted[start : start + CHUNK]


def _now() -> str:
    return format_rfc3339(datetime.now(UTC))


class CommerceTables:
    """Carts, order facts and routed stores (mixed into `SqlJournal`)."""

    # provided by SqlJournal
    _lock: Any
    connection: Any

    def _execute(self, statement: str, params: tuple[Any, ...] = ()) -> Any: ...

    def query(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]: ...

    def _in(self, statement: str, keys: Iterable[str]) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = []
        for part in _chunks(keys):
            rows += self.query(statement.format(marks=", ".join("?" * len(part))), tuple(part))
        return rows

    def _many(self, statements: list[tuple[str, list[tuple[Any, ...]]]]) -> None:
        """Several executemany in one transaction."""
        with self._lock:
            try:
                cursor = self.connection.cursor()
                for statement, rows in statements:
                    if rows:
                        rows = [self._params(statement, row) for row in rows]  # type: ignore[attr-defined]
                        cursor.executemany(self._sql(statement), rows)  # type: ignore[attr-defined]
                self.connection.commit()
            except Exception:
                self.connection.rollback()
                raise

    # --- carts ---------------------------------------------------------------------------

    def carts(self, cart_ids: Iterable[str]) -> dict[str, CartRow]:
        rows = self._in(
            "SELECT cart_id, state, contact_key, last_modified_at, activity FROM carts"
            " WHERE cart_id IN ({marks})",
            cart_ids,
        )
        return {row[0]: CartRow(row[0], row[1], row[2], row[3], json.loads(row[4])) for row in rows}

    def save_carts(self, rows: Iterable[CartRow]) -> None:
        """Insert or replace remembered carts (`abandoned_at` is set when one becomes so)."""
        stamp = _now()
        values = []
        for row in rows:
            if row.state not in CART_STATES:
                raise ValueError(f"unknown cart state {row.state!r}")
            abandoned = stamp if row.state == "abandoned" else None
            activity = json.dumps(dict(row.activity), separators=(",", ":"), default=str)
            values.append(
                (
                    row.cart_id,
                    row.state,
                    row.contact_key,
                    row.last_modified_at,
                    activity,
                    abandoned,
                    stamp,
                )
            )
        self._many(
            [
                ("DELETE FROM carts WHERE cart_id = ?", [(v[0],) for v in values]),
                (
                    "INSERT INTO carts (cart_id, state, contact_key, last_modified_at, activity,"
                    " abandoned_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    values,
                ),
            ]
        )

    def idle_carts(self, last_modified_before: str, limit: int | None = None) -> list[CartRow]:
        """Open carts last changed at or before this instant, oldest first."""
        statement = (
            "SELECT cart_id, state, contact_key, last_modified_at, activity FROM carts"
            " WHERE state = 'open' AND last_modified_at <= ? ORDER BY last_modified_at, cart_id"
        )
        params: tuple[Any, ...] = (last_modified_before,)
        if limit is not None:
            statement += " LIMIT ?"
            params = (*params, int(limit))
        return [
            CartRow(r[0], r[1], r[2], r[3], json.loads(r[4])) for r in self.query(statement, params)
        ]

    # --- order history -------------------------------------------------------------------

    def record_orders(self, facts: Mapping[str, Iterable[OrderFact]]) -> None:
        """contact key → orders written for it (an order id already known is replaced)."""
        rows = [
            (f.order_id, key, f.placed_at, f.amount, f.currency, int(f.cancelled))
            for key, orders in facts.items()
            for f in orders
        ]
        self._many(
            [
                ("DELETE FROM order_facts WHERE order_id = ?", [(r[0],) for r in rows]),
                (
                    "INSERT INTO order_facts (order_id, contact_key, placed_at, amount, currency,"
                    " cancelled) VALUES (?, ?, ?, ?, ?, ?)",
                    rows,
                ),
            ]
        )

    def orders_of(self, contact_keys: Iterable[str]) -> dict[str, list[OrderFact]]:
        found: dict[str, list[OrderFact]] = {}
        rows = self._in(
            "SELECT contact_key, order_id, placed_at, amount, currency, cancelled FROM order_facts"
            " WHERE contact_key IN ({marks}) ORDER BY placed_at, order_id",
            contact_keys,
        )
        for key, order_id, placed_at, amount, currency, cancelled in rows:
            found.setdefault(key, []).append(
                OrderFact(order_id, placed_at, amount, currency, bool(cancelled))
            )
        return found

    def written_events(self, order_ids: Iterable[str]) -> set[str]:
        """Activity external ids of lifecycle events already written for these orders."""
        rows = self._in(
            "SELECT activity_id FROM order_events WHERE order_id IN ({marks})", order_ids
        )
        return {row[0] for row in rows}

    def remember_events(self, events: Iterable[tuple[str, str, str | None]]) -> None:
        """(activity id, order id, contact key) of lifecycle activities written."""
        rows = list(dict.fromkeys(events))
        self._many(
            [
                ("DELETE FROM order_events WHERE activity_id = ?", [(r[0],) for r in rows]),
                (
                    "INSERT INTO order_events (activity_id, order_id, contact_key)"
                    " VALUES (?, ?, ?)",
                    rows,
                ),
            ]
        )

    # --- payments ------------------------------------------------------------------------

    def payment_facts(self, payment_ids: Iterable[str]) -> dict[str, PaymentFact]:
        rows = self._in(
            "SELECT payment_id, state, method, version FROM payment_facts"
            " WHERE payment_id IN ({marks})",
            payment_ids,
        )
        return {row[0]: PaymentFact(*row) for row in rows}

    def save_payment_facts(self, facts: Iterable[PaymentFact]) -> None:
        """Insert or replace (the caller keeps only facts newer than the remembered ones)."""
        rows = [(f.payment_id, f.state, f.method, f.version) for f in facts]
        self._many(
            [
                ("DELETE FROM payment_facts WHERE payment_id = ?", [(r[0],) for r in rows]),
                (
                    "INSERT INTO payment_facts (payment_id, state, method, version)"
                    " VALUES (?, ?, ?, ?)",
                    rows,
                ),
            ]
        )

    def link_payments(self, orders: Iterable[OrderPayments]) -> None:
        """The payments each of these written orders names now (replacing what it named)."""
        orders = list(orders)
        self._many(
            [
                ("DELETE FROM order_payments WHERE order_id = ?", [(o.order_id,) for o in orders]),
                (
                    "INSERT INTO order_payments (order_id, payment_id, contact_key)"
                    " VALUES (?, ?, ?)",
                    [
                        (o.order_id, payment_id, o.contact_key)
                        for o in orders
                        for payment_id in dict.fromkeys(o.payment_ids)
                    ],
                ),
            ]
        )

    def orders_paid_by(self, payment_ids: Iterable[str]) -> list[OrderPayments]:
        """The written orders naming any of these payments, each with all the payments it
        names."""
        order_ids = [
            row[0]
            for row in self._in(
                "SELECT DISTINCT order_id FROM order_payments WHERE payment_id IN ({marks})",
                payment_ids,
            )
        ]
        found: dict[str, tuple[str | None, list[str]]] = {}
        rows = self._in(
            "SELECT order_id, contact_key, payment_id FROM order_payments"
            " WHERE order_id IN ({marks}) ORDER BY order_id, payment_id",
            order_ids,
        )
        for order_id, contact_key, payment_id in rows:
            found.setdefault(order_id, (contact_key, []))[1].append(payment_id)
        return [OrderPayments(order_id, key, tuple(ids)) for order_id, (key, ids) in found.items()]

    # --- segment memberships -------------------------------------------------------------

    def memberships(self, contact_keys: Iterable[str]) -> dict[str, Any]:
        """What was remembered per contact (`segments.Membership.as_dict()`, or the store keys
        a journal of an earlier release holds), as JSON values."""
        rows = self._in(
            "SELECT contact_key, stores FROM contact_stores WHERE contact_key IN ({marks})",
            contact_keys,
        )
        return {key: json.loads(value) for key, value in rows}

    def remember_memberships(self, memberships: Mapping[str, Any]) -> None:
        """contact key → its membership (`Membership.as_dict()`), replacing what was kept."""
        rows = [(key, json.dumps(value)) for key, value in memberships.items()]
        self._many(
            [
                ("DELETE FROM contact_stores WHERE contact_key = ?", [(r[0],) for r in rows]),
                ("INSERT INTO contact_stores (contact_key, stores) VALUES (?, ?)", rows),
            ]
        )

    # --- stores --------------------------------------------------------------------------

    def store_languages(self, store_keys: Iterable[str] | None = None) -> dict[str, list[str]]:
        """The languages of these stores (of every store known: None)."""
        if store_keys is None:
            rows = self.query("SELECT store_key, languages FROM store_languages")
        else:
            rows = self._in(
                "SELECT store_key, languages FROM store_languages WHERE store_key IN ({marks})",
                store_keys,
            )
        return {key: json.loads(languages) for key, languages in rows}

    def remember_store_languages(self, languages: Mapping[str, Iterable[str]]) -> None:
        rows = [(key, json.dumps(list(tags))) for key, tags in languages.items()]
        self._many(
            [
                ("DELETE FROM store_languages WHERE store_key = ?", [(r[0],) for r in rows]),
                ("INSERT INTO store_languages (store_key, languages) VALUES (?, ?)", rows),
            ]
        )

    # --- erasure -------------------------------------------------------------------------

    def forget_contact_commerce(self, contact_keys: Iterable[str]) -> int:
        """Remove everything these tables hold about the contacts (GDPR erasure)."""
        with self._lock:
            try:
                removed = self._delete_commerce(contact_keys)
                self.connection.commit()
            except Exception:
                self.connection.rollback()
                raise
        self._erased(COMMERCE_TABLES)  # type: ignore[attr-defined]
        return removed

    def _delete_commerce(self, contact_keys: Iterable[str]) -> int:
        """The rows under these contact keys, deleted in the open transaction."""
        keys = list(dict.fromkeys(contact_keys))
        removed = 0
        for part in _chunks(keys):
            marks = ", ".join("?" * len(part))
            for table in COMMERCE_TABLES:
                removed += self._execute(
                    f"DELETE FROM {table} WHERE contact_key IN ({marks})", tuple(part)
                ).rowcount
        return removed
