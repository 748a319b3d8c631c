"""Ownership of "customer truth": which mapped properties to send, given CRM One's current
values and `property_meta` (from `POST /v1/contacts/batch/read`).

Per property, the owner is

- `commercetools` (default): send when the value differs from CRM One's;
- `crm_one`: send only while CRM One has no value (None, absent, blank, empty list);
- `most_recent`: send when the value differs and the customer's `lastModifiedAt` is newer
  than the property's `property_meta.updated_at` (no metadata counts as older).

Values are compared after normalisation: blank ≡ absent, lists as sets (multi_enum), RFC 3339
strings by instant, money by amount and currency, numbers by value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from destination_crmone.config import DestinationConfig, Owner
from destination_crmone.timefmt import parse_rfc3339

DEFAULT_OWNER: Owner = "commercetools"
_DATETIME_LIKE = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def ownership_map(config: DestinationConfig) -> dict[str, Owner]:
    """Property → owner as configured; properties not listed belong to `DEFAULT_OWNER`."""
    return {rule.property: rule.owner for rule in config.ownership}


def decide(
    properties: Mapping[str, Any],
    current: Mapping[str, Any] | None,
    ownership: Mapping[str, Owner],
    source_updated_at: str | None,
) -> dict[str, Any]:
    """The properties to send for one contact; `{}` means nothing to change.

    `current` is the contact as `batch/read` returns it, or None for a contact CRM One does
    not have yet (then every property with a value is sent).
    """
    if current is None:
        return {name: value for name, value in properties.items() if not is_empty(value)}
    values = current.get("properties") or {}
    meta = current.get("property_meta") or {}
    source_time = _instant(source_updated_at)
    send: dict[str, Any] = {}
    for name, value in properties.items():
        present = values.get(name)
        if same_value(value, present):
            continue
        owner = ownership.get(name, DEFAULT_OWNER)
        if owner == "crm_one" and not is_empty(present):
            continue
        if owner == "most_recent" and not _source_is_newer(source_time, meta.get(name)):
            continue
        send[name] = value
    return send


def is_empty(value: Any) -> bool:
    """CRM One's "no value": None, a blank string, an empty list or object."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | tuple | set | frozenset | Mapping):
        return len(value) == 0
    return False


def same_value(left: Any, right: Any) -> bool:
    return _comparable(left) == _comparable(right)


def _comparable(value: Any) -> Any:
    if is_empty(value):
        return None
    if isinstance(value, bool):
        return ("bool", value)  # True must not equal 1
    if isinstance(value, int | float):
        return ("number", _decimal(value))
    if isinstance(value, str):
        if _DATETIME_LIKE.match(value):
            instant = _instant(value)
            if instant is not None:
                return ("instant", instant)
        return ("text", value)
    if isinstance(value, Mapping):
        if set(value) == {"amount", "currency"}:
            return ("money", _decimal(value["amount"]), str(value["currency"]).upper())
        return ("object", tuple(sorted((str(k), repr(_comparable(v))) for k, v in value.items())))
    if isinstance(value, list | tuple | set | frozenset):
        return ("set", frozenset(repr(_comparable(item)) for item in value))
    return ("other", repr(value))


def _decimal(value: Any) -> Decimal | str:
    try:
        return Decimal(str(value)).normalize()
    except InvalidOperation:
        return str(value)


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_rfc3339(value)
    except ValueError:
        return None


def _source_is_newer(source_time: datetime | None, meta: Any) -> bool:
    """True when the source change is newer than CRM One's (absent metadata is older)."""
    crm_time = _instant(meta.get("updated_at")) if isinstance(meta, Mapping) else None
    if crm_time is None:
        return True
    return source_time is not None and source_time > crm_time
