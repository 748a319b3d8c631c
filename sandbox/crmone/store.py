"""CRM One's data and rules, as CONTRACT.md states them (no HTTP here)."""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
LOCALE = re.compile(r"^[a-z]{2,3}(-[A-Z][a-z]{3})?(-([A-Z]{2}|\d{3}))?$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
CHANNELS = {"email", "sms", "phone", "post", "push"}
ACTIVITY_TYPES = [
    "order_placed",
    "order_updated",
    "order_cancelled",
    "order_returned",
    "checkout_started",
    "cart_abandoned",
    "note",
]
LIFECYCLE = ["subscriber", "lead", "customer", "repeat_customer"]


def now() -> str:
    moment = datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def contact_properties(stores: list[str]) -> list[dict[str, Any]]:
    def prop(name: str, type_: str, **extra: Any) -> dict[str, Any]:
        return {
            "name": name,
            "type": type_,
            "required": False,
            "unique": False,
            "read_only": False,
            "segmentation": False,
            **extra,
        }

    return [
        prop("external_id", "string", unique=True),
        prop("email", "email", unique=True),
        *(
            prop(n, "string")
            for n in (
                "first_name",
                "last_name",
                "salutation",
                "title",
                "company",
                "vat_id",
                "street",
                "postal_code",
                "city",
                "region",
            )
        ),
        prop("phone", "phone"),
        prop("mobile_phone", "phone"),
        prop("birth_date", "date"),
        prop("country", "country"),
        prop("locale", "locale"),
        prop("store", "enum", options=list(stores), segmentation=True),
        prop("stores", "multi_enum", options=list(stores), segmentation=True),
        prop("customer_group", "string", segmentation=True),
        prop("lifecycle_stage", "enum", options=LIFECYCLE),
        prop("last_order_at", "datetime"),
        prop("order_count", "integer"),
        prop("total_spent", "money"),
        prop("source_created_at", "datetime"),
        prop("source_updated_at", "datetime"),
    ]


ORDER_OBJECT_PROPERTIES = [
    {"name": "order_number", "type": "string"},
    {"name": "order_state", "type": "string"},
    {"name": "payment_state", "type": "string"},
    {"name": "shipment_state", "type": "string"},
    {"name": "store", "type": "enum"},
    {"name": "currency", "type": "currency"},
    {"name": "total", "type": "money"},
    {"name": "subtotal", "type": "money"},
    {"name": "line_items", "type": "integer"},
    {"name": "placed_at", "type": "datetime"},
    {"name": "completed_at", "type": "datetime"},
    {"name": "source_created_at", "type": "datetime"},
    {"name": "source_updated_at", "type": "datetime"},
]


class RecordError(Exception):
    def __init__(
        self, code: str, message: str, field: str | None = None, status: int = 422, **extra: Any
    ) -> None:
        super().__init__(message)
        self.code, self.field, self.status, self.extra = code, field, status, extra


def check_value(definition: dict[str, Any], value: Any) -> None:
    """Raise RecordError when a value does not fit its property type."""
    if value is None:
        return
    name, type_ = definition["name"], definition["type"]

    def bad(code: str = "invalid_value") -> RecordError:
        return RecordError(code, f"{name}: {value!r} is not a valid {type_}", name)

    if type_ in ("string",) and (not isinstance(value, str) or len(value) > 1024):
        raise bad()
    if type_ == "text" and not isinstance(value, str):
        raise bad()
    if type_ == "email" and not (isinstance(value, str) and EMAIL.match(value)):
        raise bad("invalid_email")
    if type_ == "phone" and not (isinstance(value, str) and E164.match(value)):
        raise bad("invalid_phone")
    if type_ == "enum" and value not in definition.get("options", []):
        raise bad("invalid_enum")
    if type_ == "multi_enum" and (
        not isinstance(value, list) or any(v not in definition.get("options", []) for v in value)
    ):
        raise bad("invalid_enum")
    if type_ == "country" and not (isinstance(value, str) and re.fullmatch(r"[A-Z]{2}", value)):
        raise bad()
    if type_ == "locale" and not (isinstance(value, str) and LOCALE.match(value)):
        raise bad()
    if type_ == "date" and not (isinstance(value, str) and DATE.match(value)):
        raise bad()
    if type_ == "datetime":
        try:
            instant(value)
        except (TypeError, ValueError, AttributeError):
            raise bad() from None
    if type_ == "integer" and (not isinstance(value, int) or isinstance(value, bool)):
        raise bad()
    if type_ == "number" and (not isinstance(value, int | float) or isinstance(value, bool)):
        raise bad()
    if type_ == "boolean" and not isinstance(value, bool):
        raise bad()
    if type_ == "currency" and not (isinstance(value, str) and re.fullmatch(r"[A-Z]{3}", value)):
        raise bad()
    if type_ == "money" and not (
        isinstance(value, dict)
        and isinstance(value.get("amount"), str)
        and re.fullmatch(r"-?\d+(\.\d+)?", value["amount"])
        and re.fullmatch(r"[A-Z]{3}", str(value.get("currency")))
    ):
        raise bad()


@dataclass
class Contact:
    id: str
    external_id: str | None
    properties: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, dict[str, str]] = field(default_factory=dict)
    version: int = 1
    archived: bool = False
    erased_at: str | None = None

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "external_id": self.external_id,
            "version": self.version,
            "archived": self.archived,
            "properties": dict(self.properties),
            "property_meta": {k: dict(v) for k, v in self.meta.items()},
        }


class CrmData:
    """Every tenant object, guarded by one lock."""

    def __init__(self, stores: tuple[str, ...]) -> None:
        self.lock = threading.RLock()
        self.schema = contact_properties(list(stores))
        self.stores = list(stores)
        self.contacts: dict[str, Contact] = {}
        self.by_external: dict[str, str] = {}
        self.by_email: dict[str, str] = {}
        self.erased_external: set[str] = set()
        self.consents: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
        self.activities: dict[str, dict[str, Any]] = {}
        self.objects: dict[str, dict[str, dict[str, Any]]] = {"orders": {}}
        self.lists: dict[str, dict[str, Any]] = {
            "l_eu_newsletter": {"id": "l_eu_newsletter", "name": "EU newsletter", "kind": "static"},
            "l_us_newsletter": {"id": "l_us_newsletter", "name": "US newsletter", "kind": "static"},
            "l_vip": {"id": "l_vip", "name": "VIP", "kind": "pipeline"},
        }
        self.members: dict[str, set[str]] = {key: set() for key in self.lists}
        self._counter = 0

    def _new_id(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}_{self._counter:08d}"

    def definition(self, name: str) -> dict[str, Any] | None:
        return next((p for p in self.schema if p["name"] == name), None)

    # --- contacts ------------------------------------------------------------------

    def find(self, external_id: str | None = None, email: str | None = None) -> Contact | None:
        cid = self.by_external.get(external_id or "") if external_id else None
        if cid is None and email:
            cid = self.by_email.get(email.lower())
        return self.contacts.get(cid) if cid else None

    def upsert_contact(
        self,
        record: dict[str, Any],
        id_property: str,
        allow_recreate: bool,
        updated_by: str = "integration",
    ) -> tuple[Contact, str]:
        properties = record.get("properties") or {}
        if not isinstance(properties, dict):
            raise RecordError("invalid_value", "properties must be an object", "properties")
        external_id = record.get("external_id") or properties.get("external_id")
        email = properties.get("email")
        for name, value in properties.items():
            definition = self.definition(name)
            if definition is None:
                raise RecordError("unknown_property", f"unknown property {name!r}", name)
            check_value(definition, value)
        if id_property == "external_id":
            if not external_id:
                raise RecordError("invalid_value", "external_id is required", "external_id")
            if external_id in self.erased_external and not allow_recreate:
                raise RecordError("erased", "this contact was erased", "external_id")
            contact = self.find(external_id=external_id)
        elif id_property == "email":
            if not email:
                raise RecordError("invalid_value", "email is required", "email")
            contact = self.find(email=email)
            if contact and external_id and contact.external_id not in (None, external_id):
                raise RecordError(
                    "email_conflict",
                    "email belongs to another contact",
                    "email",
                    status=409,
                    existing_id=contact.id,
                )
        else:
            raise RecordError(
                "invalid_value",
                "id_property must be external_id or email",
                "id_property",
                status=400,
            )
        if email:
            owner = self.by_email.get(str(email).lower())
            if owner and (contact is None or owner != contact.id):
                raise RecordError(
                    "email_conflict",
                    "email belongs to another contact",
                    "email",
                    status=409,
                    existing_id=owner,
                )
        status = "updated"
        if contact is None:
            contact = Contact(self._new_id("c"), external_id)
            self.contacts[contact.id] = contact
            status = "created"
        if external_id and not contact.external_id:
            contact.external_id = external_id
            self.by_external[external_id] = contact.id
        if status == "created" and external_id:
            self.by_external[external_id] = contact.id
        changed = status == "created" or contact.archived
        contact.archived = False
        stamp = now()
        for name, value in properties.items():
            if name == "external_id":
                continue
            if contact.properties.get(name) != value or name not in contact.properties:
                if name == "email":
                    old = contact.properties.get("email")
                    if old:
                        self.by_email.pop(str(old).lower(), None)
                    if value:
                        self.by_email[str(value).lower()] = contact.id
                contact.properties[name] = value
                contact.meta[name] = {"updated_at": stamp, "updated_by": updated_by}
                changed = True
        if status == "updated" and not changed:
            return contact, "unchanged"
        if status == "updated":
            contact.version += 1
        return contact, status

    def archive(self, contact: Contact) -> None:
        contact.archived = True
        contact.version += 1

    def erase(self, contact: Contact) -> None:
        if contact.external_id:
            self.erased_external.add(contact.external_id)
            self.by_external.pop(contact.external_id, None)
        email = contact.properties.get("email")
        if email:
            self.by_email.pop(str(email).lower(), None)
        digest = hashlib.sha256((contact.external_id or "").encode()).hexdigest()
        contact.external_id = f"sha256:{digest}"
        contact.properties, contact.meta = {}, {}
        contact.erased_at = now()
        self.consents.pop(contact.id, None)
        for activity in self.activities.values():
            if activity["contact_id"] == contact.id:
                activity["properties"] = {}
                activity["subject"] = None

    # --- consents, activities, objects, lists -------------------------------------

    def apply_consent(self, record: dict[str, Any]) -> str:
        contact = self.find(external_id=record.get("contact_external_id"))
        if contact is None or contact.erased_at:
            raise RecordError(
                "contact_not_found",
                "no contact with that external_id",
                "contact_external_id",
                status=404,
            )
        if record.get("channel") not in CHANNELS:
            raise RecordError("invalid_value", "unknown channel", "channel")
        purpose = record.get("purpose")
        if not isinstance(purpose, str) or not 0 < len(purpose) <= 64:
            raise RecordError("invalid_value", "purpose must be 1-64 characters", "purpose")
        if record.get("status") not in ("granted", "withdrawn"):
            raise RecordError("invalid_value", "status must be granted or withdrawn", "status")
        try:
            new_at = instant(record["updated_at"])
        except (KeyError, TypeError, ValueError):
            raise RecordError(
                "invalid_value", "updated_at must be RFC 3339", "updated_at"
            ) from None
        key = (record["channel"], purpose)
        held = self.consents.setdefault(contact.id, {})
        current = held.get(key)
        value = {
            "channel": record["channel"],
            "purpose": purpose,
            "status": record["status"],
            "updated_at": record["updated_at"],
            "source": record.get("source"),
            "evidence": record.get("evidence"),
        }
        if current:
            old_at = instant(current["updated_at"])
            if new_at < old_at:
                return "stale"
            if new_at == old_at and current["status"] == value["status"]:
                return "unchanged"
        held[key] = value
        return "applied"

    def upsert_activity(self, record: dict[str, Any]) -> str:
        external_id = record.get("external_id")
        if not external_id:
            raise RecordError("invalid_value", "external_id is required", "external_id")
        if record.get("type") not in ACTIVITY_TYPES:
            raise RecordError(
                "unknown_activity_type", f"unknown type {record.get('type')!r}", "type"
            )
        contact = self.find(
            external_id=record.get("contact_external_id"), email=record.get("contact_email")
        )
        if contact is None or contact.erased_at:
            raise RecordError(
                "contact_not_found",
                "no contact for this activity",
                "contact_external_id",
                status=404,
            )
        if record.get("amount") is not None:
            check_value({"name": "amount", "type": "money"}, record["amount"])
        value = {
            k: record.get(k)
            for k in (
                "external_id",
                "type",
                "occurred_at",
                "subject",
                "amount",
                "store",
                "properties",
            )
        }
        value["contact_id"] = contact.id
        current = self.activities.get(external_id)
        if current == value:
            return "unchanged"
        self.activities[external_id] = value
        return "updated" if current else "created"

    def upsert_object(self, type_: str, record: dict[str, Any]) -> str:
        external_id = record.get("external_id")
        if not external_id:
            raise RecordError("invalid_value", "external_id is required", "external_id")
        names = {p["name"] for p in ORDER_OBJECT_PROPERTIES}
        for name in record.get("properties") or {}:
            if name not in names:
                raise RecordError("unknown_property", f"unknown property {name!r}", name)
        contact = self.find(
            external_id=record.get("contact_external_id"), email=record.get("contact_email")
        )
        if contact is None:
            raise RecordError(
                "contact_not_found", "no contact for this object", "contact_external_id", status=404
            )
        value = {
            "external_id": external_id,
            "contact_id": contact.id,
            "properties": record.get("properties") or {},
        }
        current = self.objects[type_].get(external_id)
        if current == value:
            return "unchanged"
        self.objects[type_][external_id] = value
        return "updated" if current else "created"
