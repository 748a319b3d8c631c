"""CRM One's tenant data and the contract's rules for changing it (no HTTP here).

Every public method expects the caller to hold `CrmData.lock`; the server takes it once per
request, so a batch is applied atomically. Indexes by id, external_id and email keep every
lookup O(1) for tens of thousands of contacts.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

from sandbox.crmone.schema import (
    ACTIVITY_TYPES,
    CONSENT_CHANNELS,
    CONSENT_STATUSES,
    RecordError,
    check_value,
    contact_properties,
    format_instant,
    normalise,
    now,
    order_properties,
    parse_instant,
)

ID_MAX = 255
SEED_LISTS = (
    {"id": "l_eu_newsletter", "name": "EU newsletter", "kind": "static"},
    {"id": "l_us_newsletter", "name": "US newsletter", "kind": "static"},
    {"id": "l_vip", "name": "VIP customers", "kind": "static"},
    {"id": "l_win_back", "name": "Win-back pipeline", "kind": "pipeline"},
)
Meta = dict[str, dict[str, str]]


def hashed(external_id: str) -> str:
    """What an erased contact's tombstone keeps of its external_id."""
    return "sha256:" + hashlib.sha256(external_id.encode()).hexdigest()


@dataclass
class Contact:
    id: str
    external_id: str | None
    created_at: str
    properties: dict[str, Any] = field(default_factory=dict)
    meta: Meta = field(default_factory=dict)
    version: int = 1
    archived: bool = False
    updated_at: str = ""
    source_updated_at: str | None = None

    def view(self, wanted: list[str] | None = None) -> dict[str, Any]:
        """The contact as `batch/read` and `GET /v1/contacts/{id}` return it."""
        names = self.properties if wanted is None else [n for n in wanted if n in self.properties]
        metas = self.meta if wanted is None else [n for n in wanted if n in self.meta]
        return {
            "id": self.id,
            "external_id": self.external_id,
            "version": self.version,
            "archived": self.archived,
            "created_at": self.created_at,
            "updated_at": self.updated_at or self.created_at,
            "source_updated_at": self.source_updated_at,
            "properties": {name: self.properties[name] for name in names},
            "property_meta": {name: dict(self.meta[name]) for name in metas},
        }


@dataclass
class RelatedObject:
    id: str
    type: str
    external_id: str
    contact_id: str
    created_at: str
    properties: dict[str, Any] = field(default_factory=dict)
    meta: Meta = field(default_factory=dict)
    version: int = 1
    updated_at: str = ""


def apply_properties(
    properties: dict[str, Any], meta: Meta, changes: dict[str, Any], by: str, stamp: str
) -> bool:
    """Absent = leave, null = clear, else set; property_meta records who and when. Changed?"""
    changed = False
    for name, value in changes.items():
        if value is None:
            if name not in properties:
                continue
            del properties[name]
        elif name in properties and properties[name] == value:
            continue
        else:
            properties[name] = value
        meta[name] = {"updated_at": stamp, "updated_by": by}
        changed = True
    return changed


def _identifier(value: Any, name: str, required: bool) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > ID_MAX:
        raise RecordError("invalid_value", f"{name} must be a non-empty string ≤ {ID_MAX}", name)
    return value


class CrmData:
    """Everything one tenant holds, guarded by `lock`."""

    def __init__(self, stores: tuple[str, ...]) -> None:
        self.lock = threading.RLock()
        self.stores = list(stores)
        self.schema: dict[str, dict[str, Any]] = {
            d["name"]: d for d in contact_properties(self.stores)
        }
        self.object_types: dict[str, dict[str, dict[str, Any]]] = {
            "orders": {d["name"]: d for d in order_properties(self.stores)}
        }
        self.contacts: dict[str, Contact] = {}
        self.by_external: dict[str, str] = {}
        self.by_email: dict[str, str] = {}
        self.tombstones: dict[str, dict[str, str]] = {}
        self.erased: set[str] = set()  # hashed external_ids
        self.consents: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
        self.activities: dict[str, dict[str, Any]] = {}
        self.activities_by_contact: dict[str, set[str]] = {}
        self.objects: dict[str, dict[str, RelatedObject]] = {t: {} for t in self.object_types}
        self.lists: dict[str, dict[str, str]] = {item["id"]: dict(item) for item in SEED_LISTS}
        self.members: dict[str, set[str]] = {list_id: set() for list_id in self.lists}
        self._last_id = 0

    def _new_id(self, prefix: str) -> str:
        self._last_id += 1
        return f"{prefix}_{self._last_id:010d}"

    # --- schema ----------------------------------------------------------------------

    def add_property(self, definition: dict[str, Any]) -> bool:
        """Add a custom contact property; False when the name exists."""
        if definition["name"] in self.schema:
            return False
        self.schema[definition["name"]] = definition
        return True

    def _validated(self, changes: Any, definitions: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """Every property known, writable and of its type: the normalised changes."""
        if not isinstance(changes, dict):
            raise RecordError("invalid_value", "properties must be an object", "properties")
        clean = {}
        for name, value in changes.items():
            definition = definitions.get(name)
            if definition is None:
                raise RecordError("unknown_property", f"unknown property {name!r}", name)
            if definition.get("read_only"):
                raise RecordError("invalid_value", f"{name} is read-only", name)
            check_value(definition, value)
            clean[name] = normalise(definition, value)
        return clean

    # --- contacts --------------------------------------------------------------------

    def contact_by(self, external_id: Any = None, email: Any = None) -> Contact | None:
        contact_id = None
        if isinstance(external_id, str):
            contact_id = self.by_external.get(external_id)
        if contact_id is None and isinstance(email, str):
            contact_id = self.by_email.get(email.strip().lower())
        return self.contacts.get(contact_id) if contact_id else None

    def upsert_contact(
        self, record: Any, id_property: str, allow_recreate_erased: bool = False
    ) -> tuple[Contact, str]:
        """One record of `POST /v1/contacts/batch/upsert`: the contact and its status."""
        if not isinstance(record, dict):
            raise RecordError("invalid_value", "a record must be an object")
        external_id = _identifier(
            record.get("external_id"), "external_id", id_property == "external_id"
        )
        raw = record.get("properties", {})
        if isinstance(raw, dict) and "external_id" in raw:
            if raw["external_id"] != external_id:
                raise RecordError("invalid_value", "external_id is read-only", "external_id")
            raw = {k: v for k, v in raw.items() if k != "external_id"}
        changes = self._validated(raw, self.schema)
        source_updated_at = record.get("source_updated_at")
        if source_updated_at is not None:
            check_value({"name": "source_updated_at", "type": "datetime"}, source_updated_at)
        if external_id and hashed(external_id) in self.erased and not allow_recreate_erased:
            raise RecordError("erased", "this contact was erased (GDPR)", "external_id", status=410)
        contact = self._match(record, id_property, external_id, changes)
        self._check_email_owner(changes.get("email"), contact)
        stamp = now()
        status = "updated"
        if contact is None:
            contact = Contact(self._new_id("c"), None, created_at=stamp)
            self.contacts[contact.id] = contact
            status = "created"
        changed = status == "created" or contact.archived
        contact.archived = False
        if external_id and contact.external_id is None:
            contact.external_id = external_id
            self.by_external[external_id] = contact.id
            self.erased.discard(hashed(external_id))
            changed = True
        changed = self._change(contact, changes, "integration", stamp) or changed
        if source_updated_at is not None:
            contact.source_updated_at = source_updated_at
        if status == "created":
            return contact, status
        if not changed:
            return contact, "unchanged"
        contact.version += 1
        contact.updated_at = stamp
        return contact, status

    def _check_email_owner(self, email: Any, contact: Contact | None) -> None:
        """An email is unique per tenant: another contact's email is an `email_conflict`."""
        owner = self.by_email.get(email) if email else None
        if owner and (contact is None or owner != contact.id):
            raise RecordError(
                "email_conflict",
                "the email belongs to another contact",
                "email",
                status=409,
                existing_id=owner,
            )

    def _match(
        self, record: dict[str, Any], id_property: str, external_id: str | None, changes: dict
    ) -> Contact | None:
        """The existing contact a record names, by its match key (None: create one)."""
        if id_property == "external_id":
            return self.contact_by(external_id=external_id)
        email = changes.get("email") or record.get("email")
        if not isinstance(email, str) or not email:
            raise RecordError("invalid_value", "email is the match key and is missing", "email")
        check_value(self.schema["email"], email)
        email = email.strip().lower()
        changes.setdefault("email", email)
        contact = self.contact_by(email=email)
        holder = self.by_external.get(external_id) if external_id else None
        if contact and external_id and contact.external_id not in (None, external_id):
            raise RecordError(
                "email_conflict",
                "the email belongs to a contact with another external_id",
                "email",
                status=409,
                existing_id=contact.id,
            )
        if holder and (contact is None or holder != contact.id):
            raise RecordError(
                "external_id_conflict",
                "the external_id belongs to a contact with another email",
                "external_id",
                status=409,
                existing_id=holder,
            )
        return contact

    def _change(self, contact: Contact, changes: dict[str, Any], by: str, stamp: str) -> bool:
        """Apply validated property changes, keeping the email index right."""
        if "email" in changes:
            old, new = contact.properties.get("email"), changes["email"]
            if old != new:
                if old:
                    self.by_email.pop(old, None)
                if new:
                    self.by_email[new] = contact.id
        return apply_properties(contact.properties, contact.meta, changes, by, stamp)

    def edit_contact(self, contact: Contact, properties: Any, by: str) -> bool:
        """A PATCH (by `integration`) or a person's edit (`user`/`import`). Changed?"""
        changes = self._validated(properties, self.schema)
        self._check_email_owner(changes.get("email"), contact)
        stamp = now()
        if not self._change(contact, changes, by, stamp):
            return False
        contact.version += 1
        contact.updated_at = stamp
        return True

    def archive(self, contact: Contact) -> None:
        if not contact.archived:
            contact.archived = True
            contact.version += 1
            contact.updated_at = now()

    def erase(self, contact: Contact) -> dict[str, str]:
        """GDPR erasure: only a tombstone (id, hashed external_id, erased_at) remains."""
        del self.contacts[contact.id]
        if contact.external_id:
            self.by_external.pop(contact.external_id, None)
            self.erased.add(hashed(contact.external_id))
        if contact.properties.get("email"):
            self.by_email.pop(contact.properties["email"], None)
        self.consents.pop(contact.id, None)
        for members in self.members.values():
            members.discard(contact.id)
        for external_id in self.activities_by_contact.get(contact.id, ()):
            activity = self.activities[external_id]
            for name in ("subject", "amount", "store", "properties"):
                activity[name] = None
        for objects in self.objects.values():
            for item in objects.values():
                if item.contact_id == contact.id:
                    item.properties, item.meta = {}, {}
        tombstone = {
            "id": contact.id,
            "external_id": hashed(contact.external_id or contact.id),
            "erased_at": now(),
        }
        self.tombstones[contact.id] = tombstone
        return tombstone

    # --- consents --------------------------------------------------------------------

    def apply_consent(self, record: Any) -> str:
        """One consent record: `applied`, `stale` (older than held) or `unchanged`."""
        if not isinstance(record, dict):
            raise RecordError("invalid_value", "a record must be an object")
        channel, purpose, status = (
            record.get("channel"),
            record.get("purpose"),
            record.get("status"),
        )
        if channel not in CONSENT_CHANNELS:
            raise RecordError(
                "invalid_value", f"channel: one of {sorted(CONSENT_CHANNELS)}", "channel"
            )
        if not isinstance(purpose, str) or not 0 < len(purpose) <= 64:
            raise RecordError("invalid_value", "purpose: a string of 1 to 64 characters", "purpose")
        if status not in CONSENT_STATUSES:
            raise RecordError("invalid_value", "status: granted or withdrawn", "status")
        try:
            moment = parse_instant(record.get("updated_at"))
        except ValueError:
            raise RecordError("invalid_value", "updated_at: RFC 3339", "updated_at") from None
        source = record.get("source")
        if source is not None and not isinstance(source, str):
            raise RecordError("invalid_value", "source: a string", "source")
        evidence = record.get("evidence")
        if evidence is not None and not isinstance(evidence, dict):
            raise RecordError("invalid_value", "evidence: an object", "evidence")
        contact = self.contact_by(external_id=record.get("contact_external_id"))
        if contact is None:
            raise RecordError(
                "contact_not_found", "no contact with this external_id", "contact_external_id", 404
            )
        held = self.consents.setdefault(contact.id, {})
        current = held.get((channel, purpose))
        value = {
            "channel": channel,
            "purpose": purpose,
            "status": status,
            "updated_at": format_instant(moment),
            "source": source,
            "evidence": evidence,
        }
        if current is not None:
            held_at = parse_instant(current["updated_at"])
            if moment < held_at:
                return "stale"
            if moment == held_at and all(
                current[k] == value[k] for k in ("status", "source", "evidence")
            ):
                return "unchanged"
        held[(channel, purpose)] = value | {"recorded_at": now()}
        return "applied"

    # --- activities ------------------------------------------------------------------

    def upsert_activity(self, record: Any) -> str:
        """Idempotent by external_id: `created`, `updated` or `unchanged`."""
        if not isinstance(record, dict):
            raise RecordError("invalid_value", "a record must be an object")
        external_id = _identifier(record.get("external_id"), "external_id", True)
        if record.get("type") not in ACTIVITY_TYPES:
            raise RecordError(
                "unknown_activity_type", f"unknown activity type {record.get('type')!r}", "type"
            )
        check_value({"name": "occurred_at", "type": "datetime"}, record.get("occurred_at"))
        if record.get("occurred_at") is None:
            raise RecordError("invalid_value", "occurred_at is required", "occurred_at")
        check_value({"name": "subject", "type": "string"}, record.get("subject"))
        check_value({"name": "amount", "type": "money"}, record.get("amount"))
        check_value({"name": "store", "type": "enum", "options": self.stores}, record.get("store"))
        if not isinstance(record.get("properties") or {}, dict):
            raise RecordError("invalid_value", "properties must be an object", "properties")
        contact = self.contact_by(record.get("contact_external_id"), record.get("contact_email"))
        if contact is None:
            raise RecordError(
                "contact_not_found",
                "neither contact_external_id nor contact_email names a contact",
                "contact_external_id",
                404,
            )
        payload = {
            "external_id": external_id,
            "type": record["type"],
            "occurred_at": format_instant(parse_instant(record["occurred_at"])),
            "subject": record.get("subject"),
            "amount": record.get("amount"),
            "store": record.get("store"),
            "properties": record.get("properties") or {},
            "contact_id": contact.id,
        }
        current = self.activities.get(external_id)
        stamp = now()
        if current is None:
            self.activities[external_id] = payload | {
                "id": self._new_id("a"),
                "created_at": stamp,
                "updated_at": stamp,
            }
            self.activities_by_contact.setdefault(contact.id, set()).add(external_id)
            return "created"
        if all(current[k] == v for k, v in payload.items()):
            return "unchanged"
        if current["contact_id"] != contact.id:
            self.activities_by_contact.get(current["contact_id"], set()).discard(external_id)
            self.activities_by_contact.setdefault(contact.id, set()).add(external_id)
        current.update(payload, updated_at=stamp)
        return "updated"

    def activity_view(self, activity: dict[str, Any]) -> dict[str, Any]:
        contact = self.contacts.get(activity["contact_id"])
        return {k: v for k, v in activity.items()} | {
            "contact_external_id": contact.external_id if contact else None
        }

    def contact_activities(self, contact_id: str, type_: str | None = None) -> list[dict]:
        """A contact's activities, newest first."""
        found = [
            self.activities[external_id]
            for external_id in self.activities_by_contact.get(contact_id, ())
            if type_ is None or self.activities[external_id]["type"] == type_
        ]
        found.sort(key=lambda a: (a["occurred_at"], a["id"]), reverse=True)
        return [self.activity_view(a) for a in found]

    # --- related objects -------------------------------------------------------------

    def upsert_object(self, type_: str, record: Any) -> tuple[RelatedObject, str]:
        """Same rules as contacts, associated to the contact the record names."""
        if not isinstance(record, dict):
            raise RecordError("invalid_value", "a record must be an object")
        external_id = _identifier(record.get("external_id"), "external_id", True)
        changes = self._validated(record.get("properties", {}), self.object_types[type_])
        contact = self.contact_by(record.get("contact_external_id"), record.get("contact_email"))
        if contact is None:
            raise RecordError(
                "contact_not_found",
                "neither contact_external_id nor contact_email names a contact",
                "contact_external_id",
                404,
            )
        stamp = now()
        item = self.objects[type_].get(external_id)
        if item is None:
            item = RelatedObject(self._new_id("o"), type_, external_id, contact.id, stamp)
            apply_properties(item.properties, item.meta, changes, "integration", stamp)
            self.objects[type_][external_id] = item
            return item, "created"
        moved = item.contact_id != contact.id
        item.contact_id = contact.id
        changed = apply_properties(item.properties, item.meta, changes, "integration", stamp)
        if not (changed or moved):
            return item, "unchanged"
        item.version += 1
        item.updated_at = stamp
        return item, "updated"

    def object_view(self, item: RelatedObject) -> dict[str, Any]:
        contact = self.contacts.get(item.contact_id)
        return {
            "id": item.id,
            "type": item.type,
            "external_id": item.external_id,
            "contact_id": item.contact_id,
            "contact_external_id": contact.external_id if contact else None,
            "version": item.version,
            "created_at": item.created_at,
            "updated_at": item.updated_at or item.created_at,
            "properties": dict(item.properties),
            "property_meta": {k: dict(v) for k, v in item.meta.items()},
        }

    # --- lists -----------------------------------------------------------------------

    def change_members(self, list_id: str, add: list, remove: list) -> dict[str, Any]:
        members, added, removed, errors = self.members[list_id], 0, 0, []
        for external_id, adding in [(e, True) for e in add] + [(e, False) for e in remove]:
            if not isinstance(external_id, str):
                errors.append({"external_id": external_id, "code": "invalid_value"})
                continue
            contact = self.contact_by(external_id=external_id)
            if contact is None:
                errors.append({"external_id": external_id, "code": "contact_not_found"})
            elif adding and contact.id not in members:
                members.add(contact.id)
                added += 1
            elif not adding and contact.id in members:
                members.discard(contact.id)
                removed += 1
        return {"added": added, "removed": removed, "errors": errors}

    def visible_members(self, list_id: str) -> list[str]:
        """External ids of a list's members; archived contacts are hidden, not removed."""
        found = (self.contacts[c] for c in self.members[list_id])
        return sorted(c.external_id or c.id for c in found if not c.archived)

    def memberships(self, contact_id: str) -> list[str]:
        return sorted(list_id for list_id, ids in self.members.items() if contact_id in ids)

    # --- snapshots -------------------------------------------------------------------

    def consent_views(self, contact_id: str) -> list[dict[str, Any]]:
        held = self.consents.get(contact_id, {})
        return [dict(held[key]) for key in sorted(held)]

    def dump(self) -> dict[str, Any]:
        """Everything, JSON-ready, keyed by contact external_id where one exists."""
        return {
            "contacts": [c.view() for c in self.contacts.values()],
            "tombstones": list(self.tombstones.values()),
            "consents": {
                self._name(cid): self.consent_views(cid)
                for cid in self.consents
                if self.consents[cid]
            },
            "activities": [self.activity_view(a) for a in self.activities.values()],
            "objects": {
                t: [self.object_view(o) for o in items.values()]
                for t, items in self.objects.items()
            },
            "lists": [
                dict(item, members=self.visible_members(list_id))
                for list_id, item in self.lists.items()
            ],
            "schema": {"contacts": list(self.schema.values())},
        }

    def _name(self, contact_id: str) -> str:
        contact = self.contacts.get(contact_id)
        return (contact.external_id or contact.id) if contact else contact_id

    # --- persistence (the CLI's --state-file) ------------------------------------------

    def state(self) -> dict[str, Any]:
        """Everything needed to restore this tenant after a restart, JSON-ready."""
        standard = {d["name"] for d in contact_properties(self.stores)}
        return {
            "version": 1,
            "last_id": self._last_id,
            "custom_properties": [d for n, d in self.schema.items() if n not in standard],
            "contacts": [asdict(c) for c in self.contacts.values()],
            "tombstones": list(self.tombstones.values()),
            "erased": sorted(self.erased),
            "consents": [
                {"contact_id": cid, **value}
                for cid, held in self.consents.items()
                for value in held.values()
            ],
            "activities": list(self.activities.values()),
            "objects": {
                t: [asdict(o) for o in items.values()] for t, items in self.objects.items()
            },
            "members": {list_id: sorted(ids) for list_id, ids in self.members.items()},
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Load what `state()` wrote (into a fresh CrmData)."""
        self._last_id = int(state["last_id"])
        for definition_ in state["custom_properties"]:
            self.add_property(definition_)
        for item in state["contacts"]:
            contact = Contact(**item)
            self.contacts[contact.id] = contact
            if contact.external_id:
                self.by_external[contact.external_id] = contact.id
            if contact.properties.get("email"):
                self.by_email[contact.properties["email"]] = contact.id
        self.tombstones = {t["id"]: dict(t) for t in state["tombstones"]}
        self.erased = set(state["erased"])
        for item in state["consents"]:
            value = {k: v for k, v in item.items() if k != "contact_id"}
            held = self.consents.setdefault(item["contact_id"], {})
            held[(value["channel"], value["purpose"])] = value
        for activity in state["activities"]:
            self.activities[activity["external_id"]] = dict(activity)
            by_contact = self.activities_by_contact.setdefault(activity["contact_id"], set())
            by_contact.add(activity["external_id"])
        for type_, items in state["objects"].items():
            if type_ in self.objects:
                self.objects[type_] = {o["external_id"]: RelatedObject(**o) for o in items}
        for list_id, ids in state["members"].items():
            if list_id in self.members:
                self.members[list_id] = {cid for cid in ids if cid in self.contacts}
