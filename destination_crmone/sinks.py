"""Per-stream sinks (singer-sdk's shape): buffer records, and on drain send them to CRM One.

A sink holds up to `batch_size * concurrency` records; a drain sends them as batches of at most
`batch_size` (CRM One's `batch_max`), up to `concurrency` at a time. `SinkSet` drains every sink
in `DRAIN_ORDER` when one is full, on every STATE message and at the end of input: contacts
first (their consents and list memberships follow them), then orders (activities reference
contacts), then deletions.

Every record ends in exactly one of these places: written to CRM One, skipped with a counted
reason (nothing to change, a guest order under `guest_orders: skip`, …), or the journal's retry
queue with its reason and code (`Sink.queue`). Nothing is dropped silently. Under `dry_run`
nothing is written to CRM One and the retry queue is left alone: what would change, and what
would be queued, goes to the journal's review table (kind `dry_run`).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from destination_crmone.client import CrmOneClient, CrmOneError, batch_key
from destination_crmone.config import DestinationConfig
from destination_crmone.contact_hooks import leave_lists, plan_departures, remember_written
from destination_crmone.journal import Journal, QueueItem
from destination_crmone.mapping import MappedContact, map_customer, map_message, map_order
from destination_crmone.merge import decide, ownership_map
from destination_crmone.stats import RunStats
from destination_crmone.timefmt import try_normalize_rfc3339
from destination_crmone.validate import ContactSchema, Issue

logger = logging.getLogger("airbyte")

DRAIN_ORDER = ("customers", "carts", "orders", "messages")
CONTACT_STATUSES = ("created", "updated", "unchanged")
CONSENT_STATUSES = ("applied", "stale", "unchanged")


# --- what every sink shares ------------------------------------------------------------------


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
    _sequence: Iterator[int] = field(default_factory=itertools.count)

    def idempotency_key(self, stream: str, kind: str, body: Any) -> str:
        """One key per batch: run id + stream + batch sequence + body. The client sends the
        same key on every retry of that batch."""
        return batch_key(self.run_id, stream, kind, next(self._sequence), body)


def record_key(record: dict[str, Any]) -> str:
    """The retry queue's key of a record: its `id`, else a digest of the record itself (so
    records without an id never collapse into one queue item)."""
    record_id = record.get("id")
    if isinstance(record_id, str) and record_id:
        return record_id
    body = json.dumps(record, sort_keys=True, default=str, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(body.encode()).hexdigest()[:32]


def record_version(record: dict[str, Any]) -> str | None:
    """Orders versions of one record as text: `lastModifiedAt` (messages: `createdAt`), then
    the resource `version` zero-padded, so that string comparison is version order."""
    stamp = try_normalize_rfc3339(record.get("lastModifiedAt") or record.get("createdAt"))
    if stamp is None:
        return None
    version = record.get("version")
    if isinstance(version, int) and not isinstance(version, bool):
        return f"{stamp}#{version:012d}"
    return stamp


def chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def issue_summary(issues: list[Issue]) -> tuple[str, str]:
    """(code, reasons) of a record's issues: the first code, every reason."""
    return (issues[0].code if issues else "invalid"), "; ".join(i.reason for i in issues)


def error_text(error: dict[str, Any]) -> tuple[str, str]:
    """(code, reason) of one per-record error of a batch response."""
    code = str(error.get("code") or "error")
    where = f" ({error['field']})" if error.get("field") else ""
    return code, f"{code}{where}: {error.get('message') or error.get('detail') or ''}".strip()


@dataclass(eq=False)
class Pending:
    """A buffered record; `queue_id` is the retry-queue item it settles when written."""

    record: dict[str, Any]
    queue_id: int | None = None

    @property
    def key(self) -> str:
        return record_key(self.record)

    @property
    def version(self) -> str | None:
        return record_version(self.record)


Failure = tuple[str, str, str]  # kind, code, reason


class Sink:
    """One stream's buffer and the outcomes every sink records the same way."""

    def __init__(self, stream: str, ctx: WriteContext) -> None:
        self.stream = stream
        self.ctx = ctx
        self.buffer: list[Pending] = []
        ctx.stats.stream(stream)

    @property
    def capacity(self) -> int:
        return self.ctx.batch_size * max(1, self.ctx.concurrency)

    def add(self, record: dict[str, Any], queue_id: int | None = None, *, retry: bool = False):
        self.ctx.stats.add(self.stream, "retried_from_queue" if retry else "received")
        self.buffer.append(Pending(record, queue_id))

    @property
    def full(self) -> bool:
        return len(self.buffer) >= self.capacity

    def drain(self) -> None:
        items, self.buffer = self.buffer, []
        if items:
            self.write(items)

    def write(self, items: list[Pending]) -> None:
        raise NotImplementedError

    # --- outcomes ------------------------------------------------------------------------

    def queue(self, item: Pending, kind: str, code: str, reason: str) -> None:
        """Into the retry queue with its reason (`kind`: rejected, failed or partial)."""
        ctx = self.ctx
        if ctx.dry_run:
            detail = {"action": f"queue_{kind}", "code": code, "reason": reason}
            ctx.journal.add_review(ctx.run_id, "dry_run", item.key, None, detail)
        else:
            ctx.journal.enqueue(
                ctx.run_id, self.stream, item.key, item.version, item.record, reason, code, kind
            )
        ctx.stats.reject(self.stream, kind, code, f"{item.key}: {reason}")

    def done(self, item: Pending) -> None:
        """Written (or nothing to do): the queue item it came from is settled."""
        if item.queue_id is not None and not self.ctx.dry_run:
            self.ctx.journal.mark(item.queue_id, "sent")

    def dropped_as_older(self, item: Pending) -> None:
        """A newer copy of the same record is in the same drain."""
        self.ctx.stats.add(self.stream, "deduplicated")
        if item.queue_id is not None and not self.ctx.dry_run:
            self.ctx.journal.mark(item.queue_id, "superseded")
            self.ctx.stats.add(self.stream, "superseded")

    def concurrently(self, calls: list[Any]) -> None:
        self.ctx.client.run_concurrently(calls)


class IgnoredSink(Sink):
    """A stream the destination has no use for: acknowledged, counted, logged once."""

    def __init__(self, stream: str, ctx: WriteContext) -> None:
        super().__init__(stream, ctx)
        self._logged = False

    def add(self, record: dict[str, Any], queue_id: int | None = None, *, retry: bool = False):
        if not self._logged:
            self._logged = True
            logger.info(
                "Stream %r has no use in CRM One: its records are acknowledged and counted.",
                self.stream,
            )
        super().add(record, queue_id, retry=retry)

    def write(self, items: list[Pending]) -> None:
        self.ctx.stats.add(self.stream, "ignored", len(items))
        for item in items:
            self.done(item)


# --- customers → contacts, consents, list memberships ----------------------------------------


@dataclass(eq=False)
class ContactUpsert:
    mapped: MappedContact
    item: Pending
    body: dict[str, Any]
    new: bool


class ContactSink(Sink):
    """customers → contacts (ownership-merged), then their consents and list memberships."""

    def write(self, items: list[Pending]) -> None:
        candidates: list[tuple[MappedContact, Pending]] = []
        for item in items:
            mapped = map_customer(item.record, self.ctx.config, self.ctx.schema)
            if mapped.rejected:
                errors = [i for i in mapped.issues if i.severity == "error"]
                self.queue(item, "rejected", *issue_summary(errors))
            else:
                candidates.append((mapped, item))
        newest = self._newest(candidates)
        self._departures = plan_departures(self.ctx, [(m, i.record) for m, i in newest])
        if self.ctx.config.identity.source_field != "id":
            self.ctx.journal.remember_identities(
                {m.source_id: m.external_id for m, _ in newest if m.source_id and m.external_id}
            )
        self.concurrently(
            [partial(self._write_batch, batch) for batch in chunks(newest, self.ctx.batch_size)]
        )

    def _newest(
        self, candidates: list[tuple[MappedContact, Pending]]
    ) -> list[tuple[MappedContact, Pending]]:
        """One record per external_id: the newest `lastModifiedAt` (then `version`)."""
        newest: dict[str, tuple[MappedContact, Pending]] = {}
        for mapped, item in candidates:
            key = mapped.external_id or ""
            held = newest.get(key)
            if held is None:
                newest[key] = (mapped, item)
            elif (held[1].version or "") > (item.version or ""):
                self.dropped_as_older(item)
            else:
                self.dropped_as_older(held[1])
                newest[key] = (mapped, item)
        return list(newest.values())

    def _write_batch(self, pairs: list[tuple[MappedContact, Pending]]) -> None:
        ctx = self.ctx
        try:
            current = ctx.client.read_contacts([m.external_id for m, _ in pairs])
        except CrmOneError as error:
            for _, item in pairs:
                self.queue(item, "failed", error.code, str(error))
            return
        by_external = {c.get("external_id"): c for c in current.get("results", [])}
        owners = ownership_map(ctx.config)
        written: list[tuple[MappedContact, Pending]] = []
        upserts: list[ContactUpsert] = []
        for mapped, item in pairs:
            existing = by_external.get(mapped.external_id)
            changes = decide(mapped.properties, existing, owners, mapped.source_updated_at)
            if existing is not None and not changes:
                ctx.stats.add(self.stream, "contacts_skipped")
                written.append((mapped, item))
            else:
                body = mapped.upsert_record(changes)
                upserts.append(ContactUpsert(mapped, item, body, new=existing is None))
        if ctx.dry_run:
            self._journal_dry_run(upserts)
            written += [(u.mapped, u.item) for u in upserts]
        elif upserts:
            written += self._upsert(upserts)
        failures: dict[Pending, Failure] = {}
        if not ctx.dry_run:
            self._send_consents(written, failures)
            self._add_list_members(written, failures)
        left = leave_lists(
            ctx, self.stream, self._departures, {m.external_id or "" for m, _ in written}
        )
        for mapped, item in written:
            if mapped.external_id in left:
                failures.setdefault(item, left[mapped.external_id])
        self._settle(written, failures)

    def _journal_dry_run(self, upserts: list[ContactUpsert]) -> None:
        ctx = self.ctx
        for upsert in upserts:
            detail = {
                "action": "create" if upsert.new else "update",
                "record": upsert.body,
                "consents": [c.to_api() for c in upsert.mapped.consents],
                "list_ids": upsert.mapped.list_ids,
            }
            ctx.journal.add_review(ctx.run_id, "dry_run", upsert.mapped.external_id, None, detail)
            ctx.stats.add(
                self.stream, "dry_run_would_create" if upsert.new else "dry_run_would_update"
            )

    def _upsert(self, upserts: list[ContactUpsert]) -> list[tuple[MappedContact, Pending]]:
        """Upsert by external_id; per-record errors are final for that record."""
        ctx = self.ctx
        records = [u.body for u in upserts]
        try:
            response = ctx.client.upsert_contacts(
                records,
                id_property="external_id",
                idempotency_key=ctx.idempotency_key(self.stream, "contacts", records),
            )
        except CrmOneError as error:
            for upsert in upserts:
                self.queue(upsert.item, "failed", error.code, str(error))
            return []
        written: list[tuple[MappedContact, Pending]] = []
        answered: set[int] = set()
        for result in response.get("results") or []:
            index = result.get("index")
            if not isinstance(index, int) or not 0 <= index < len(upserts) or index in answered:
                continue
            answered.add(index)
            status = result.get("status")
            key = f"contacts_{status}" if status in CONTACT_STATUSES else "contacts_updated"
            ctx.stats.add(self.stream, key)
            written.append((upserts[index].mapped, upserts[index].item))
        for error in response.get("errors") or []:
            index = error.get("index")
            if not isinstance(index, int) or not 0 <= index < len(upserts) or index in answered:
                continue
            answered.add(index)
            upsert = upserts[index]
            if error.get("code") != "email_conflict":
                self.queue(upsert.item, "rejected", *error_text(error))
            elif self._match_by_email(upsert, error):
                written.append((upsert.mapped, upsert.item))
        for index, upsert in enumerate(upserts):
            if index not in answered:
                reason = "CRM One's response names neither a result nor an error for this record"
                self.queue(upsert.item, "failed", "no_result", reason)
        return written

    def _match_by_email(self, upsert: ContactUpsert, error: dict[str, Any]) -> bool:
        """The email belongs to another contact. One without an external_id gets ours
        (attached); one with another external_id is never merged: it needs review."""
        ctx, mapped = self.ctx, upsert.mapped
        existing_id = error.get("existing_id")
        try:
            if existing_id:
                existing = ctx.client.get_contact(str(existing_id))
            else:
                existing = ctx.client.find_contact(email=mapped.email)
        except CrmOneError as failure:
            self.queue(upsert.item, "failed", failure.code, f"email_conflict lookup: {failure}")
            return False
        if existing and not existing.get("external_id") and mapped.email:
            return self._attach(upsert, existing)
        other_id = (existing or {}).get("id") or existing_id
        other_external = (existing or {}).get("external_id")
        detail = {"email": mapped.email, "existing_external_id": other_external, "error": error}
        if upsert.item.queue_id is None:  # reviewed once, not again on every retry
            ctx.journal.add_review(
                ctx.run_id, "email_conflict", mapped.external_id, other_id, detail
            )
        reason = (
            f"email_conflict: the email belongs to contact {other_id} "
            f"(external_id {other_external}); not merged, needs review"
        )
        self.queue(upsert.item, "rejected", "email_conflict", reason)
        return False

    def _attach(self, upsert: ContactUpsert, existing: dict[str, Any]) -> bool:
        """Upsert by email with our external_id: the contact known only by email gets it."""
        ctx, mapped = self.ctx, upsert.mapped
        changes = decide(
            mapped.properties, existing, ownership_map(ctx.config), mapped.source_updated_at
        )
        record = mapped.upsert_record(changes)
        record["properties"]["email"] = mapped.email
        try:
            response = ctx.client.upsert_contacts(
                [record],
                id_property="email",
                idempotency_key=ctx.idempotency_key(self.stream, "attach", record),
            )
        except CrmOneError as error:
            self.queue(upsert.item, "failed", error.code, f"attach by email: {error}")
            return False
        if response.get("results"):
            ctx.stats.add(self.stream, "contacts_attached")
            return True
        errors = response.get("errors") or [{"code": "no_result", "message": "no result"}]
        code, reason = error_text(errors[0])
        self.queue(upsert.item, "rejected", code, f"attach by email: {reason}")
        return False

    def _send_consents(
        self, written: list[tuple[MappedContact, Pending]], failures: dict[Pending, Failure]
    ) -> None:
        """Consents of contacts that exist now; a failure queues the customer record."""
        ctx = self.ctx
        consents = [(c.to_api(), item) for mapped, item in written for c in mapped.consents]
        for batch in chunks(consents, ctx.batch_size):
            records = [record for record, _ in batch]
            try:
                response = ctx.client.upsert_consents(
                    records, idempotency_key=ctx.idempotency_key(self.stream, "consents", records)
                )
            except CrmOneError as error:
                for _, item in batch:
                    failures.setdefault(item, ("failed", error.code, f"consents: {error}"))
                continue
            for result in response.get("results") or []:
                status = result.get("status")
                if status in CONSENT_STATUSES:
                    ctx.stats.add(self.stream, f"consents_{status}")
            for error in response.get("errors") or []:
                index = error.get("index")
                if isinstance(index, int) and 0 <= index < len(batch):
                    record, item = batch[index]
                    code, reason = error_text(error)
                    where = f"consent {record['channel']}/{record['purpose']}"
                    failures.setdefault(item, ("rejected", code, f"{where}: {reason}"))

    def _add_list_members(
        self, written: list[tuple[MappedContact, Pending]], failures: dict[Pending, Failure]
    ) -> None:
        """Store routing: contacts join their stores' lists (adding twice is a no-op)."""
        ctx = self.ctx
        members: dict[str, dict[str, Pending]] = {}
        for mapped, item in written:
            for list_id in mapped.list_ids:
                members.setdefault(list_id, {})[mapped.external_id or ""] = item
        for list_id, by_external in members.items():
            for external_ids in chunks(list(by_external), ctx.batch_size):
                try:
                    response = ctx.client.list_members(
                        list_id,
                        external_ids,
                        idempotency_key=ctx.idempotency_key(self.stream, "members", external_ids),
                    )
                except CrmOneError as error:
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

    def _settle(
        self, written: list[tuple[MappedContact, Pending]], failures: dict[Pending, Failure]
    ) -> None:
        remember_written(self.ctx, [(m, i.record) for m, i in written if i not in failures])
        for mapped, item in written:
            if item in failures:
                self.queue(item, *failures[item])
            elif mapped.warnings:  # written without its invalid optional values
                self.queue(item, "partial", *issue_summary(mapped.warnings))
            else:
                self.done(item)


# --- orders → activities and/or `orders` objects ---------------------------------------------


class OrderSink(Sink):
    """orders → `order_placed`/`order_cancelled` activities and/or `orders` objects."""

    def write(self, items: list[Pending]) -> None:
        ctx = self.ctx
        sends: dict[str, list[tuple[dict[str, Any], Pending]]] = {"activities": [], "objects": []}
        planned: list[Pending] = []
        for item in self._newest(items):
            mapped = map_order(item.record, ctx.config, ctx.journal.identity)
            if mapped.rejected:
                errors = [i for i in mapped.issues if i.severity == "error"]
                self.queue(item, "rejected", *issue_summary(errors))
                continue
            for issue in mapped.issues:
                ctx.stats.warn(self.stream, issue.code, f"{item.key}: {issue.reason}")
            if mapped.skipped:
                ctx.stats.add(self.stream, "orders_skipped")
                ctx.stats.warn(self.stream, "skipped", f"{item.key}: {mapped.skipped_reason}")
                self.done(item)
                continue
            sends["activities"] += [(a.to_api(), item) for a in mapped.activities]
            if mapped.object is not None:
                sends["objects"].append((mapped.object.to_api(), item))
            planned.append(item)
        failures: dict[Pending, Failure] = {}
        self.concurrently(
            [
                partial(self._send, kind, batch, failures)
                for kind, records in sends.items()
                for batch in chunks(records, ctx.batch_size)
            ]
        )
        for item in planned:
            if item in failures:
                self.queue(item, *failures[item])
            else:
                self.done(item)

    def _newest(self, items: list[Pending]) -> list[Pending]:
        newest: dict[str, Pending] = {}
        for item in items:
            held = newest.get(item.key)
            if held is None:
                newest[item.key] = item
            elif (held.version or "") > (item.version or ""):
                self.dropped_as_older(item)
            else:
                self.dropped_as_older(held)
                newest[item.key] = item
        return list(newest.values())

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
        try:
            if kind == "activities":
                response = ctx.client.upsert_activities(records, idempotency_key=key)
            else:
                response = ctx.client.upsert_objects("orders", records, idempotency_key=key)
        except CrmOneError as error:
            for _, item in batch:
                failures.setdefault(item, ("failed", error.code, f"{kind}: {error}"))
            return
        for result in response.get("results") or []:
            status = result.get("status")
            if status in CONTACT_STATUSES:
                ctx.stats.add(self.stream, f"{kind}_{status}")
        for error in response.get("errors") or []:
            index = error.get("index")
            if isinstance(index, int) and 0 <= index < len(batch):
                record, item = batch[index]
                code, reason = error_text(error)
                failures.setdefault(item, ("rejected", code, f"{record['external_id']}: {reason}"))


# --- messages → deletions ---------------------------------------------------------------------


class DeletionSink(Sink):
    """`CustomerDeleted` messages: archive, erase or ignore the contact, per `deletions`."""

    def write(self, items: list[Pending]) -> None:
        self.concurrently([partial(self._delete, item) for item in items])

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
            contact = ctx.client.find_contact(external_id=external_id) if external_id else None
            if contact is None:
                ctx.stats.add(self.stream, "deletions_not_found")
            elif deletion.action == "archive" and contact.get("archived") is True:
                ctx.stats.add(self.stream, "deletions_unchanged")
            elif ctx.dry_run:
                detail = {"action": deletion.action, "contact_id": contact.get("id")}
                ctx.journal.add_review(ctx.run_id, "dry_run", external_id, None, detail)
                ctx.stats.add(self.stream, f"dry_run_would_{deletion.action}")
            elif deletion.action == "erase":
                ctx.client.erase_contact(str(contact["id"]))
                ctx.stats.add(self.stream, "deletions_erased")
            else:
                ctx.client.archive_contact(str(contact["id"]))
                ctx.stats.add(self.stream, "deletions_archived")
        except CrmOneError as error:
            if error.status != 404:
                return self.queue(item, "failed", error.code, f"{deletion.action}: {error}")
            ctx.stats.add(self.stream, "deletions_not_found")
        return self.done(item)


# --- the set of sinks of one run ---------------------------------------------------------------

SINKS: dict[str, type[Sink]] = {
    "customers": ContactSink,
    "orders": OrderSink,
    "messages": DeletionSink,
}


class SinkSet:
    """The sinks of one run, drained together in `DRAIN_ORDER`, and the retry queue's link."""

    def __init__(
        self, ctx: WriteContext, streams: list[str], kinds: dict[str, type[Sink]] | None = None
    ) -> None:
        self.ctx = ctx
        kinds = SINKS if kinds is None else kinds
        self.sinks: dict[str, Sink] = {
            name: kinds.get(name, IgnoredSink)(name, ctx) for name in dict.fromkeys(streams)
        }
        self._queued: dict[str, dict[str, QueueItem]] = {}

    def resend_queue(self, *, woken_only: bool = False) -> None:
        """Due queue items of the catalog's streams go first, through the same sinks (items
        past `retry_max_days` are parked first); those still pending afterwards wait for their
        next attempt, their contact, or a newer version of their record. At the end of a run
        (`woken_only`), the items whose contact this run wrote are re-sent."""
        journal = self.ctx.journal
        if not self.ctx.dry_run and not woken_only:
            self.ctx.stats.add_queue("parked", journal.park_expired())
        for name, sink in self.sinks.items():
            for queued in journal.due(name, woken_only=woken_only):
                sink.add(queued.payload, queued.id, retry=True)
                if sink.full:
                    self.drain()
        self.drain()
        self._queued = {
            name: {queued.record_key: queued for queued in journal.pending(name)}
            for name in self.sinks
        }

    def add(self, stream: str, record: dict[str, Any]) -> None:
        sink = self.sinks.get(stream)
        if sink is None:  # not in the catalog: Airbyte does not send these; acknowledge them
            sink = self.sinks[stream] = IgnoredSink(stream, self.ctx)
        queue_id = self._settles(stream, record)
        sink.add(record, queue_id)
        if sink.full:
            self.drain()

    def _settles(self, stream: str, record: dict[str, Any]) -> int | None:
        """A newer version supersedes a pending queue item of the same record; the same
        version takes the item over (written → sent, failing → attempts + 1)."""
        queued = self._queued.get(stream, {}).pop(record_key(record), None)
        if queued is None:
            return None
        version = record_version(record)
        if queued.record_version == version:
            return queued.id
        newer = version is None or (queued.record_version or "") < version
        if newer and not self.ctx.dry_run:
            count = self.ctx.journal.supersede_older(stream, queued.record_key, version)
            self.ctx.stats.add(stream, "superseded", count)
        return None

    def drain(self) -> None:
        """Every sink, contacts before the orders and deletions that reference them."""
        for name in dict.fromkeys([*DRAIN_ORDER, *self.sinks]):
            if name in self.sinks:
                self.sinks[name].drain()
