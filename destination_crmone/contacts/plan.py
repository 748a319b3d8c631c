"""Planning: what a batch of source records becomes in CRM One. Pure functions, no I/O.

The writer (`writer.py`) hands a batch of `Pending` records to a stream's sender; the sender
asks these functions what to send, sends it, and reports outcomes. Everything here works on
records, mapped payloads and CRM One replies only, so it is tested without a server.

- `newest_only`: one record per key, the newest version (`versions.is_newer`).
- `map_contacts`: customers → valid `ContactDraft`s (mapped contact + digest) or rejections.
- `contact_digest`: what was sent for a contact, as one hash the journal remembers; a draft
  whose digest equals the remembered one costs no request.
- `needs_current` / `upsert_properties`: the ownership rules. CRM One's current values are
  read only for properties owned by `crm_one` or `most_recent`, and only for records that
  would change them.
- `map_orders`: orders → activities and `orders` objects.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson

from destination_crmone.config import DestinationConfig, Owner
from destination_crmone.contacts.merge import decide, is_empty, ownership_map
from destination_crmone.crmone.validate import ContactSchema, Issue
from destination_crmone.records import MappedContact, map_customer, map_order
from destination_crmone.versions import is_newer, record_version

Failure = tuple[str, str, str]  # kind (rejected, failed, partial), code, reason


# --- the records of a batch -------------------------------------------------------------------


def record_key(record: Mapping[str, Any]) -> str:
    """The retry queue's key of a record: its `id`, else a digest of the record itself (so
    records without an id never collapse into one queue item)."""
    record_id = record.get("id")
    if isinstance(record_id, str) and record_id:
        return record_id
    body = json.dumps(record, sort_keys=True, default=str, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(body.encode()).hexdigest()[:32]


@dataclass
class Tally:
    """Records counted towards one echoed STATE, and how many of them were rejected."""

    records: int = 0
    rejected: int = 0


@dataclass(eq=False)
class Pending:
    """A record on its way: `queue_id` is the retry-queue item it settles when written;
    `epoch` and `tally` are the writer's (which STATE waits for it, which counts it)."""

    stream: str
    record: dict[str, Any]
    queue_id: int | None = None
    epoch: int = 0
    tally: Tally | None = None
    prepared: Any = None  # what the stream's sender worked out when the record arrived
    key: str = field(init=False)
    version: str | None = field(init=False)

    def __post_init__(self) -> None:
        self.key = record_key(self.record)
        self.version = record_version(self.record)


T = TypeVar("T")


def newest_only(items: Iterable[T], key: Callable[[T], str], version: Callable[[T], str | None]):
    """(kept, dropped): one item per key, the newest version; an equal version keeps the
    later item (it arrived last)."""
    newest: dict[str, T] = {}
    dropped: list[T] = []
    for item in items:
        held = newest.get(key(item))
        if held is None:
            newest[key(item)] = item
        elif is_newer(version(held), version(item)):
            dropped.append(item)
        else:
            dropped.append(held)
            newest[key(item)] = item
    return list(newest.values()), dropped


def chunks(items: list[T], size: int) -> Iterable[list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def issue_summary(issues: list[Issue]) -> tuple[str, str]:
    """(code, reasons) of a record's issues: the first code, every reason."""
    return (issues[0].code if issues else "invalid"), "; ".join(i.reason for i in issues)


def error_text(error: Mapping[str, Any]) -> tuple[str, str]:
    """(code, reason) of one per-record error of a batch response."""
    code = str(error.get("code") or "error")
    where = f" ({error['field']})" if error.get("field") else ""
    return code, f"{code}{where}: {error.get('message') or error.get('detail') or ''}".strip()


def indexed(entries: Any, size: int) -> Iterable[tuple[int, Mapping[str, Any]]]:
    """(index, entry) of a response's `results` or `errors` whose index names a sent record."""
    for entry in entries or []:
        index = entry.get("index") if isinstance(entry, Mapping) else None
        if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < size:
            yield index, entry


# --- customers → contacts -----------------------------------------------------------------------


@dataclass(eq=False)
class ContactDraft:
    item: Pending
    mapped: MappedContact
    digest: str

    @property
    def external_id(self) -> str:
        return self.mapped.external_id or ""


@dataclass
class ContactPlan:
    rejected: list[tuple[Pending, str, str]] = field(default_factory=list)
    dropped: list[Pending] = field(default_factory=list)  # an older copy of a record kept here
    drafts: list[ContactDraft] = field(default_factory=list)


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
    item: Pending, config: DestinationConfig, schema: ContactSchema, tenant: str
) -> ContactDraft | tuple[str, str]:
    """A valid draft, or (code, reasons) of a record that cannot be written."""
    mapped = map_customer(item.record, config, schema)
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


# --- orders → activities and objects --------------------------------------------------------------


@dataclass
class OrderPlan:
    rejected: list[tuple[Pending, str, str]] = field(default_factory=list)
    dropped: list[Pending] = field(default_factory=list)
    skipped: list[tuple[Pending, str]] = field(default_factory=list)  # (item, reason)
    warnings: list[tuple[Pending, Issue]] = field(default_factory=list)
    sends: dict[str, list[tuple[dict[str, Any], Pending]]] = field(
        default_factory=lambda: {"activities": [], "objects": []}
    )
    planned: list[Pending] = field(default_factory=list)


def map_orders(
    items: list[Pending],
    config: DestinationConfig,
    identity: Callable[[str], str | None],
) -> OrderPlan:
    """Orders → `order_placed`/`order_cancelled` activities and/or `orders` objects."""
    plan = OrderPlan()
    kept, plan.dropped = newest_only(items, key=lambda i: i.key, version=lambda i: i.version)
    for item in kept:
        mapped = map_order(item.record, config, identity)
        if mapped.rejected:
            errors = [i for i in mapped.issues if i.severity == "error"]
            plan.rejected.append((item, *issue_summary(errors)))
            continue
        plan.warnings += [(item, issue) for issue in mapped.issues]
        if mapped.skipped:
            plan.skipped.append((item, mapped.skipped_reason or "skipped"))
            continue
        plan.sends["activities"] += [(a.to_api(), item) for a in mapped.activities]
        if mapped.object is not None:
            plan.sends["objects"].append((mapped.object.to_api(), item))
        plan.planned.append(item)
    return plan
