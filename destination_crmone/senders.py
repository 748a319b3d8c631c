"""Senders: one per stream, each turns a batch of records into CRM One calls and outcomes.

A sender gets a batch of `Pending` records from the writer (on a worker thread), asks
`planning` what to send, sends it, and settles every record exactly once:

- `done`: written (or nothing to do);
- `queue`: a record-level outcome a retry of the same bytes cannot fix (validation, CRM One's
  per-record errors, a whole batch refused with a 4xx): into the retry queue with its reason;
- `dropped_as_older`: a newer copy of the same record is in the same batch.

A transient failure (CRM One unreachable, 429/5xx past the retry budget, the journal
unwritable) is never queued: the sender raises `Transient` and leaves the rest of its batch
unsettled, so no STATE after those records is echoed. 401/403 raise too (the configuration is
wrong, not the record).

New streams plug in by adding a `Sender` subclass to `SENDERS`; the writer's core does not
change. Under `dry_run` nothing is written to CRM One and the retry queue is left alone: what
would change goes to the journal's review table (kind `dry_run`).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from destination_crmone.client import CrmOneClient, CrmOneError, batch_key
from destination_crmone.commerce_events import StoreDeparture
from destination_crmone.config import DestinationConfig
from destination_crmone.contact_hooks import leave_lists, plan_departures, remember_written
from destination_crmone.contact_removal import remove_contact
from destination_crmone.journal import Journal, keeps_payload
from destination_crmone.journal.redact import personal_values, scrub_text
from destination_crmone.mapping import map_message
from destination_crmone.planning import (
    ContactDraft,
    Failure,
    Pending,
    chunks,
    error_text,
    indexed,
    issue_summary,
    map_contact,
    map_contacts,
    map_orders,
    needs_current,
    owned_properties,
    upsert_properties,
)
from destination_crmone.stats import RunStats
from destination_crmone.validate import ContactSchema

logger = logging.getLogger("airbyte")

CONTACT_STATUSES = ("created", "updated", "unchanged")
CONSENT_STATUSES = ("applied", "stale", "unchanged")


class Transient(Exception):
    """A failure a later attempt may not meet: the sync stops here (TRACE transient_error)."""


class Fatal(Exception):
    """A failure no record can cause: CRM One refused the connector's credentials."""


@dataclass
class WriteContext:
    """One write run: its config, CRM One client, journal, contact schema, limits and stats."""

    config: DestinationConfig
    client: CrmOneClient
    journal: Journal
    schema: ContactSchema
    stats: RunStats
    run_id: str
    batch_size: int
    concurrency: int = 1
    dry_run: bool = False
    tenant: str = ""
    order_properties: frozenset[str] = frozenset()  # of the `orders` object type (objects)
    settle: Callable[[Pending, bool], None] = lambda item, rejected: None
    _sequence: Iterator[int] = field(default_factory=itertools.count)

    def idempotency_key(self, stream: str, kind: str, body: Any) -> str:
        """One key per batch: run id + stream + batch sequence + body. The client sends the
        same key on every retry of that batch."""
        return batch_key(self.run_id, stream, kind, next(self._sequence), body)


def stop_unless_record_level(error: CrmOneError) -> None:
    """Raise for failures that are not about the records of the call."""
    if error.transient:
        raise Transient(str(error)) from error
    if error.status in (401, 403):
        raise Fatal(str(error)) from error


class Sender:
    """One stream's calls; subclasses implement `send`.

    `follows`: streams whose buffered records are sent before a batch of this one (orders
    reference contacts, so their activities must not overtake them).
    """

    follows: tuple[str, ...] = ()

    def __init__(self, stream: str, ctx: WriteContext) -> None:
        self.stream = stream
        self.ctx = ctx
        ctx.stats.stream(stream)

    def key(self, item: Pending) -> str:
        """What two records must not be sent concurrently for (the same CRM One object)."""
        return item.key

    def prepare(self, item: Pending) -> int:
        """Work done when the record arrives (on the reading thread); the number of records
        it adds to its follow-up call (consents of a contact), so that a batch fills that call
        once rather than spilling a few records into a second one."""
        return 0

    def send(self, items: list[Pending]) -> None:
        raise NotImplementedError

    # --- outcomes ------------------------------------------------------------------------

    def queue(self, item: Pending, kind: str, code: str, reason: str) -> None:
        """Into the retry queue with its reason (`kind`: rejected, failed or partial)."""
        ctx = self.ctx
        reason = self.shown_reason(item, reason)
        if ctx.dry_run:
            detail = {"action": f"queue_{kind}", "code": code, "reason": reason}
            ctx.journal.add_review(ctx.run_id, "dry_run", item.key, None, detail)
        else:
            payload = item.record if keeps_payload(kind, code) else {}
            ctx.journal.enqueue(
                ctx.run_id, self.stream, item.key, item.version, payload, reason, code, kind
            )
        ctx.stats.reject(self.stream, kind, code, f"{item.key}: {reason}")
        ctx.settle(item, kind != "partial")

    def shown_reason(self, item: Pending, reason: str) -> str:
        """The reason as journalled: under `redact_pii`, without the record's own values (CRM
        One's per-record messages may quote one)."""
        if self.ctx.config.redact_pii:
            return scrub_text(reason, personal_values(item.record))
        return reason

    def done(self, item: Pending) -> None:
        """Written (or nothing to do): the queue item it came from is settled."""
        if item.queue_id is not None and not self.ctx.dry_run:
            self.ctx.journal.mark(item.queue_id, "sent")
        self.ctx.settle(item, False)

    def dropped_as_older(self, item: Pending) -> None:
        """A newer copy of the same record is in the same batch."""
        self.ctx.stats.add(self.stream, "deduplicated")
        if item.queue_id is not None and not self.ctx.dry_run:
            self.ctx.journal.mark(item.queue_id, "superseded")
            self.ctx.stats.add(self.stream, "superseded")
        self.ctx.settle(item, False)

    def send_batch(
        self,
        batch: list[tuple[dict[str, Any], Pending]],
        call: Callable[[list[dict[str, Any]]], Any],
        kind: str,
        statuses: tuple[str, ...],
        where: Callable[[dict[str, Any]], str],
        failures: dict[Pending, Failure],
    ) -> None:
        """One batch call of (record, source item) pairs: counts `<kind>_<status>` per result;
        a per-record error (or a refused call) becomes the failure of that record's item."""
        try:
            response = call([record for record, _ in batch])
        except CrmOneError as error:
            stop_unless_record_level(error)
            for _, item in batch:
                failures.setdefault(item, ("failed", error.code, f"{kind}: {error}"))
            return
        for result in response.get("results") or []:
            status = result.get("status")
            if status in statuses:
                self.ctx.stats.add(self.stream, f"{kind}_{status}")
        for index, error in indexed(response.get("errors"), len(batch)):
            record, item = batch[index]
            code, reason = error_text(error)
            failures.setdefault(item, ("rejected", code, f"{where(record)}: {reason}"))

    def refused(self, items: list[Pending], error: CrmOneError, what: str) -> None:
        """A whole call refused: stop on transient failures, else queue its records."""
        stop_unless_record_level(error)
        for item in items:
            self.queue(item, "failed", error.code, f"{what}: {error}")


class IgnoredSender(Sender):
    """A stream the destination has no use for: acknowledged and counted."""

    def send(self, items: list[Pending]) -> None:
        self.ctx.stats.add(self.stream, "ignored", len(items))
        for item in items:
            self.done(item)


# --- customers → contacts, consents, list memberships ----------------------------------------


class ContactSender(Sender):
    """customers → contacts (ownership-merged), then their consents and list memberships.

    Requests per batch with the default config: one upsert and one consents call for the
    contacts whose digest changed; none at all when nothing changed since the last run.
    """

    def key(self, item: Pending) -> str:
        return item.key  # the customer id; the external_id derives from it

    def prepare(self, item: Pending) -> int:
        """Map and validate now: a batch is full at `batch_size` contacts or consents."""
        ctx = self.ctx
        item.prepared = map_contact(item, ctx.config, ctx.schema, ctx.tenant)
        if isinstance(item.prepared, ContactDraft):
            return len(item.prepared.mapped.consents)
        return 0

    def send(self, items: list[Pending]) -> None:
        ctx = self.ctx
        plan = map_contacts(items, ctx.config, ctx.schema, ctx.tenant)
        for item, code, reason in plan.rejected:
            self.queue(item, "rejected", code, reason)
        for item in plan.dropped:
            self.dropped_as_older(item)
        drafts = plan.drafts
        if ctx.config.identity.source_field != "id":
            ctx.journal.remember_identities(
                {
                    d.mapped.source_id: d.external_id
                    for d in drafts
                    if d.mapped.source_id and d.external_id
                }
            )
        # leaving a routed store clears its properties: sent with the (changed) stores, while
        # the digest stays that of the mapping, so the next run finds nothing to send
        departures = plan_departures(ctx, [(d.mapped, d.item.record) for d in drafts])
        if not ctx.dry_run:
            known = ctx.journal.digests(d.external_id for d in drafts)
            unchanged = [d for d in drafts if known.get(d.external_id) == d.digest]
            remember_written(ctx, [(d.mapped, d.item.record) for d in unchanged])
            for draft in unchanged:
                ctx.stats.add(self.stream, "contacts_skipped")
                ctx.stats.add(self.stream, "consents_skipped", len(draft.mapped.consents))
                self._settle_written(draft, None)
            drafts = [d for d in drafts if known.get(d.external_id) != d.digest]
        if drafts:
            self._write(drafts, departures)

    def _write(self, drafts: list[ContactDraft], departures: dict[str, StoreDeparture]) -> None:
        ctx = self.ctx
        owners = owned_properties(ctx.config)
        to_read = drafts if ctx.dry_run else [d for d in drafts if needs_current(d.mapped, owners)]
        try:
            current, read = self._read(to_read, None if ctx.dry_run else sorted(owners))
        except CrmOneError as error:  # the read was refused for good: so are its records
            self.refused([draft.item for draft in to_read], error, "reading current values")
            drafts = [draft for draft in drafts if draft not in to_read]
            current, read, to_read = {}, frozenset(), []
        written: list[ContactDraft] = []
        upserts: list[tuple[ContactDraft, dict[str, Any]]] = []
        for draft in drafts:
            names = read if draft in to_read else None
            existing = current.get(draft.external_id) if names is not None else None
            properties = upsert_properties(draft.mapped, owners, existing, names)
            if not properties and existing is not None:
                ctx.stats.add(self.stream, "contacts_skipped")
                written.append(draft)
            else:
                upserts.append((draft, draft.mapped.upsert_record(properties)))
        if ctx.dry_run:
            self._journal_dry_run(upserts, current)
            for draft, _ in upserts:
                self._settle_written(draft, None)
            for draft in written:
                self._settle_written(draft, None)
            return
        if upserts:
            written += self._upsert(upserts)
        failures: dict[Pending, Failure] = {}
        self._send_consents(written, failures)
        self._add_list_members(written, failures)
        left = leave_lists(ctx, self.stream, departures, {d.external_id for d in written})
        for draft in written:
            if draft.external_id in left:
                failures.setdefault(draft.item, left[draft.external_id])
        # the journal learns the contacts' stores (and wakes what waited for them) before
        # their records are settled, so no STATE is released ahead of that memory
        kept = [(d.mapped, d.item.record) for d in written if d.item not in failures]
        remember_written(ctx, kept)
        remembered: dict[str, str] = {}
        for draft in written:
            self._settle_written(draft, failures.get(draft.item), remembered)
        ctx.journal.remember_digests(remembered)

    def _read(
        self, drafts: list[ContactDraft], properties: list[str] | None
    ) -> tuple[dict[str, dict[str, Any]], frozenset[str]]:
        """Current values (and `property_meta`) of the named properties, by external_id."""
        if not drafts:
            return {}, frozenset()
        reply = self.ctx.client.read_contacts(
            [d.external_id for d in drafts], properties=properties
        )
        found = {c.get("external_id"): c for c in reply.get("results") or []}
        names = frozenset(
            properties if properties is not None else drafts[0].mapped.properties.keys()
        )
        return found, names

    def _journal_dry_run(
        self, upserts: list[tuple[ContactDraft, dict[str, Any]]], current: dict[str, Any]
    ) -> None:
        ctx = self.ctx
        for draft, body in upserts:
            new = draft.external_id not in current
            detail = {
                "action": "create" if new else "update",
                "record": body,
                "consents": [c.to_api() for c in draft.mapped.consents],
                "list_ids": draft.mapped.list_ids,
            }
            ctx.journal.add_review(ctx.run_id, "dry_run", draft.external_id, None, detail)
            ctx.stats.add(self.stream, "dry_run_would_create" if new else "dry_run_would_update")

    def _upsert(self, upserts: list[tuple[ContactDraft, dict[str, Any]]]) -> list[ContactDraft]:
        """Upsert by external_id; per-record errors are final for that record."""
        ctx = self.ctx
        records = [body for _, body in upserts]
        try:
            response = ctx.client.upsert_contacts(
                records,
                id_property="external_id",
                idempotency_key=ctx.idempotency_key(self.stream, "contacts", records),
            )
        except CrmOneError as error:
            self.refused([draft.item for draft, _ in upserts], error, "contacts")
            return []
        written: list[ContactDraft] = []
        conflicts: list[tuple[ContactDraft, Mapping[str, Any]]] = []
        answered: set[int] = set()
        for index, result in indexed(response.get("results"), len(upserts)):
            if index in answered:
                continue
            answered.add(index)
            status = result.get("status")
            key = f"contacts_{status}" if status in CONTACT_STATUSES else "contacts_updated"
            ctx.stats.add(self.stream, key)
            written.append(upserts[index][0])
        for index, error in indexed(response.get("errors"), len(upserts)):
            if index in answered:
                continue
            answered.add(index)
            draft = upserts[index][0]
            if error.get("code") == "email_conflict" and draft.mapped.email:
                conflicts.append((draft, error))
            else:
                self.queue(draft.item, "rejected", *error_text(error))
        for index, (draft, _) in enumerate(upserts):
            if index not in answered:
                reason = "CRM One's response names neither a result nor an error for this record"
                self.queue(draft.item, "failed", "no_result", reason)
        if conflicts:
            written += self._attach_by_email(conflicts)
        return written

    def _attach_by_email(
        self, conflicts: list[tuple[ContactDraft, Mapping[str, Any]]]
    ) -> list[ContactDraft]:
        """Upserted by external_id, these met `email_conflict`: their email belongs to another
        contact. One upsert by email with our external_id attaches it to a contact that has
        none; a contact with another external_id answers `email_conflict` again and is never
        merged: it goes to review. CRM One's per-record errors decide; nothing is read."""
        ctx = self.ctx
        owners = owned_properties(ctx.config)
        records = []
        for draft, _ in conflicts:
            record = draft.mapped.upsert_record(upsert_properties(draft.mapped, owners, None, None))
            record["properties"]["email"] = draft.mapped.email
            records.append(record)
        try:
            response = ctx.client.upsert_contacts(
                records,
                id_property="email",
                idempotency_key=ctx.idempotency_key(self.stream, "attach", records),
            )
        except CrmOneError as error:
            self.refused([draft.item for draft, _ in conflicts], error, "attach by email")
            return []
        attached: list[ContactDraft] = []
        answered: set[int] = set()
        for index, _ in indexed(response.get("results"), len(conflicts)):
            if index not in answered:
                answered.add(index)
                ctx.stats.add(self.stream, "contacts_attached")
                attached.append(conflicts[index][0])
        for index, error in indexed(response.get("errors"), len(conflicts)):
            if index in answered:
                continue
            answered.add(index)
            draft, first = conflicts[index]
            if error.get("code") == "email_conflict":
                self._review_conflict(draft, error.get("existing_id") or first.get("existing_id"))
            else:
                code, reason = error_text(error)
                self.queue(draft.item, "rejected", code, f"attach by email: {reason}")
        for index, (draft, first) in enumerate(conflicts):
            if index not in answered:
                self._review_conflict(draft, first.get("existing_id"))
        return attached

    def _review_conflict(self, draft: ContactDraft, other_id: Any) -> None:
        ctx = self.ctx
        if draft.item.queue_id is None:  # reviewed once, not again on every retry
            detail = {"email": draft.mapped.email, "existing_id": other_id}
            ctx.journal.add_review(
                ctx.run_id, "email_conflict", draft.external_id, other_id, detail
            )
        reason = (
            f"email_conflict: the email belongs to contact {other_id}, which has another "
            "external_id; not merged, needs review"
        )
        self.queue(draft.item, "rejected", "email_conflict", reason)

    def _send_consents(self, written: list[ContactDraft], failures: dict[Pending, Failure]) -> None:
        """Consents of contacts that exist now; a refused consent queues the customer record."""
        ctx = self.ctx
        consents = [(c.to_api(), d.item) for d in written for c in d.mapped.consents]
        for batch in chunks(consents, ctx.batch_size):
            self.send_batch(
                batch,
                lambda records: ctx.client.upsert_consents(
                    records, idempotency_key=ctx.idempotency_key(self.stream, "consents", records)
                ),
                "consents",
                CONSENT_STATUSES,
                lambda record: f"consent {record['channel']}/{record['purpose']}",
                failures,
            )

    def _add_list_members(
        self, written: list[ContactDraft], failures: dict[Pending, Failure]
    ) -> None:
        """Store routing: contacts join their stores' lists (adding twice is a no-op)."""
        ctx = self.ctx
        members: dict[str, dict[str, Pending]] = {}
        for draft in written:
            for list_id in draft.mapped.list_ids:
                members.setdefault(list_id, {})[draft.external_id] = draft.item
        for list_id, by_external in members.items():
            for external_ids in chunks(list(by_external), ctx.batch_size):
                try:
                    response = ctx.client.list_members(
                        list_id,
                        external_ids,
                        idempotency_key=ctx.idempotency_key(self.stream, "members", external_ids),
                    )
                except CrmOneError as error:
                    stop_unless_record_level(error)
                    for external_id in external_ids:
                        reason = f"list {list_id}: {error}"
                        failures.setdefault(
                            by_external[external_id], ("failed", error.code, reason)
                        )
                    continue
                ctx.stats.add(self.stream, "list_members_added", int(response.get("added") or 0))
                for error in response.get("errors") or []:
                    item = by_external.get(str(error.get("external_id")))
                    if item is not None:
                        code, reason = error_text(error)
                        failures.setdefault(item, ("rejected", code, f"list {list_id}: {reason}"))

    def _settle_written(
        self,
        draft: ContactDraft,
        failure: Failure | None,
        remembered: dict[str, str] | None = None,
    ) -> None:
        if failure is not None:
            self.queue(draft.item, *failure)
        elif draft.mapped.warnings:  # written without its invalid optional values
            self.queue(draft.item, "partial", *issue_summary(draft.mapped.warnings))
        else:
            if remembered is not None:
                remembered[draft.external_id] = draft.digest
            self.done(draft.item)


# --- orders → activities and/or `orders` objects ---------------------------------------------


class OrderSender(Sender):
    """orders → `order_placed`/`order_cancelled` activities and/or `orders` objects."""

    follows = ("customers",)

    def send(self, items: list[Pending]) -> None:
        ctx = self.ctx
        plan = map_orders(items, ctx.config, ctx.journal.identity)
        for item in plan.dropped:
            self.dropped_as_older(item)
        for item, code, reason in plan.rejected:
            self.queue(item, "rejected", code, reason)
        for item, issue in plan.warnings:
            ctx.stats.warn(self.stream, issue.code, f"{item.key}: {issue.reason}")
        for item, reason in plan.skipped:
            ctx.stats.add(self.stream, "orders_skipped")
            ctx.stats.warn(self.stream, "skipped", f"{item.key}: {reason}")
            self.done(item)
        failures: dict[Pending, Failure] = {}
        for kind, records in plan.sends.items():
            for batch in chunks(records, ctx.batch_size):
                self._send(kind, batch, failures)
        for item in plan.planned:
            if item in failures:
                self.queue(item, *failures[item])
            else:
                self.done(item)

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
            batch, call, kind, CONTACT_STATUSES, lambda record: record["external_id"], failures
        )


# --- messages → deletions ---------------------------------------------------------------------


class DeletionSender(Sender):
    """`CustomerDeleted` messages: archive, erase or ignore the contact, per `deletions`."""

    follows = ("customers",)

    def send(self, items: list[Pending]) -> None:
        for item in items:
            self._delete(item)

    def _delete(self, item: Pending) -> None:
        ctx = self.ctx
        deletion = map_message(item.record, ctx.config)
        if deletion is None:
            ctx.stats.add(self.stream, "not_deletions")
            return self.done(item)
        if deletion.rejected:
            return self.queue(item, "rejected", *issue_summary(list(deletion.issues)))
        if deletion.action == "ignore":
            ctx.stats.add(self.stream, "deletions_ignored")
            return self.done(item)
        external_id = deletion.external_id or ctx.journal.identity(deletion.customer_id)
        try:
            outcome = remove_contact(ctx, deletion.customer_id, external_id, deletion.action)
        except CrmOneError as error:  # about this contact: it stays, and so does the message
            return self.queue(item, "failed", error.code, f"{deletion.action}: {error}")
        name = outcome if outcome.startswith("dry_run") else f"deletions_{outcome}"
        ctx.stats.add(self.stream, name)
        return self.done(item)


# Stream name (without a connection's prefix) → its sender. New streams plug in here.
SENDERS: dict[str, type[Sender]] = {
    "customers": ContactSender,
    "orders": OrderSender,
    "messages": DeletionSender,
}
