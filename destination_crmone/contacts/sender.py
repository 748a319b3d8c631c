"""customers → CRM One contacts, their consents and list memberships (customers the filters
do not take are counted, and get `on_leave` when they were written before).

Per batch: map and validate (`contacts/plan.py`), skip contacts whose digest did not change,
read CRM One's current values only where an ownership rule needs them (`contacts/merge.py`),
upsert by external_id (attach by email on `email_conflict`), then consents, list memberships,
and the lists of routing rules the customer left (`contacts/stores.py`). Every record is
settled once through the outcomes of `delivery.sender.Sender`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from destination_crmone.contacts.plan import (
    ContactDraft,
    map_contact,
    map_contacts,
    needs_current,
    owned_properties,
    set_lifecycle_stages,
    upsert_properties,
)
from destination_crmone.contacts.stores import (
    leave_lists,
    leave_scope,
    plan_departures,
    remember_written,
)
from destination_crmone.crmone.client import CrmOneError
from destination_crmone.crmone.replies import error_text, read_reply
from destination_crmone.crmone.validate import issue_summary
from destination_crmone.customer_fields import CUSTOMER_LOCALE
from destination_crmone.delivery.context import (
    Failure,
    Pending,
    WriteContext,
    chunks,
    stop_unless_record_level,
)
from destination_crmone.delivery.sender import UPSERT_STATUSES, Sender
from destination_crmone.lifecycle import writes_lifecycle
from destination_crmone.records import contact_key
from destination_crmone.segments import Departure

CONSENT_STATUSES = ("applied", "stale", "unchanged")


class ContactSender(Sender):
    """customers → contacts (ownership-merged), then their consents and list memberships.

    Requests per batch with the default config: one upsert and one consents call for the
    contacts whose digest changed; none at all when nothing changed since the last run.
    """

    def __init__(self, stream: str, ctx: WriteContext) -> None:
        super().__init__(stream, ctx)
        # the stores' languages (from the `stores` stream of earlier syncs), for localized
        # values in the customer's language
        wanted = any(m.locale == CUSTOMER_LOCALE for m in ctx.config.field_mappings)
        self.languages_of = ctx.journal.store_languages() if wanted else {}

    def key(self, item: Pending) -> str:
        return item.key  # the customer id; the external_id derives from it

    def prepare(self, item: Pending) -> int:
        """Map and validate now: a batch is full at `batch_size` contacts or consents."""
        ctx = self.ctx
        item.prepared = map_contact(item, ctx.config, ctx.schema, ctx.tenant, self.languages_of)
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
        if plan.filtered:
            self._out_of_scope(plan.filtered)
        drafts = plan.drafts
        if writes_lifecycle(ctx.config, ctx.schema):
            orders = ctx.journal.orders_of(contact_key(d.external_id) or "" for d in drafts)
            set_lifecycle_stages(drafts, orders)
        if ctx.config.identity.source_field != "id":
            ctx.journal.remember_identities(
                {
                    d.mapped.source_id: d.external_id
                    for d in drafts
                    if d.mapped.source_id and d.external_id
                }
            )
        # leaving a routing rule clears its properties: sent with the (changed) lists, while
        # the digest stays that of the mapping, so the next run finds nothing to send
        departures = plan_departures(ctx, [d.mapped for d in drafts])
        if not ctx.dry_run:
            known = ctx.journal.digests(d.external_id for d in drafts)
            unchanged = [d for d in drafts if known.get(d.external_id) == d.digest]
            remember_written(ctx, [d.mapped for d in unchanged])
            for draft in unchanged:
                ctx.stats.add(self.stream, "contacts_skipped")
                ctx.stats.add(self.stream, "consents_skipped", len(draft.mapped.consents))
                self._settle_written(draft, None)
            drafts = [d for d in drafts if known.get(d.external_id) != d.digest]
        if drafts:
            self._write(drafts, departures)

    def _out_of_scope(self, filtered: list[tuple[Pending, str | None]]) -> None:
        """Customers the filters do not take: counted as `filtered` (not rejected), and
        `on_leave` for those that were written in scope before."""
        ctx = self.ctx
        known = [external_id for _, external_id in filtered if external_id]
        failures = leave_scope(ctx, self.stream, list(dict.fromkeys(known)))
        for item, external_id in filtered:
            if external_id in failures:
                self.queue(item, *failures[external_id])
            else:
                ctx.stats.add(self.stream, "filtered")
                self.done(item)

    def _write(self, drafts: list[ContactDraft], departures: dict[str, Departure]) -> None:
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
        remember_written(ctx, [d.mapped for d in written if d.item not in failures])
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
        reply = read_reply(response, len(upserts))
        for index, (kind, entry) in reply.answers().items():
            draft = upserts[index][0]
            if kind == "result":
                status = entry.get("status")
                key = f"contacts_{status}" if status in UPSERT_STATUSES else "contacts_updated"
                ctx.stats.add(self.stream, key)
                written.append(draft)
            elif entry.get("code") == "email_conflict" and draft.mapped.email:
                conflicts.append((draft, entry))
            else:
                self.queue(draft.item, "rejected", *error_text(entry))
        for index in reply.unanswered():
            reason = "CRM One's response names neither a result nor an error for this record"
            self.queue(upserts[index][0].item, "failed", "no_result", reason)
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
        reply = read_reply(response, len(conflicts))
        for index, (kind, entry) in reply.answers().items():
            draft, first = conflicts[index]
            if kind == "result":
                ctx.stats.add(self.stream, "contacts_attached")
                attached.append(draft)
            elif entry.get("code") == "email_conflict":
                self._review_conflict(draft, entry.get("existing_id") or first.get("existing_id"))
            else:
                code, reason = error_text(entry)
                self.queue(draft.item, "rejected", code, f"attach by email: {reason}")
        for index in reply.unanswered():
            draft, first = conflicts[index]
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
                for error in read_reply(response, len(external_ids)).every_error:
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
