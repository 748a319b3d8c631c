"""Ownership of "customer truth": which mapped properties to send, given CRM One's current
values and `property_meta` (from `POST /v1/contacts/batch/read`).

Customer truth is per field. A property is *changed* when its source value differs from the
one last sent for that contact (the journal's field ledger; without one, every property
counts as changed). Per property, the owner is

- `commercetools` (default): a changed value is sent; when the contact is written for any
  reason, its other commercetools-owned properties go in the same request (planning's job);
- `crm_one`: a changed value is sent only while CRM One has no value (None, absent, blank,
  empty list);
- `most_recent`: an unchanged value is never sent (a differing CRM value is a newer edit); a
  changed one is sent when CRM One still holds what was last sent, or when the time the source
  value was first seen is newer than the property's `property_meta.updated_at` (no metadata
  counts as older).

`send_field` is that table for one property; `decide` applies it to a contact.

Values are compared after normalisation: blank ≡ absent, lists as sets (multi_enum), RFC 3339
strings by instant, money by amount and currency, numbers by value.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from destination_crmone.config import DestinationConfig, Owner
from destination_crmone.timefmt import parse_rfc3339

DEFAULT_OWNER: Owner = "commercetools"
_DATETIME_LIKE = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def ownership_map(config: DestinationConfig) -> dict[str, Owner]:
    """Property → owner as configured; properties not listed belong to `DEFAULT_OWNER`."""
    return {rule.property: rule.owner for rule in config.ownership}


def send_field(
    owner: Owner,
    *,
    changed: bool,
    value: Any,
    present: Any,
    crm_updated_at: datetime | None,
    source_time: datetime | None,
    last_sent: str | None,
) -> bool:
    """Whether one property of a contact CRM One has goes into the upsert.

    `changed`: the source value differs from the one last sent (ledger); `present`: CRM One's
    value; `crm_updated_at`: its `property_meta.updated_at`; `source_time`: when the source
    value was first seen; `last_sent`: `value_digest` of the value last sent, if any.
    """
    if not changed or same_value(value, present):
        return False
    if owner == "crm_one":
        return is_empty(present)
    if owner == "most_recent":
        if last_sent is not None and value_digest(present) == last_sent:
            return True  # nobody edited it since we sent it
        if crm_updated_at is None:
            return True
        return source_time is not None and source_time > crm_updated_at
    return True


def decide(
    properties: Mapping[str, Any],
    current: Mapping[str, Any] | None,
    ownership: Mapping[str, Owner],
    source_updated_at: str | None,
    *,
    changed: Collection[str] | None = None,
    source_times: Mapping[str, str | None] | None = None,
    last_sent: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The properties to send for one contact; `{}` means nothing to change.

    `current` is the contact as `batch/read` returns it, or None for a contact CRM One does
    not have yet (then every property with a value is sent). `changed` names the properties
    whose source value changed since last sent (None: all of them), `source_times` when each
    value was first seen (default: `source_updated_at`), `last_sent` the digest last sent.
    """
    if current is None:
        return {name: value for name, value in properties.items() if not is_empty(value)}
    values = current.get("properties") or {}
    meta = current.get("property_meta") or {}
    times = source_times or {}
    sent = last_sent or {}
    send: dict[str, Any] = {}
    for name, value in properties.items():
        if send_field(
            ownership.get(name, DEFAULT_OWNER),
            changed=changed is None or name in changed,
            value=value,
            present=values.get(name),
            crm_updated_at=_meta_time(meta.get(name)),
            source_time=_instant(times.get(name, source_updated_at)),
            last_sent=sent.get(name),
        ):
            send[name] = value
    return send


def value_digest(value: Any) -> str:
    """A short digest of a value as `same_value` compares it (blank ≡ absent, lists as sets,
    instants, money, numbers): what the journal's field ledger keeps instead of the value.
    Scalars are remembered (countries, stores, flags and dates repeat across contacts)."""
    if value is None or isinstance(value, str | int | float):
        return _scalar_digest(type(value), value)
    return _digest(value)


@lru_cache(maxsize=1 << 16)
def _scalar_digest(kind: type, value: Any) -> str:  # `kind`: True and 1 are cached apart
    return _digest(value)


def _digest(value: Any) -> str:
    return hashlib.sha256(repr(_stable(_comparable(value))).encode()).hexdigest()[:24]


def _stable(comparable: Any) -> Any:
    """A comparable form with sets sorted (their repr order changes between processes)."""
    if isinstance(comparable, frozenset):
        return ("frozenset", tuple(sorted(comparable)))
    if isinstance(comparable, tuple):
        return tuple(_stable(part) for part in comparable)
    return comparable


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
        return (
            "object",
            tuple(sorted((str(k), repr(_stable(_comparable(v)))) for k, v in value.items())),
        )
    if isinstance(value, list | tuple | set | frozenset):
        return ("set", frozenset(repr(_stable(_comparable(item))) for item in value))
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


def _meta_time(meta: Any) -> datetime | None:
    """`property_meta.<name>.updated_at` as an instant (None when absent or unreadable)."""
    return _instant(meta.get("updated_at")) if isinstance(meta, Mapping) else None
