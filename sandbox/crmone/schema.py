"""Property definitions and value checks: the contract's "Contact schema" section.

`check_value` is the one place that decides whether a value fits a property type; contacts,
objects and activities all go through it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import langcodes
import phonenumbers
import pycountry
from email_validator import EmailNotValidError, validate_email

TYPES = frozenset(
    {
        "string",
        "text",
        "number",
        "integer",
        "boolean",
        "date",
        "datetime",
        "email",
        "phone",
        "enum",
        "multi_enum",
        "country",
        "locale",
        "currency",
        "money",
    }
)
LIFECYCLE_STAGES = ("subscriber", "lead", "customer", "repeat_customer")
ACTIVITY_TYPES = (
    "order_placed",
    "order_updated",
    "order_cancelled",
    "order_returned",
    "checkout_started",
    "cart_abandoned",
    "note",
)
CONSENT_CHANNELS = frozenset({"email", "sms", "phone", "post", "push"})
CONSENT_STATUSES = frozenset({"granted", "withdrawn"})
PROPERTY_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
AMOUNT = re.compile(r"^-?\d{1,15}(\.\d{1,6})?$")
STRING_MAX = 1024


def now() -> str:
    """The current instant as the contract writes timestamps (RFC 3339, UTC, milliseconds)."""
    return format_instant(datetime.now(UTC))


def format_instant(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_instant(value: Any) -> datetime:
    """An RFC 3339 timestamp with a zone; raises ValueError for anything else."""
    if not isinstance(value, str) or "T" not in value:
        raise ValueError(f"not an RFC 3339 timestamp: {value!r}")
    moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"timestamp without a zone: {value!r}")
    return moment


def definition(name: str, type_: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "type": type_,
        "required": False,
        "unique": False,
        "read_only": False,
        "segmentation": False,
        **extra,
    }


def contact_properties(stores: list[str]) -> list[dict[str, Any]]:
    """Every standard contact property a tenant has, `store`/`stores` options = its stores."""
    strings = ("first_name", "last_name", "salutation", "title", "company", "vat_id")
    address = ("street", "postal_code", "city", "region")
    return [
        definition("external_id", "string", unique=True, read_only=True),
        definition("email", "email", unique=True),
        *(definition(name, "string") for name in strings[:4]),
        definition("phone", "phone"),
        definition("mobile_phone", "phone"),
        definition("birth_date", "date"),
        *(definition(name, "string") for name in strings[4:]),
        *(definition(name, "string") for name in address),
        definition("country", "country"),
        definition("locale", "locale"),
        definition("store", "enum", options=list(stores), segmentation=True),
        definition("stores", "multi_enum", options=list(stores), segmentation=True),
        definition("customer_group", "string", segmentation=True),
        definition("lifecycle_stage", "enum", options=list(LIFECYCLE_STAGES)),
        definition("last_order_at", "datetime"),
        definition("order_count", "integer"),
        definition("total_spent", "money"),
        definition("source_created_at", "datetime"),
        definition("source_updated_at", "datetime"),
    ]


def shipping_properties() -> list[dict[str, Any]]:
    """Custom properties a tenant may add for the shipping address (not standard: a tenant
    without them refuses a write naming one with `unknown_property`)."""
    return [
        *(definition(f"shipping_{name}", "string") for name in ("street", "postal_code")),
        *(definition(f"shipping_{name}", "string") for name in ("city", "region")),
        definition("shipping_country", "country"),
    ]


def order_properties(stores: list[str]) -> list[dict[str, Any]]:
    """The standard `orders` object type's properties."""
    return [
        definition("order_number", "string"),
        definition("order_state", "string"),
        definition("payment_state", "string"),
        definition("shipment_state", "string"),
        definition("store", "enum", options=list(stores), segmentation=True),
        definition("currency", "currency"),
        definition("total", "money"),
        definition("subtotal", "money"),
        definition("line_items", "integer"),
        definition("placed_at", "datetime"),
        definition("completed_at", "datetime"),
        definition("source_created_at", "datetime"),
        definition("source_updated_at", "datetime"),
    ]


def definition_problems(body: Any) -> list[dict[str, str]]:
    """What is wrong with a custom property definition (empty when it can be added)."""
    if not isinstance(body, dict):
        return [{"field": "", "code": "invalid_value", "message": "a JSON object is expected"}]
    problems = []
    name, type_ = body.get("name"), body.get("type")
    if not isinstance(name, str) or not PROPERTY_NAME.match(name):
        problems.append(
            {"field": "name", "code": "invalid_value", "message": "name: [a-z][a-z0-9_]{0,63}"}
        )
    if type_ not in TYPES:
        problems.append(
            {"field": "type", "code": "invalid_value", "message": f"type: one of {sorted(TYPES)}"}
        )
    options = body.get("options")
    if type_ in ("enum", "multi_enum") and not (
        isinstance(options, list) and options and all(isinstance(o, str) for o in options)
    ):
        problems.append(
            {"field": "options", "code": "invalid_value", "message": "options: list of strings"}
        )
    return problems


class RecordError(Exception):
    """One record of a batch failed; the batch goes on."""

    def __init__(
        self, code: str, message: str, field: str | None = None, status: int = 422, **extra: Any
    ) -> None:
        super().__init__(message)
        self.code, self.field, self.status, self.extra = code, field, status, extra

    def as_error(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "code": self.code,
            "field": self.field,
            "message": str(self),
            **self.extra,
        }


def normalise(definition: dict[str, Any], value: Any) -> Any:
    """The stored form of a valid value (emails lower-cased, as HubSpot does)."""
    if definition["type"] == "email" and isinstance(value, str):
        return value.strip().lower()
    return value


def check_value(definition: dict[str, Any], value: Any) -> None:
    """Raise RecordError when a non-null value does not fit its property's type."""
    if value is None:
        return
    name, type_ = definition["name"], definition["type"]
    code = _problem(type_, definition.get("options") or (), value)
    if code:
        shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
        raise RecordError(code, f"{name}: {shown} is not a valid {type_}", name)


def _problem(type_: str, options: Any, value: Any) -> str | None:
    """The error code for a value of a type, or None when it fits."""
    if type_ == "string":
        return None if isinstance(value, str) and len(value) <= STRING_MAX else "invalid_value"
    if type_ == "text":
        return None if isinstance(value, str) else "invalid_value"
    if type_ == "integer":
        return None if isinstance(value, int) and not isinstance(value, bool) else "invalid_value"
    if type_ == "number":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return None if ok else "invalid_value"
    if type_ == "boolean":
        return None if isinstance(value, bool) else "invalid_value"
    if type_ == "email":
        return None if _is_email(value) else "invalid_email"
    if type_ == "phone":
        return None if _is_e164(value) else "invalid_phone"
    if type_ == "enum":
        return None if isinstance(value, str) and value in options else "invalid_enum"
    if type_ == "multi_enum":
        ok = isinstance(value, list) and all(isinstance(v, str) and v in options for v in value)
        return None if ok else "invalid_enum"
    if type_ == "date":
        return None if _is_date(value) else "invalid_value"
    if type_ == "datetime":
        return None if _is_instant(value) else "invalid_value"
    if type_ == "country":
        ok = isinstance(value, str) and len(value) == 2 and value.isupper()
        return None if ok and pycountry.countries.get(alpha_2=value) else "invalid_value"
    if type_ == "currency":
        ok = isinstance(value, str) and len(value) == 3 and value.isupper()
        return None if ok and pycountry.currencies.get(alpha_3=value) else "invalid_value"
    if type_ == "locale":
        return None if isinstance(value, str) and langcodes.tag_is_valid(value) else "invalid_value"
    if type_ == "money":
        return None if _is_money(value) else "invalid_value"
    return "invalid_value"


def _is_email(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= 254 and _valid_email(value)


@lru_cache(maxsize=65536)
def _valid_email(value: str) -> bool:
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


def _is_e164(value: Any) -> bool:
    return isinstance(value, str) and bool(E164.match(value)) and _possible_phone(value)


@lru_cache(maxsize=65536)
def _possible_phone(value: str) -> bool:
    try:
        return phonenumbers.is_possible_number(phonenumbers.parse(value, None))
    except phonenumbers.NumberParseException:
        return False


def _is_date(value: Any) -> bool:
    if not isinstance(value, str) or not DATE.match(value):
        return False
    try:
        datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        return False
    return True


def _is_instant(value: Any) -> bool:
    try:
        parse_instant(value)
    except ValueError:
        return False
    return True


def _is_money(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and set(value) == {"amount", "currency"}
        and isinstance(value["amount"], str)
        and bool(AMOUNT.match(value["amount"]))
        and _problem("currency", (), value["currency"]) is None
    )
