"""PII redaction for the sync log: personal values become "[redacted]", keys stay.

Three rules, applied together:
- by key: a value under a personal key (email, names, phones, address lines, birth date, VAT
  id; CRM One's snake_case and commercetools' camelCase names) is replaced whole;
- by pattern: an email address or an E.164 phone number inside any other string (an error
  message that echoes a value, `ids` read by email, a query string) is replaced in place;
- by the record: the personal values of the record a text is about (`personal_values`), even
  malformed ones no pattern knows (`jane.doe@gmailcom`, `030 12`), are replaced wherever that
  text quotes them (CRM One's per-record error messages, the response to a request).
Nulls and empty strings are kept, so "the value was cleared" stays visible.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from typing import Any
from urllib.parse import parse_qsl, urlencode

REDACTED = "[redacted]"

# CRM One's names for a person's values that the customer mapping does not produce: an
# activity's or order object's `contact_email` (the buyer's `customerEmail`).
CARRIED_KEYS = frozenset({"contact_email"})


def _normal(key: str) -> str:
    """Keys are compared after lower-casing and dropping "_" and "-": `first_name` and
    `firstName` match."""
    return re.sub(r"[_\-]", "", key).lower()


@cache
def personal_keys() -> frozenset[str]:
    """The redaction list, derived, not kept by hand: every field the streams' schemas
    annotate personal (`connectors_common.personal`), and every CRM One property the mapping
    fills from one of them (`records.personal_properties`), normalised."""
    from connectors_common.personal import personal_field_names
    from destination_crmone.records import personal_properties  # imports the journal

    names = {*personal_field_names(), *personal_properties(), *CARRIED_KEYS}
    return frozenset(_normal(name) for name in names)


_EMAIL = re.compile(r"[^\s@\"'<>(),;:]+@[^\s@\"'<>(),;:]+\.[A-Za-z]{2,}")
_PHONE = re.compile(r"\+\d{7,15}\b")


def is_personal_key(key: object) -> bool:
    return isinstance(key, str) and _normal(key) in personal_keys()


def personal_values(value: Any) -> list[str]:
    """The texts under personal keys of a record (at any depth), as given and as normalised
    (stripped, lower-cased), longest first: what `redact(…, known)` replaces inside text."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if is_personal_key(key) and isinstance(item, str | int | float):
                text = str(item)
                found |= {text, text.strip(), text.strip().lower()}
            else:
                found |= set(personal_values(item))
    elif isinstance(value, list):
        for item in value:
            found |= set(personal_values(item))
    return sorted((text for text in found if len(text) >= 2), key=len, reverse=True)


def scrub_text(text: str, known: Iterable[str] = ()) -> str:
    """Known personal values, email addresses and E.164 numbers in a string → "[redacted]"."""
    for value in known:
        text = text.replace(value, REDACTED)
    return _PHONE.sub(REDACTED, _EMAIL.sub(REDACTED, text))


def redact(value: Any, known: Iterable[str] = ()) -> Any:
    """The same JSON value with personal data replaced; structure and keys kept."""
    known = list(known)
    if isinstance(value, dict):
        return {
            key: REDACTED
            if is_personal_key(key) and item not in (None, "")
            else redact(item, known)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [redact(item, known) for item in value]
    if isinstance(value, str):
        return scrub_text(value, known)
    return value


_QUERY = re.compile(r"\?[^\s'\"()<>]+")


def redact_error(text: str | None, known: Iterable[str] = ()) -> str | None:
    """An error text (a dropped connection quotes the URL it called): query strings, known
    personal values and patterns replaced."""
    if not text:
        return text
    return scrub_text(_QUERY.sub("?" + REDACTED, text), known)


def redact_path(path: str) -> str:
    """A path with a query string: personal parameters and patterns replaced."""
    if "?" not in path:
        return scrub_text(path)
    base, query = path.split("?", 1)
    pairs = [(k, REDACTED if is_personal_key(k) else v) for k, v in parse_qsl(query, True)]
    return f"{scrub_text(base)}?{scrub_text(urlencode(pairs, safe='[]'))}"
