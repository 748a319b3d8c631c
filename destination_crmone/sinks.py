"""Per-stream sinks: buffer records, and on drain send them to CRM One in batches.

Drain order matters and is fixed in `SINK_ORDER`: contacts first (consents and list
memberships follow their contacts), then orders (activities reference contacts), then
deletions. A record that cannot be written goes to the journal's retry queue with its
reason; nothing is dropped silently.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from destination_crmone.client import CrmOneClient, CrmOneError, batch_key
from destination_crmone.config import DestinationConfig
from destination_crmone.journal import Journal
from destination_crmone.mapping import (
    MappedContact,
    map_customer,
    map_message,
    map_order,
)
from destination_crmone.merge import decide, ownership_map
from destination_crmone.stats import RunStats
from destination_crmone.timefmt import try_normalize_rfc3339
from destination_crmone.validate import ContactSchema, Issue

logger = logging.getLogger("airbyte")


@dataclass
class WriteContext:
    """What every sink needs for one run."""

    config: DestinationConfig
    client: CrmOneClient
    journal: Journal
    schema: ContactSchema
    stats: RunStats
    run_id: str
    batch_size: int
    dry_run: bool = False
    _sequence: int = 0

    def key(self, stream: str, kind: str, body: Any) -> str:
        return batch_key(self.run_id, stream, kind, body)


@dataclass
class Pending:
    record: dict[str, Any]
    queue_id: int | None = None


def record_version(record: dict[str, Any]) -> str | None:
    return try_normalize_rfc3339(record.get("lastModifiedAt") or record.get("createdAt"))


def chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def issue_text(issues: list[Issue]) -> tuple[str, str]:
    return "; ".join(i.reason for i in issues), issues[0].code if issues else "invalid"


@dataclass
class Sink:
    stream: str
    ctx: WriteContext
    buffer: list[Pending] = field(default_factory=list)

    def add(self, record: dict[str, Any], queue_id: int | None = None) -> None:
        self.ctx.stats.add(self.stream, "retried_from_queue" if queue_id else "received")
        self.buffer.append(Pending(record, queue_id))

    @property
    def full(self) -> bool:
        return len(self.buffer) >= self.ctx.batch_size

    def drain(self) -> None:
        items, self.buffer = self.buffer, []
        if items:
            self.write(items)

    def write(self, items: list[Pending]) -> None:
        raise NotImplementedError

    # --- outcomes ------------------------------------------------------------------

    def failed(self, item: Pending, reason: str, code: str, kind: str) -> None:
        """Into the retry queue, with its reason; counted."""
        record = item.record
        key = str(record.get("id") or record.get("key") or "unknown")
        self.ctx.journal.enqueue(
            self.ctx.run_id, self.stream, key, record_version(record), record, reason, code, kind
        )
        self.ctx.stats.reject(self.stream, code, f"{key}: {reason}", kind)

    def done(self, item: Pending) -> None:
        if item.queue_id:
            self.ctx.journal.mark(item.queue_id, "sent")

    def send_batches(self, batches: list[Any], send: Callable[[Any], None]) -> None:
        self.ctx.client.run_concurrently([lambda b=b: send(b) for b in batches])


class IgnoredSink(Sink):
    """A stream the destination has no use for: acknowledged and counted, not failed."""

    def write(self, items: list[Pending]) -> None:
        self.ctx.stats.add(self.stream, "ignored", len(items))


class ContactSink(Sink):
    def write(self, items: list[Pending]) -> None:
        ctx = self.ctx
        newest: dict[str, tuple[MappedContact, Pending]] = {}
        for item in items:
            mapped = map_customer(item.record, ctx.config, ctx.schema)
            if mapped.rejected:
                errors = [i for i in mapped.issues if i.severity == "error"]
                self.failed(item, *issue_text(errors), kind="rejected")
                continue
            key = mapped.external_id or ""
            held = newest.get(key)
            if held and (held[0].source_updated_at or "") > (mapped.source_updated_at or ""):
                self.done(item)
                continue
            newest[key] = (mapped, item)
        pairs = list(newest.values())
        if ctx.config.identity.source_field != "id":
            ctx.journal.remember_identities(
                {m.source_id: m.external_id for m, _ in pairs if m.source_id and m.external_id}
            )
        self.send_batches(list(chunks(pairs, ctx.batch_size)), self._write_batch)

    def _write_batch(self, pairs: list[tuple[MappedContact, Pending]]) -> None:
        ctx = self.ctx
        try:
            current = ctx.client.read_contacts([m.external_id for m, _ in pairs])
        except CrmOneError as error:
            for _, item in pairs:
                self.failed(item, str(error), error.code, "failed")
            return
        by_external = {c["external_id"]: c for c in current.get("results", [])}
        owners = ownership_map(ctx.config)
        to_send, written = [], []
        for mapped, item in pairs:
            existing = by_external.get(mapped.external_id)
            changes = decide(mapped.properties, existing, owners, mapped.source_updated_at)
            if existing is not None and not changes:
                ctx.stats.add(self.stream, "contacts_skipped")
                written.append((mapped, item))
                continue
            to_send.append((mapped, item, mapped.upsert_record(changes)))
        if ctx.dry_run:
            for mapped, _, body in to_send:
                ctx.journal.add_review(ctx.run_id, "dry_run", mapped.external_id, None, body)
            ctx.stats.add(self.stream, "dry_run_would_change", len(to_send))
            return
        if to_send:
            written += self._upsert(to_send)
        self._after_contacts(written)

    def _upsert(self, to_send: list[tuple[MappedContact, Pending, dict]]) -> list:
        ctx = self.ctx
        records = [body for _, _, body in to_send]
        try:
            response = ctx.client.upsert_contacts(
                records,
                id_property="external_id",
                idempotency_key=ctx.key(self.stream, "contacts", records),
            )
        except CrmOneError as error:
            for _, item, _ in to_send:
                self.failed(item, str(error), error.code, "failed")
            return []
        written = []
        for result in response.get("results", []):
            mapped, item, _ = to_send[result["index"]]
            ctx.stats.add(self.stream, f"contacts_{result.get('status', 'written')}")
            written.append((mapped, item))
        for error in response.get("errors", []):
            mapped, item, body = to_send[error["index"]]
            if error.get("code") == "email_conflict" and self._attach_by_email(mapped, body, error):
                written.append((mapped, item))
                continue
            reason = f"{error.get('code')}: {error.get('message') or error.get('field')}"
            self.failed(item, reason, str(error.get("code")), "rejected")
        return written

    def _attach_by_email(self, mapped: MappedContact, body: dict, error: dict) -> bool:
        """A contact known only by email gets our external ID; another one is never merged."""
        ctx = self.ctx
        existing_id = error.get("existing_id")
        existing = ctx.client.get_contact(existing_id) if existing_id else None
        if existing and not existing.get("external_id"):
            full = mapped.upsert_record()
            full["properties"] = {k: v for k, v in full["properties"].items() if v is not None}
            response = ctx.client.upsert_contacts(
                [full], id_property="email", idempotency_key=ctx.key(self.stream, "attach", full)
            )
            if response.get("results"):
                ctx.stats.add(self.stream, "contacts_attached_by_email")
                return True
        ctx.journal.add_review(
            ctx.run_id,
            "email_conflict",
            mapped.external_id,
            existing_id,
            {"email": mapped.email, "error": error},
        )
        return False

    def _after_contacts(self, written: list[tuple[MappedContact, Pending]]) -> None:
        """Consents and list memberships follow their contacts; then the queue is settled."""
        ctx = self.ctx
        consents = [c.to_api() for mapped, _ in written for c in mapped.consents]
        for batch in chunks(consents, ctx.batch_size):
            try:
                response = ctx.client.upsert_consents(
                    batch, idempotency_key=ctx.key(self.stream, "consents", batch)
                )
            except CrmOneError as error:
                ctx.stats.add(self.stream, "consents_failed", len(batch))
                logger.warning("Consent batch failed: %s", error)
                continue
            for result in response.get("results", []):
                ctx.stats.add(self.stream, f"consents_{result.get('status')}")
            for error in response.get("errors", []):
                ctx.stats.reject(
                    self.stream,
                    str(error.get("code")),
                    f"consent {batch[error['index']]['contact_external_id']}: "
                    f"{error.get('message')}",
                    "consents_rejected",
                )
        members: dict[str, list[str]] = {}
        for mapped, _ in written:
            for list_id in mapped.list_ids:
                members.setdefault(list_id, []).append(mapped.external_id or "")
        for list_id, external_ids in members.items():
            for batch in chunks(external_ids, ctx.batch_size):
                try:
                    response = ctx.client.list_members(
                        list_id, batch, idempotency_key=ctx.key(self.stream, list_id, batch)
                    )
                    ctx.stats.add(self.stream, "list_members_added", response.get("added", 0))
                except CrmOneError as error:
                    logger.warning("List %s membership failed: %s", list_id, error)
        for mapped, item in written:
            if mapped.warnings:  # written without the invalid optional values
                self.failed(item, *issue_text(mapped.warnings), kind="partial")
            else:
                self.done(item)


class OrderSink(Sink):
    def write(self, items: list[Pending]) -> None:
        ctx = self.ctx
        config = ctx.config
        latest: dict[str, Pending] = {}
        for item in items:
            key = str(item.record.get("id"))
            held = latest.get(key)
            if held and (held.record.get("version") or 0) > (item.record.get("version") or 0):
                continue
            latest[key] = item
        activities, objects = [], []
        for item in latest.values():
            mapped = map_order(item.record, config, ctx.journal.identity)
            if mapped.rejected:
                errors = [i for i in mapped.issues if i.severity == "error"]
                self.failed(item, *issue_text(errors), kind="rejected")
                continue
            if mapped.skipped:
                ctx.stats.add(self.stream, "orders_skipped")
                self.done(item)
                continue
            activities += [(a.to_api(), item) for a in mapped.activities]
            if mapped.object is not None:
                objects.append((mapped.object.to_api(), item))
        if ctx.dry_run:
            ctx.stats.add(self.stream, "dry_run_would_send", len(activities) + len(objects))
            return
        failed_ids: set[int] = set()
        self.send_batches(
            list(chunks(activities, ctx.batch_size)),
            lambda batch: self._send(batch, "activities", failed_ids),
        )
        self.send_batches(
            list(chunks(objects, ctx.batch_size)),
            lambda batch: self._send(batch, "objects", failed_ids),
        )
        for item in latest.values():
            if id(item) not in failed_ids:
                self.done(item)

    def _send(self, batch: list[tuple[dict, Pending]], kind: str, failed_ids: set[int]) -> None:
        ctx = self.ctx
        records = [record for record, _ in batch]
        key = ctx.key(self.stream, kind, records)
        try:
            if kind == "activities":
                response = ctx.client.upsert_activities(records, idempotency_key=key)
            else:
                response = ctx.client.upsert_objects("orders", records, idempotency_key=key)
        except CrmOneError as error:
            for _, item in batch:
                if id(item) not in failed_ids:
                    failed_ids.add(id(item))
                    self.failed(item, str(error), error.code, "failed")
            return
        for result in response.get("results", []):
            ctx.stats.add(self.stream, f"{kind}_{result.get('status')}")
        for error in response.get("errors", []):
            _, item = batch[error["index"]]
            if id(item) not in failed_ids:
                failed_ids.add(id(item))
                self.failed(
                    item,
                    f"{error.get('code')}: {error.get('message')}",
                    str(error.get("code")),
                    "rejected",
                )


class DeletionSink(Sink):
    """`CustomerDeleted` messages: archive, erase or ignore the contact."""

    def write(self, items: list[Pending]) -> None:
        ctx = self.ctx
        for item in items:
            deletion = map_message(item.record, ctx.config)
            if deletion is None:
                ctx.stats.add(self.stream, "messages_not_deletions")
                self.done(item)
                continue
            if deletion.issues:
                self.failed(item, *issue_text(list(deletion.issues)), kind="rejected")
                continue
            if deletion.action == "ignore" or ctx.dry_run:
                ctx.stats.add(self.stream, "deletions_ignored")
                self.done(item)
                continue
            external_id = deletion.external_id or ctx.journal.identity(deletion.customer_id)
            try:
                contact = ctx.client.find_contact(external_id=external_id) if external_id else None
                if contact is None:
                    ctx.stats.add(self.stream, "deletions_not_found")
                elif deletion.action == "erase":
                    ctx.client.erase_contact(contact["id"])
                    ctx.stats.add(self.stream, "contacts_erased")
                else:
                    ctx.client.archive_contact(contact["id"])
                    ctx.stats.add(self.stream, "contacts_archived")
                self.done(item)
            except CrmOneError as error:
                self.failed(item, str(error), error.code, "failed")


SINK_ORDER = {"customers": ContactSink, "orders": OrderSink, "messages": DeletionSink}


def make_sink(stream: str, ctx: WriteContext) -> Sink:
    return SINK_ORDER.get(stream, IgnoredSink)(stream, ctx)


def drain_in_order(sinks: dict[str, Sink]) -> None:
    for name in [*SINK_ORDER, *sorted(set(sinks) - set(SINK_ORDER))]:
        if name in sinks:
            sinks[name].drain()
