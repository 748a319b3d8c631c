"""The contact plan: what a batch of customers becomes in CRM One. Pure functions, no I/O.

The contact sender (`contacts/sender.py`) asks these functions what to send, sends it, and
reports outcomes. Everything here works on records, mapped payloads and CRM One replies only,
so it is tested without a server.

- `map_contacts`: customers → valid `ContactDraft`s (mapped contact + digest), customers the
  filters do not take, or rejections.
- `contact_digest`: what was sent for a contact, as one hash the journal remembers; a draft
  whose digest equals the remembered one costs no request.
- `versions_of`: a contact's versions of a batch, for `changes.collapse` (what changed since
  last sent, per field; the ownership rules are `changes.properties_to_send`).
- `consent_flags`: what a record adds to its batch's consents call, known without mapping it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from destination_crmone.config import DestinationConfig, Owner
from destination_crmone.contacts.changes import ContactChange
from destination_crmone.contacts.merge import ownership_map
from destination_crmone.crmone.validate import ContactSchema, issue_summary
from destination_crmone.customer_fields import customer_value, get_path
from destination_crmone.delivery.context import Pending, newest_only
from destination_crmone.lifecycle import (
    LIFECYCLE_PROPERTY,
    counted_orders,
    lifecycle_stage,
    marketing_granted,
)
from destination_crmone.records import (
    MappedContact,
    contact_key,
    customer_external_id,
    map_customer,
)
from destination_crmone.segments import in_scope
from destination_crmone.versions import record_version

# --- customers → contacts -----------------------------------------------------------------------


@dataclass(eq=False)
class ContactDraft:
    item: Pending
    mapped: MappedContact
    digest: str
    change: ContactChange | None = None  # against the field ledger (`changes.collapse`)

    @property
    def external_id(self) -> str:
        return self.mapped.external_id or ""

    @property
    def ledger_key(self) -> str:
        return self.mapped.ledger_key


@dataclass(frozen=True)
class Filtered:
    """A customer the filters do not take (`external_id` None when it has no identity)."""

    external_id: str | None


@dataclass
class ContactPlan:
    rejected: list[tuple[Pending, str, str]] = field(default_factory=list)
    dropped: list[Pending] = field(default_factory=list)  # an older copy of a record kept here
    drafts: list[ContactDraft] = field(default_factory=list)
    filtered: list[tuple[Pending, str | None]] = field(default_factory=list)  # (item, ext id)
    older: dict[str, list[MappedContact]] = field(default_factory=dict)  # by ledger key


def contact_digest(mapped: MappedContact, tenant: str) -> str:
    """One hash of everything sent for a contact: properties, consents, lists, tenant."""
    body = {
        "tenant": tenant,
        "external_id": mapped.external_id,
        "properties": mapped.properties,
        "consents": [consent.to_api() for consent in mapped.consents],
        "lists": sorted(mapped.list_ids),
    }
    canonical = orjson.dumps(body, option=orjson.OPT_SORT_KEYS, default=str)
    return hashlib.sha256(canonical).hexdigest()[:40]


def map_contact(
    item: Pending,
    config: DestinationConfig,
    schema: ContactSchema,
    tenant: str,
    languages_of: Mapping[str, Sequence[str]] | None = None,
) -> ContactDraft | Filtered | tuple[str, str]:
    """A valid draft, a customer the filters do not take, or (code, reasons) of a record that
    cannot be written."""
    record = item.record
    if config.filters and not in_scope(config, lambda path: customer_value(record, path)):
        return Filtered(customer_external_id(record, config))
    mapped = map_customer(record, config, schema, languages_of)
    if mapped.rejected:
        return issue_summary([i for i in mapped.issues if i.severity == "error"])
    return ContactDraft(item, mapped, contact_digest(mapped, tenant))


def map_contacts(
    items: list[Pending],
    config: DestinationConfig,
    schema: ContactSchema,
    tenant: str,
    languages_of: Mapping[str, Sequence[str]] | None = None,
) -> ContactPlan:
    """Map and validate; one draft per contact (the newest record), the older versions kept
    by ledger key for `versions_of` (their consents count)."""
    plan = ContactPlan()
    valid: list[ContactDraft] = []
    for item in items:
        mapped = map_contact(item, config, schema, tenant, languages_of)
        if isinstance(mapped, ContactDraft):
            valid.append(mapped)
        elif isinstance(mapped, Filtered):
            plan.filtered.append((item, mapped.external_id))
        else:
            plan.rejected.append((item, *mapped))
    plan.drafts, older = newest_only(
        valid, key=lambda d: d.ledger_key, version=lambda d: d.item.version
    )
    plan.dropped = [draft.item for draft in older]
    for draft in older:
        plan.older.setdefault(draft.ledger_key, []).append(draft.mapped)
    return plan


def versions_of(draft: ContactDraft, plan: ContactPlan) -> list[MappedContact]:
    """A contact's versions in this batch, oldest first (an unknown version is oldest)."""
    older = plan.older.get(draft.ledger_key, [])
    ordered = sorted(older, key=lambda m: version_text(m) or "")
    return [*ordered, draft.mapped]


def version_text(mapped: MappedContact) -> str | None:
    return record_version(
        {"lastModifiedAt": mapped.source_updated_at, "version": mapped.source_version}
    )


def consent_flags(record: Mapping[str, Any], config: DestinationConfig) -> int:
    """How many consents a customer record may carry (its flags that are present): what it
    adds to its batch's consents call, known without mapping it."""
    return sum(get_path(record, mapping.flag_field) is not None for mapping in config.consents)


def owned_properties(config: DestinationConfig) -> dict[str, Owner]:
    """Properties whose owner is not commercetools: only these ever need CRM One's values."""
    owners = ownership_map(config)
    return {name: owner for name, owner in owners.items() if owner != "commercetools"}


def set_lifecycle_stages(drafts: list[ContactDraft], orders_of: Mapping[str, list[Any]]) -> None:
    """`lifecycle_stage` of each draft from the orders the journal knows (`orders_of` by
    contact key) and its consents, unless the mapping or routing set it. The digest is left
    as mapped: what the stage derives from is in it (the consents) or sent by the orders'
    history, so a customer seen again unchanged still costs no request."""
    for draft in drafts:
        if LIFECYCLE_PROPERTY in draft.mapped.properties:
            continue
        count = counted_orders(orders_of.get(contact_key(draft.external_id) or "", ()))
        granted = marketing_granted(draft.mapped.consents)
        draft.mapped.properties[LIFECYCLE_PROPERTY] = lifecycle_stage(count, granted)
