"""The writing side of commerce events: carts, orders with their lifecycle, guest contacts,
order history, abandoned carts at the end of a run, and the retry queue's dependencies.

What to send is decided by `commerce_events` (pure); this module sends it, settles every
record once (written, skipped with a reason, or queued), and keeps the journal's memory of
carts, orders and routed stores. A record refused with `contact_not_found` is queued
*waiting for* that contact (`ext:<external_id>` or `email:<email>`): it is re-sent when the
contact is written, in this run or a later one, and not blindly on every run.

Payments (`PaymentSender`, only when `orders_as` includes objects) set `payment_state` (and
`payment_method` when the tenant's `orders` type has it) on the order objects that name them:
the journal keeps each payment's fact and each written order's payments, so whichever of the
two arrives first, the order object ends with its payments' state.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

from destination_crmone import segments
from destination_crmone.commerce.mapping import (
    PAYMENT_METHOD_NOTICE,
    PAYMENT_METHOD_PROPERTY,
    MappedCart,
    abandoned_activity,
    abandoned_since,
    cart_transition,
    guest_contact,
    guest_email,
    map_cart,
    map_order_events,
    map_payment,
    order_cart_id,
    order_fact,
    order_history_properties,
    order_payment_ids,
    order_payment_properties,
    order_recovery,
    payment_update,
)
from destination_crmone.contacts.merge import decide, ownership_map
from destination_crmone.contacts.stores import wake
from destination_crmone.crmone.client import CrmOneError
from destination_crmone.crmone.replies import error_text, read_reply
from destination_crmone.crmone.validate import issue_summary
from destination_crmone.delivery.context import (
    Failure,
    Pending,
    WriteContext,
    chunks,
    newest_only,
    stop_unless_record_level,
)
from destination_crmone.delivery.sender import UPSERT_STATUSES, Sender
from destination_crmone.journal.commerce import CartRow, OrderFact, OrderPayments, PaymentFact
from destination_crmone.lifecycle import (
    LIFECYCLE_PROPERTY,
    history_sets_lifecycle,
    lifecycle_stage,
)
from destination_crmone.records import (
    MappedContact,
    MappedOrder,
    contact_key,
    customers_external_id,
)
from destination_crmone.versions import is_newer

logger = logging.getLogger("airbyte")

HISTORY_PROPERTIES = ("order_count", "last_order_at", "total_spent", LIFECYCLE_PROPERTY)
ONCE_TYPES = ("order_updated", "order_returned", "order_cancelled")  # written once, not moved
WAITING_CODE = "contact_not_found"


@dataclass
class Planned:
    """One record's sends and what the journal learns once they are written."""

    item: Pending
    mapped: MappedOrder
    activities: list[dict[str, Any]] = field(default_factory=list)
    object: dict[str, Any] | None = None
    carts: list[CartRow] = field(default_factory=list)
    fact: OrderFact | None = None
    payments: OrderPayments | None = None  # the payments a written order object names

    @property
    def contact_key(self) -> str | None:
        return self.mapped.contact_key


class OrderCalls(Sender):
    """Activities and `orders` objects, upserted in batches (carts, orders, payments)."""

    def _send(
        self,
        kind: str,
        batch: list[tuple[dict[str, Any], Pending]],
        failures: dict[Pending, Failure],
    ) -> None:
        ctx = self.ctx
        records = [record for record, _ in batch]
        if ctx.dry_run:
            detail = {"action": f"send {kind}", "records": records}
            ctx.journal.add_review(ctx.run_id, "dry_run", None, None, detail)
            ctx.stats.add(self.stream, f"dry_run_would_send_{kind}", len(records))
            return
        key = ctx.idempotency_key(self.stream, kind, records)
        if kind == "activities":
            call = partial(ctx.client.upsert_activities, idempotency_key=key)
        else:
            call = partial(ctx.client.upsert_objects, "orders", idempotency_key=key)
        self.send_batch(
            batch, call, kind, UPSERT_STATUSES, lambda record: record["external_id"], failures
        )


class CommerceSender(OrderCalls):
    """What carts and orders share: guest contacts, sending, settling, waiting for contacts."""

    noun = "records"

    def recall(self, items: list[Pending]) -> Any:
        """What the journal knows of these records, for `plan` (one read per batch)."""
        return None

    def plan(self, item: Pending, known: Any) -> Planned | None:
        raise NotImplementedError

    def send(self, items: list[Pending]) -> None:
        ctx = self.ctx
        kept, dropped = newest_only(items, key=lambda i: i.key, version=lambda i: i.version)
        for item in dropped:
            self.dropped_as_older(item)
        kept = self.in_scope(kept)
        known = self.recall(kept)
        plans: list[Planned] = []
        for item in kept:
            planned = self.plan(item, known)
            if planned is not None:
                plans.append(planned)
        guests = self._guest_contacts(plans)
        self._recover_carts(plans)
        sends: dict[str, list[tuple[dict[str, Any], Pending]]] = {"activities": [], "objects": []}
        for planned in plans:
            if planned.item in guests:  # its contact could not be created
                continue
            sends["activities"] += [(a, planned.item) for a in planned.activities]
            if planned.object is not None:
                sends["objects"].append((planned.object, planned.item))
        failures: dict[Pending, Failure] = dict(guests)
        for kind, records in sends.items():
            for batch in chunks(records, ctx.batch_size):
                self._send(kind, batch, failures)
        written = [p for p in plans if p.item not in failures]
        if not ctx.dry_run:  # before settling: no STATE is released ahead of this memory
            self.remember(written)
        for planned in plans:
            failure = failures.get(planned.item)
            if failure is None:
                self.done(planned.item)
            elif failure[1] == WAITING_CODE and planned.contact_key and not ctx.dry_run:
                self.wait_for(planned.item, planned.contact_key, failure)
            else:
                self.queue(planned.item, *failure)

    def in_scope(self, items: list[Pending]) -> list[Pending]:
        """The records the filters take (they follow their customer, `segments`); the others
        are counted as `filtered` and settled."""
        ctx = self.ctx
        config = ctx.config
        if not config.filters:
            return items
        keys: dict[Pending, str] = {}
        for item in items:
            customer_id = item.record.get("customerId")
            if isinstance(customer_id, str) and customer_id:
                external_id = customers_external_id(customer_id, config, ctx.journal.identity)
                keys[item] = contact_key(external_id) or ""
        known = ctx.journal.memberships(key for key in keys.values() if key)
        taken = []
        for item in items:
            customer = segments.remembered(known.get(keys.get(item, "")), config)
            if segments.order_in_scope(config, item.record, customer):
                taken.append(item)
            else:
                ctx.stats.add(self.stream, "filtered")
                self.done(item)
        return taken

    # --- planning helpers ----------------------------------------------------------------

    def settle_mapping(self, item: Pending, mapped: MappedOrder) -> bool:
        """Queue a rejected record, count a skipped one; True when it has sends."""
        ctx = self.ctx
        if mapped.rejected:
            errors = [i for i in mapped.issues if i.severity == "error"]
            self.queue(item, "rejected", *issue_summary(errors))
            return False
        for issue in mapped.issues:
            ctx.stats.warn(self.stream, issue.code, f"{item.key}: {issue.reason}")
        if mapped.skipped:
            ctx.stats.add(self.stream, f"{self.noun}_skipped")
            ctx.stats.warn(self.stream, "skipped", f"{item.key}: {mapped.skipped_reason}")
            return False
        return True

    # --- guest contacts ------------------------------------------------------------------

    def _guest_contacts(self, plans: list[Planned]) -> dict[Pending, Failure]:
        """Create by email the contacts of guest buyers no contact has yet (`guest_orders:
        create_contact`); a record whose contact cannot be created fails with the reason."""
        ctx = self.ctx
        if ctx.config.guest_orders != "create_contact":
            return {}
        drafts: dict[str, tuple[MappedContact, list[Pending]]] = {}
        for planned in plans:
            email = guest_email(planned.item.record, planned.mapped)
            if email is None:
                continue
            if email not in drafts:
                contact = guest_contact(planned.item.record, email, ctx.schema, ctx.config)
                drafts[email] = (contact, [])
            drafts[email][1].append(planned.item)
        failures: dict[Pending, Failure] = {}
        for emails in chunks(list(drafts), ctx.batch_size):
            for email, failure in self._create_guests(emails, drafts).items():
                for item in drafts[email][1]:
                    failures[item] = failure
        return failures

    def _create_guests(
        self, emails: list[str], drafts: Mapping[str, tuple[MappedContact, list[Pending]]]
    ) -> dict[str, Failure]:
        ctx = self.ctx
        try:
            found = ctx.client.read_contacts(emails, id_property="email", properties=["email"])
        except CrmOneError as error:
            stop_unless_record_level(error)
            return dict.fromkeys(emails, ("failed", error.code, f"guest contacts: {error}"))
        known = {
            str((c.get("properties") or {}).get("email") or "").lower()
            for c in found.get("results") or []
        }
        missing = [email for email in emails if email not in known]
        ctx.stats.add(self.stream, "guest_contacts_existing", len(emails) - len(missing))
        if not missing:
            return {}
        records = [drafts[email][0].upsert_record() for email in missing]
        for record in records:
            record.pop("external_id", None)
        if ctx.dry_run:
            for record in records:
                detail = {"action": "create guest contact", "record": record}
                ctx.journal.add_review(ctx.run_id, "dry_run", None, None, detail)
            ctx.stats.add(self.stream, "dry_run_would_create_guest_contacts", len(records))
            return {}
        try:
            response = ctx.client.upsert_contacts(
                records,
                id_property="email",
                idempotency_key=ctx.idempotency_key(self.stream, "guests", records),
            )
        except CrmOneError as error:
            stop_unless_record_level(error)
            return dict.fromkeys(missing, ("failed", error.code, f"guest contact: {error}"))
        failures: dict[str, Failure] = {}
        for index, error in read_reply(response, len(missing)).errors:
            code, reason = error_text(error)
            failures[missing[index]] = ("rejected", code, f"guest contact: {reason}")
        created = [email for email in missing if email not in failures]
        ctx.stats.add(self.stream, "guest_contacts_created", len(created))
        wake(ctx, [contact_key(email=email) or "" for email in created])
        return failures

    # --- carts recovered by orders -------------------------------------------------------

    def _recover_carts(self, plans: list[Planned]) -> None:
        """Hook: orders flag the abandoned carts they were placed from."""

    # --- outcomes ------------------------------------------------------------------------

    def wait_for(self, item: Pending, key: str, failure: Failure) -> None:
        """Queued until its contact is written (`journal.wake`), not re-sent every run."""
        ctx = self.ctx
        _, code, reason = failure
        reason = self.shown_reason(item, reason)
        ctx.journal.enqueue(
            ctx.run_id,
            self.stream,
            item.key,
            item.version,
            item.record,
            reason,
            code,
            "rejected",
            waiting_for=key,
        )
        ctx.stats.reject(self.stream, "rejected", code, f"{item.key}: {reason}")
        ctx.stats.add(self.stream, "waiting_for_contact")
        ctx.settle(item, True)

    def remember(self, written: list[Planned]) -> None:
        """Hook: what the journal keeps of written records."""


# --- carts ---------------------------------------------------------------------------------


class CartSender(CommerceSender):
    """carts → `checkout_started`, and the open carts the end of a run may find abandoned."""

    noun = "carts"

    def send(self, items: list[Pending]) -> None:
        if self.ctx.config.carts_as == "ignore":
            self.ctx.stats.add(self.stream, "ignored", len(items))
            for item in items:
                self.done(item)
            return
        super().send(items)

    def recall(self, items: list[Pending]) -> dict[str, CartRow]:
        return self.ctx.journal.carts(item.key for item in items)

    def plan(self, item: Pending, known: dict[str, CartRow]) -> Planned | None:
        mapped = map_cart(item.record, self.ctx.config, self.ctx.journal.identity)
        if not self.settle_mapping(item, mapped):
            if not mapped.rejected:
                self._close(mapped, known.get(item.key))
                self.done(item)
            return None
        planned = Planned(item, mapped, [a.to_api() for a in mapped.activities])
        row, recovery = cart_transition(known.get(item.key), mapped)
        if row is not None:
            planned.carts.append(row)
        if recovery is not None:
            planned.activities.append(recovery.to_api())
            self.ctx.stats.add(self.stream, "carts_recovered")
        return planned

    def _close(self, mapped: MappedCart, remembered: CartRow | None) -> None:
        """A skipped cart (emptied, a guest under `skip`) is no longer open."""
        if self.ctx.dry_run or mapped.source_id is None:
            return
        row, _ = cart_transition(remembered, mapped)
        if row is not None:
            self.ctx.journal.save_carts([row])

    def remember(self, written: list[Planned]) -> None:
        rows = [row for planned in written for row in planned.carts]
        self.ctx.stats.add(self.stream, "carts_open", sum(r.state == "open" for r in rows))
        self.ctx.journal.save_carts(rows)


# --- orders --------------------------------------------------------------------------------


class CommerceOrderSender(CommerceSender):
    """orders → activities (placed, cancelled, lifecycle, returns) and/or `orders` objects;
    guest buyers become contacts; abandoned carts they came from are flagged recovered; the
    contact's order history follows what was written."""

    noun = "orders"

    def __init__(self, stream: str, ctx: WriteContext) -> None:
        super().__init__(stream, ctx)
        # batches run concurrently: one at a time records orders and sends the history they
        # give, so a contact's history is never overwritten by an older count
        self._history = threading.Lock()

    def recall(self, items: list[Pending]) -> tuple[set[str], dict[str, PaymentFact]]:
        """Lifecycle events written, and (objects) the known payments the orders name."""
        journal = self.ctx.journal
        events = journal.written_events(item.key for item in items)
        if not self.ctx.config.writes_order_objects:
            return events, {}
        named = (pid for item in items for pid in order_payment_ids(item.record))
        return events, journal.payment_facts(named)

    def plan(self, item: Pending, known: tuple[set[str], dict[str, PaymentFact]]) -> Planned | None:
        events, payments = known
        mapped = map_order_events(item.record, self.ctx.config, self.ctx.journal.identity)
        if not self.settle_mapping(item, mapped):
            if not mapped.rejected:
                self.done(item)
            return None
        # a state reached, a return or a cancellation is written once, when first seen
        activities = [
            a for a in mapped.activities if a.type not in ONCE_TYPES or a.external_id not in events
        ]
        planned = Planned(item, mapped, [a.to_api() for a in activities])
        if mapped.object is not None:
            planned.object = mapped.object.to_api()
            # its payments' state and method replace the order's own paymentState
            ids = order_payment_ids(item.record)
            with_method = PAYMENT_METHOD_PROPERTY in self.ctx.order_properties
            facts = [payments[pid] for pid in ids if pid in payments]
            planned.object["properties"].update(order_payment_properties(facts, with_method))
            planned.payments = OrderPayments(mapped.source_id or item.key, planned.contact_key, ids)
        planned.fact = order_fact(mapped, item.record)
        return planned

    def _recover_carts(self, plans: list[Planned]) -> None:
        by_cart = {
            cart_id: planned
            for planned in plans
            if (cart_id := order_cart_id(planned.item.record)) is not None
        }
        if not by_cart:
            return
        for cart_id, remembered in self.ctx.journal.carts(by_cart).items():
            planned = by_cart[cart_id]
            row, recovery = order_recovery(remembered, planned.mapped.source_id or "")
            if row is not None:
                planned.carts.append(row)
            if recovery is not None:
                planned.activities.append(recovery.to_api())
                self.ctx.stats.add(self.stream, "carts_recovered")

    def remember(self, written: list[Planned]) -> None:
        ctx = self.ctx
        ctx.journal.save_carts([row for planned in written for row in planned.carts])
        ctx.journal.link_payments(p.payments for p in written if p.payments is not None)
        ctx.journal.remember_events(
            (a["external_id"], planned.item.key, planned.contact_key)
            for planned in written
            for a in planned.activities
            if a["type"] in ONCE_TYPES
        )
        facts: dict[str, list[OrderFact]] = {}
        for planned in written:
            key = planned.contact_key
            if key is not None and planned.fact is not None:
                facts.setdefault(key, []).append(planned.fact)
        if not facts:
            return
        with self._history:
            before = ctx.journal.orders_of(facts)
            ctx.journal.record_orders(facts)
            after = ctx.journal.orders_of(facts)
            self._send_history([key for key in facts if before.get(key) != after.get(key)])

    def _send_history(self, keys: list[str]) -> None:
        """`order_count`, `last_order_at`, `total_spent` (and `lifecycle_stage`) of these
        contacts, from the journal's order facts, sent under the ownership rules (CRM One's
        values are read only when a history property is not owned by commercetools)."""
        ctx = self.ctx
        stage = history_sets_lifecycle(ctx.config, ctx.schema)
        history = {}
        for key, orders in ctx.journal.orders_of(keys).items():
            props = order_history_properties(orders)
            if props and all(name in ctx.schema for name in props):
                if stage:  # one order or more: customer or repeat_customer
                    props[LIFECYCLE_PROPERTY] = lifecycle_stage(props["order_count"], False)
                history[key] = props
        owners = {
            name: ownership_map(ctx.config).get(name, "commercetools")
            for name in HISTORY_PROPERTIES
        }
        owned = [name for name, owner in owners.items() if owner != "commercetools"]
        for id_property, prefix in (("external_id", "ext:"), ("email", "email:")):
            ids = [key.removeprefix(prefix) for key in history if key.startswith(prefix)]
            for part in chunks(ids, ctx.batch_size):
                records = self._history_records(id_property, prefix, part, history, owned)
                self._upsert_history(id_property, records)

    def _history_records(
        self,
        id_property: str,
        prefix: str,
        ids: list[str],
        history: Mapping[str, dict[str, Any]],
        owned: list[str],
    ) -> list[dict[str, Any]]:
        ctx = self.ctx
        current: dict[str, Any] = {}
        if owned:
            try:
                found = ctx.client.read_contacts(ids, id_property=id_property, properties=owned)
            except CrmOneError as error:
                stop_unless_record_level(error)
                ctx.stats.warn(self.stream, error.code, f"order history: {error}")
                return []
            for contact in found.get("results") or []:
                ident = contact.get(id_property) or (contact.get("properties") or {}).get("email")
                current[str(ident).lower() if id_property == "email" else str(ident)] = contact
        records = []
        owners = ownership_map(ctx.config)
        for ident in ids:
            properties = history[prefix + ident]
            existing = current.get(ident)
            if owned and existing is not None:
                properties = decide(properties, existing, owners, properties.get("last_order_at"))
            if not properties:
                continue
            record: dict[str, Any] = {"properties": dict(properties)}
            if id_property == "email":
                record["properties"]["email"] = ident
            else:
                record["external_id"] = ident
            records.append(record)
        return records

    def _upsert_history(self, id_property: str, records: list[dict[str, Any]]) -> None:
        ctx = self.ctx
        if not records:
            return
        if ctx.dry_run:
            ctx.stats.add(self.stream, "dry_run_would_update_order_history", len(records))
            return
        try:
            response = ctx.client.upsert_contacts(
                records,
                id_property=id_property,
                idempotency_key=ctx.idempotency_key(self.stream, "history", records),
            )
        except CrmOneError as error:
            stop_unless_record_level(error)
            ctx.stats.warn(self.stream, error.code, f"order history: {error}")
            return
        reply = read_reply(response, len(records))
        for status in reply.statuses:
            if status in UPSERT_STATUSES:
                ctx.stats.add(self.stream, f"order_history_{status}")
        for error in reply.every_error:
            code, reason = error_text(error)
            ctx.stats.warn(self.stream, code, f"order history: {reason}")


# --- payments ------------------------------------------------------------------------------


class PaymentSender(OrderCalls):
    """payments → `payment_state` (and `payment_method`) of the order objects naming them.

    Every payment's fact is remembered (a later order picks it up); the written orders naming
    a payment of the batch get one upsert each, of the payment properties only, computed from
    every payment the order names. One batch at a time: two payments of one order in two
    batches never race."""

    def __init__(self, stream: str, ctx: WriteContext) -> None:
        super().__init__(stream, ctx)
        self._one_at_a_time = threading.Lock()
        if PAYMENT_METHOD_PROPERTY not in ctx.order_properties:
            logger.warning(PAYMENT_METHOD_NOTICE)  # once per run, as `check` does

    def send(self, items: list[Pending]) -> None:
        kept, dropped = newest_only(items, key=lambda i: i.key, version=lambda i: i.version)
        for item in dropped:
            self.dropped_as_older(item)
        facts: dict[str, tuple[PaymentFact, Pending]] = {}
        for item in kept:
            fact = map_payment(item.record, item.version)
            if isinstance(fact, PaymentFact):
                facts[fact.payment_id] = (fact, item)
            else:
                self.queue(item, "rejected", fact.code, fact.reason)
        with self._one_at_a_time:
            failures = self._apply(facts)
        for _, item in facts.values():
            if item in failures:
                self.queue(item, *failures[item])
            else:
                self.done(item)

    def _apply(self, items: Mapping[str, tuple[PaymentFact, Pending]]) -> dict[Pending, Failure]:
        """Remember the facts (newer ones only), then update the order objects naming them."""
        ctx = self.ctx
        new = {pid: fact for pid, (fact, _) in items.items()}
        journal = ctx.journal
        remembered = journal.payment_facts(new)
        newer = [
            fact
            for pid, fact in new.items()
            if pid not in remembered or not is_newer(remembered[pid].version, fact.version)
        ]
        if not ctx.dry_run:
            journal.save_payment_facts(newer)
        orders = journal.orders_paid_by(new)
        known = journal.payment_facts(pid for order in orders for pid in order.payment_ids)
        if ctx.dry_run:
            known.update({fact.payment_id: fact for fact in newer})
        linked = {pid for order in orders for pid in order.payment_ids}
        ctx.stats.add(self.stream, "payments_without_order", len(set(new) - linked))
        with_method = PAYMENT_METHOD_PROPERTY in ctx.order_properties
        updates: list[tuple[dict[str, Any], Pending]] = []
        causes: dict[Pending, list[Pending]] = {}
        for order in orders:
            facts = [known[pid] for pid in order.payment_ids if pid in known]
            properties = order_payment_properties(facts, with_method)
            mine = [items[pid][1] for pid in order.payment_ids if pid in items]
            if not properties or not mine:
                continue
            updates.append((payment_update(order.order_id, order.contact_key, properties), mine[0]))
            causes[mine[0]] = mine
        failures: dict[Pending, Failure] = {}
        for batch in chunks(updates, ctx.batch_size):
            self._send("objects", batch, failures)
        for first, mine in causes.items():
            if first in failures:
                for item in mine:
                    failures.setdefault(item, failures[first])
        return failures


# --- the end of a run ----------------------------------------------------------------------


def write_abandoned_carts(ctx: WriteContext, now: datetime | None = None) -> None:
    """`cart_abandoned` for every open cart idle for `abandoned_after_hours` by the wall
    clock; each is then remembered as abandoned (written once). One CRM One refuses (its
    contact is gone) is closed with a warning; a call that fails leaves them open for the
    next run."""
    config = ctx.config
    if config.carts_as != "activities" or ctx.dry_run:
        return
    hours = config.abandoned_after_hours
    cutoff = abandoned_since(now or datetime.now(UTC), hours)
    while True:
        idle = ctx.journal.idle_carts(cutoff, limit=ctx.batch_size)
        if not idle:
            return
        activities = [abandoned_activity(r.activity, r.last_modified_at, hours) for r in idle]
        records = [activity.to_api() for activity in activities]
        try:
            response = ctx.client.upsert_activities(
                records, idempotency_key=ctx.idempotency_key("carts", "abandoned", records)
            )
        except CrmOneError as error:
            stop_unless_record_level(error)  # transient: the sync fails; the next run retries
            ctx.stats.warn("carts", error.code, f"cart_abandoned: {error}")
            return
        reply = read_reply(response, len(records))
        refused = {index: error_text(error) for index, error in reply.errors}
        rows = []
        for index, (row, record) in enumerate(zip(idle, records, strict=True)):
            if index in refused:
                code, reason = refused[index]
                ctx.stats.warn("carts", code, f"{row.cart_id}: cart_abandoned: {reason}")
                rows.append(
                    CartRow(row.cart_id, "closed", row.contact_key, row.last_modified_at, record)
                )
            else:
                rows.append(
                    CartRow(row.cart_id, "abandoned", row.contact_key, row.last_modified_at, record)
                )
        ctx.journal.save_carts(rows)
        ctx.stats.add("carts", "carts_abandoned", len(idle) - len(refused))
