"""The contact plan: what a batch of customers becomes in CRM One. Pure functions, no I/O.

The contact sender (`contacts/sender.py`) asks these functions what to send, sends it, and
reports outcomes. Everything here works on records, mapped payloads and CRM One replies only,
so it is tested without a server.

- `map_contacts`: customers → valid `ContactDraft`s (mapped contact + digest), customers the
  filters do not take, or rejections.
- `contact_digest`: what was sent for a contact, as one hash the journal remembers; a draft
  whose digest equals the remembered one costs no request.
- `needs_current` / `upsert_properties`: the ownership rules. CRM One's current values are
  read only for properties owned by `crm_one` or `most_recent`, and only for records that
  would change them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from destination_crmone.config import DestinationConfig, Owner
from destination_crmone.contacts.merge import decide, is_empty, ownership_map
from destination_crmone.crmone.validate import ContactSchema, issue_summary
from destination_crmone.customer_fields import customer_value
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

# --- customers → contacts -----------------------------------------------------------------------


@dataclass(eq=False)
class ContactDraft:
    item: Pending
    mapped: MappedContact
    digest: str

    @property
    def external_id(self) -> str:
        return self.mapped.external_id or ""


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
    items: list[Pending], config: DestinationConfig, schema: ContactSchema, tenant: str
) -> ContactPlan:
    """Map and validate (unless done when the record arrived: `Pending.prepared`); one draft
    per external_id (the newest record)."""
    plan = ContactPlan()
    valid: list[ContactDraft] = []
    for item in items:
        mapped = item.prepared or map_contact(item, config, schema, tenant)
        if isinstance(mapped, ContactDraft):
            valid.append(mapped)
        elif isinstance(mapped, Filtered):
            plan.filtered.append((item, mapped.external_id))
        else:
            plan.rejected.append((item, *mapped))
    plan.drafts, older = newest_only(
        valid, key=lambda d: d.external_id, version=lambda d: d.item.version
    )
    plan.dropped = [draft.item for draft in older]
    return plan


def owned_properties(config: DestinationConfig) -> dict[str, Owner]:
    """Properties whose owner is not commercetools: only these ever need CRM One's values."""
    owners = ownership_map(config)
    return {name: owner for name, owner in owners.items() if owner != "commercetools"}


def needs_current(mapped: MappedContact, owners: Mapping[str, Owner]) -> bool:
    """Would this contact change a property whose rule depends on CRM One's current value?
    (`crm_one`: when it has a value to offer; `most_recent`: always.)"""
    for name, owner in owners.items():
        if name in mapped.properties and (
            owner == "most_recent" or not is_empty(mapped.properties[name])
        ):
            return True
    return False


def upsert_properties(
    mapped: MappedContact,
    owners: Mapping[str, Owner],
    current: Mapping[str, Any] | None,
    read: frozenset[str] | None,
) -> dict[str, Any]:
    """The properties to upsert for one contact; `{}` means nothing to change.

    `read` names the properties whose current values were read (`current` is None when CRM One
    has no such contact); None means nothing was read: commercetools-owned properties are sent
    as mapped (None clears), owned ones are left alone.
    """
    if read is not None and current is None:  # read, and a new contact: every value it has
        return {name: value for name, value in mapped.properties.items() if not is_empty(value)}
    read = read or frozenset()
    send = {
        name: value
        for name, value in mapped.properties.items()
        if name not in read and name not in owners
    }
    if current is not None:
        compared = {name: value for name, value in mapped.properties.items() if name in read}
        send.update(decide(compared, current, owners, mapped.source_updated_at))
    return send


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
