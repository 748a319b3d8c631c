"""Id reconciliation: what a complete snapshot of live ids (`customer_ids`, `order_ids`,
`cart_ids` from source-commercetools) changes in CRM One.

The source sends every live id, then one completion record (`snapshot_marker`). The ids go to
the journal as they arrive (`snapshot_ids`, per stream and run); only the completion record
compares them with what the destination has written, so a snapshot cut short changes
nothing. Then, for what the snapshot lacks and was last written from a change before its
`safe_before`:

- `customer_ids`: the contact is archived or erased per `deletions` (`ignore`: counted only),
  as for a `CustomerDeleted` message (`contact_removal.remove_contact`);
- `order_ids`: the order's object, when orders are written as objects, gets
  `order_state: "Deleted"` (CRM One has no way to delete an object or an activity; the
  activities stay as history), and the order leaves the contact's order history;
- `cart_ids`: an open cart is closed, so it never becomes `cart_abandoned`.

A snapshot that arrives empty while the destination has written records of its kind acts on
nothing (a client that lost its scopes or stores would otherwise archive every contact); so
does one whose ids did not all arrive (`count` of the completion record).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from destination_crmone.commerce.mapping import payment_update
from destination_crmone.crmone.client import CrmOneError
from destination_crmone.deletions import remove_contact
from destination_crmone.delivery.context import Pending, stop_unless_record_level
from destination_crmone.delivery.sender import Sender

MARKER = "_ab_snapshot"
SNAPSHOT_STREAMS = ("customer_ids", "order_ids", "cart_ids")
DELETED_ORDER_STATE = "Deleted"


@dataclass(frozen=True)
class Snapshot:
    """A completion record: the snapshot it closes is whole."""

    started_at: str
    safe_before: str
    count: int
    stores: tuple[str, ...] | None


def snapshot_marker(record: Mapping[str, Any]) -> Snapshot | None:
    """The completion record's content; None for an id record or anything malformed."""
    body = record.get(MARKER)
    if not isinstance(body, Mapping) or body.get("complete") is not True:
        return None
    started, safe, count = body.get("started_at"), body.get("safe_before"), body.get("count")
    if not isinstance(started, str) or not isinstance(safe, str) or type(count) is not int:
        return None
    stores = body.get("stores")
    return Snapshot(started, safe, count, tuple(stores) if isinstance(stores, list) else None)


class SnapshotSender(Sender):
    """One id stream: ids into the journal, and on completion the reconciliation."""

    def __init__(self, stream: str, ctx: Any) -> None:
        super().__init__(stream, ctx)
        self.kind = next(  # the stream without a connection's prefix
            (kind for kind in SNAPSHOT_STREAMS if stream == kind or stream.endswith(f"_{kind}")),
            stream,
        )
        self.received = 0
        self.started = False

    def key(self, item: Pending) -> str:
        return self.stream  # one batch at a time, in order: the completion record comes last

    def send(self, items: list[Pending]) -> None:
        ctx = self.ctx
        ids = [item.record["id"] for item in items if isinstance(item.record.get("id"), str)]
        if not self.started:
            ctx.journal.start_snapshot(self.stream, ctx.run_id)
            self.started = True
        if ids:
            ctx.journal.add_snapshot_ids(self.stream, ctx.run_id, ids)
            self.received += len(ids)
            ctx.stats.add(self.stream, "snapshot_ids", len(ids))
        for item in items:
            snapshot = snapshot_marker(item.record)
            if snapshot is not None:
                self.complete(snapshot)
            elif not isinstance(item.record.get("id"), str):
                ctx.stats.add(self.stream, "not_snapshot_records")
            self.done(item)

    # --- completion ------------------------------------------------------------------

    def complete(self, snapshot: Snapshot) -> None:
        ctx = self.ctx
        received, self.received = self.received, 0
        if received != snapshot.count:
            ctx.stats.warn(
                self.stream,
                "snapshot_incomplete",
                f"{received} ids arrived of the {snapshot.count} the source sent: nothing done",
            )
            return self.finish()
        ctx.stats.add(self.stream, "snapshots_complete")
        if self.kind == "customer_ids":
            self.customers(snapshot)
        elif self.kind == "order_ids":
            self.orders(snapshot)
        elif self.kind == "cart_ids":
            self.carts(snapshot)
        self.finish()

    def finish(self) -> None:
        self.ctx.journal.end_snapshot(self.stream, self.ctx.run_id)
        self.started = False

    def refused_empty(self, snapshot: Snapshot, absent: int) -> bool:
        if snapshot.count or not absent:
            return False
        self.ctx.stats.warn(
            self.stream,
            "snapshot_empty",
            f"an empty snapshot would remove all {absent} written: nothing done (check the "
            "source's scopes and store_keys)",
        )
        return True

    def customers(self, snapshot: Snapshot) -> None:
        ctx = self.ctx
        gone = ctx.journal.customers_absent(
            self.stream, ctx.run_id, snapshot.safe_before, limit=None
        )
        if self.refused_empty(snapshot, len(gone)):
            return
        action = ctx.config.deletions
        if action == "ignore":
            ctx.stats.add(self.stream, "reconciled_ignored", len(gone))
            return
        for customer_id, external_id in gone:
            try:
                outcome = remove_contact(ctx, customer_id, external_id, action)
            except CrmOneError as error:  # about this contact: tried again by the next snapshot
                ctx.stats.warn(self.stream, error.code, f"{action} {external_id}: {error}")
                continue
            ctx.stats.add(self.stream, f"reconciled_{outcome}")
            if not ctx.dry_run:
                ctx.journal.forget_written_customers([customer_id])

    def orders(self, snapshot: Snapshot) -> None:
        ctx = self.ctx
        gone = ctx.journal.orders_absent(self.stream, ctx.run_id, snapshot.safe_before, limit=None)
        if self.refused_empty(snapshot, len(gone)):
            return
        if ctx.config.writes_order_objects:
            for start in range(0, len(gone), ctx.batch_size):
                part = gone[start : start + ctx.batch_size]
                records = [
                    payment_update(order_id, key, {"order_state": DELETED_ORDER_STATE})
                    for order_id, key in part
                ]
                if ctx.dry_run:
                    detail = {"action": "mark orders deleted", "records": records}
                    ctx.journal.add_review(ctx.run_id, "dry_run", None, None, detail)
                    continue
                key = ctx.idempotency_key(self.stream, "objects", records)
                try:
                    ctx.client.upsert_objects("orders", records, idempotency_key=key)
                except CrmOneError as error:
                    stop_unless_record_level(error)
                    ctx.stats.warn(self.stream, error.code, f"orders marked deleted: {error}")
                    continue
                ctx.stats.add(self.stream, "reconciled_orders_marked_deleted", len(part))
        if not ctx.dry_run:
            ctx.journal.forget_orders(order_id for order_id, _ in gone)
        ctx.stats.add(self.stream, "reconciled_orders_gone", len(gone))

    def carts(self, snapshot: Snapshot) -> None:
        ctx = self.ctx
        gone = ctx.journal.open_carts_absent(
            self.stream, ctx.run_id, snapshot.safe_before, limit=None
        )
        if self.refused_empty(snapshot, len(gone)):
            return
        if not ctx.dry_run:
            ctx.journal.close_carts(row.cart_id for row in gone)
        ctx.stats.add(self.stream, "reconciled_carts_closed", len(gone))
