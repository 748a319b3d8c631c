"""customers → CRM One contacts, their consents and list memberships (customers the filters
do not take are counted, and get `on_leave` when they were written before).

Per batch: settle records whose `(id, version)` was fully sent before (not even mapped); map
and validate (`contacts/plan.py`); collapse each contact's versions against the journal's
field ledger (`contacts/changes.py`: what changed per field, consents as events); skip
contacts whose digest did not change; read CRM One's current values only where an ownership
rule needs them (`contacts/merge.py`); upsert by external_id (attach by email on
`email_conflict`; by email for contacts without one), then changed consents, list memberships,
and the lists of routing rules the customer left (`contacts/stores.py`). Every record is
settled once through the outcomes of `delivery.sender.Sender`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from destination_crmone.contacts.changes import (
    collapse,
    needs_current,
    properties_to_send,
    unchanged_versions,
)
from destination_crmone.contacts.plan import (
    ContactDraft,
    consent_flags,
    map_contacts,
    owned_properties,
    set_lifecycle_stages,
    versions_of,
)
from destination_crmone.contacts.stores import (
    leave_lists,
    leave_scope,
    plan_departures,
    remember_written,
)
from destination_crmone.crmone.calllog import now_text
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
    contacts that changed since they were last sent; none at all when nothing changed. A
    record whose `(id, version)` was fully sent before (under the same mapping) is settled
    before it is even mapped. What changed is decided per field against the journal's field
    ledger (`changes`).
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
        """The consents the record may add to its batch's consents call (its flags present):
        a batch is full at `batch_size` contacts or consents."""
        return consent_flags(item.record, self.ctx.config)

    def send(self, items: list[Pending]) -> None:
        ctx = self.ctx
        if not ctx.dry_run:
            items = self._skip_sent_versions(items)
        plan = map_contacts(items, ctx.config, ctx.schema, ctx.tenant, self.languages_of)
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
        ledger = {} if ctx.dry_run else ctx.journal.ledger(d.ledger_key for d in drafts)
        for draft in drafts:
            draft.change = collapse(versions_of(draft, plan), ledger.get(draft.ledger_key, {}))
        if not ctx.dry_run:
            known = ctx.journal.digests(d.ledger_key for d in drafts)
            unchanged = [d for d in drafts if known.get(d.ledger_key) == d.digest]
            remember_written(ctx, [d.mapped for d in unchanged])
            for draft in unchanged:
                ctx.stats.add(self.stream, "contacts_skipped")
                ctx.stats.add(self.stream, "consents_skipped", len(draft.mapped.consents))
            self._remember(unchanged, {})
            for draft in unchanged:
                self._settle_written(draft, None)
            drafts = [d for d in drafts if known.get(d.ledger_key) != d.digest]
        if drafts:
            self._write(drafts, departures)

    def _skip_sent_versions(self, items: list[Pending]) -> list[Pending]:
        """Settle the records whose version was fully sent before; the others to map."""
        ctx = self.ctx
        sent = ctx.journal.sent_versions((item.key for item in items), ctx.mapping)
        skipped = unchanged_versions(((item.key, item.version) for item in items), sent)
        if not skipped:
            return items
        rest = []
        for item in items:
            if (item.key, item.version) not in skipped:
                rest.append(item)
                continue
            ctx.stats.add(self.stream, "contacts_skipped")
            ctx.stats.add(self.stream, "consents_skipped", consent_flags(item.record, ctx.config))
            self.done(item)
        return rest

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
        to_read = drafts if ctx.dry_run else [d for d in drafts if needs_current(d.change, owners)]
        try:
            current, read = self._read(to_read, None if ctx.dry_run else sorted(owners))
        except CrmOneError as error:  # the read was refused for good: so are its records
            self.refused([draft.item for draft in to_read], error, "reading current values")
            drafts = [draft for draft in drafts if draft not in to_read]
            current, read, to_read = {}, frozenset(), []
        written: list[ContactDraft] = []
        upserts: list[tuple[ContactDraft, dict[str, Any]]] = []
        sent: dict[ContactDraft, list[str]] = {}
        for draft in drafts:
            names = read if draft in to_read else None
            existing = current.get(draft.ledger_key) if names is not None else None
            properties = properties_to_send(draft.change, owners, existing, names)
            sent[draft] = list(properties)
            if not properties and (existing is not None or draft.change.known):
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
        kept = [d for d in written if d.item not in failures]
        remember_written(ctx, [d.mapped for d in kept])
        self._remember(kept, sent)
        remembered: dict[str, str] = {}
        for draft in written:
            self._settle_written(draft, failures.get(draft.item), remembered)
        ctx.journal.remember_digests(remembered)

    def _remember(self, drafts: list[ContactDraft], sent: Mapping[ContactDraft, list[str]]) -> None:
        """The field ledger of settled contacts (what was seen, what was sent) and the
        versions fully sent (written without any issue), before their records settle."""
        now = now_text()
        rows = [
            row
            for draft in drafts
            if draft.change is not None
            for row in draft.change.ledger_rows(sent.get(draft, []), now)
        ]
        self.ctx.journal.remember_ledger(rows)
        self.ctx.journal.remember_sent_versions(
            {
                draft.item.key: (draft.item.version, draft.ledger_key)
                for draft in drafts
                if draft.item.version is not None and not draft.mapped.warnings
            },
            self.ctx.mapping,
        )

    def _read(
        self, drafts: list[ContactDraft], properties: list[str] | None
    ) -> tuple[dict[str, dict[str, Any]], frozenset[str]]:
        """Current values (and `property_meta`) of the named properties, by contact key
        (contacts without an external_id are read by email)."""
        if not drafts:
            return {}, frozenset()
        found: dict[str, dict[str, Any]] = {}
        by_external = [d.external_id for d in drafts if d.external_id]
        if by_external:
            reply = self.ctx.client.read_contacts(by_external, properties=properties)
            found |= {c.get("external_id"): c for c in reply.get("results") or []}
        by_email = {d.mapped.email: d.ledger_key for d in drafts if not d.external_id}
        if by_email:
            wanted = None if properties is None else sorted({*properties, "email"})
            reply = self.ctx.client.read_contacts(
                list(by_email), id_property="email", properties=wanted
            )
            for contact in reply.get("results") or []:
                email = (contact.get("properties") or {}).get("email")
                key = by_email.get(email) if isinstance(email, str) else None
                if key is not None:
                    found[key] = contact
        names = frozenset(
            properties if properties is not None else drafts[0].mapped.properties.keys()
        )
        return found, names

    def _journal_dry_run(
        self, upserts: list[tuple[ContactDraft, dict[str, Any]]], current: dict[str, Any]
    ) -> None:
        ctx = self.ctx
        for draft, body in upserts:
            new = draft.ledger_key not in current
            detail = {
                "action": "create" if new else "update",
                "record": body,
                "consents": [c.to_api() for c in draft.mapped.consents],
                "list_ids": draft.mapped.list_ids,
            }
            ctx.journal.add_review(ctx.run_id, "dry_run", draft.external_id, None, detail)
            ctx.stats.add(self.stream, "dry_run_would_create" if new else "dry_run_would_update")

    def _upsert(self, upserts: list[tuple[ContactDraft, dict[str, Any]]]) -> list[ContactDraft]:
        """The matching order: by external_id; an `email_conflict` then attaches the
        external_id to the contact holding the email if it has none (else review); contacts
        without an external_id (`identity.fallback: email`) are matched and created by email."""
        by_external = [(d, body) for d, body in upserts if d.external_id]
        by_email = [(d, body) for d, body in upserts if not d.external_id]
        written = self._upsert_by(by_external, "external_id") if by_external else []
        return written + (self._upsert_by(by_email, "email") if by_email else [])

    def _upsert_by(
        self, upserts: list[tuple[ContactDraft, dict[str, Any]]], id_property: str
    ) -> list[ContactDraft]:
        """One upsert call; per-record errors are final for that record."""
        ctx = self.ctx
        records = [body for _, body in upserts]
        try:
            response = ctx.client.upsert_contacts(
                records,
                id_property=id_property,
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
            elif entry.get("code") == "email_conflict" and draft.mapped.email and draft.external_id:
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
            ours = {n: v for n, v in draft.mapped.properties.items() if n not in owners}
            record = draft.mapped.upsert_record(ours)
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

    def _changed_consents(self, draft: ContactDraft) -> list[Any]:
        """The consents of a written contact that changed since last sent (counted)."""
        change = draft.change
        if change is None:
            return list(draft.mapped.consents)
        self.ctx.stats.add(self.stream, "consents_skipped", change.unchanged_consents)
        return change.consents

    def _send_consents(self, written: list[ContactDraft], failures: dict[Pending, Failure]) -> None:
        """Consents of contacts that exist now; a refused consent queues the customer record."""
        ctx = self.ctx
        consents = [(c.to_api(), d.item) for d in written for c in self._changed_consents(d)]
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
            if not draft.external_id:
                continue  # lists name members by external_id (said by the mapping's warning)
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
                remembered[draft.ledger_key] = draft.digest
            self.done(draft.item)
