"""What an erasure removes from the journal: the pure part (which rows are about a customer,
and a JSON value with that customer taken out). `SqlJournal.forget_customer` runs it.

A customer is recognised by its commercetools id (a queued customer's `id`, an order's or
cart's `customerId`, a message's `resource.id`), its contact's external_id, and the email
addresses those rows carry (a guest order of the same person, a lookup by email). Matching
ignores case: `Jane@Example.com` and `jane@example.com` are one address.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

ERASED = "[erased]"
EMAIL_KEYS = frozenset({"email", "customerEmail", "contact_email"})


def is_about(payload: Any, record_key: str, customer_id: str, emails: Iterable[str]) -> bool:
    """Whether a queued record belongs to the customer."""
    if record_key == customer_id or not isinstance(payload, Mapping):
        return record_key == customer_id
    resource = payload.get("resource")
    guest_email = payload.get("customerEmail")
    return (
        payload.get("customerId") == customer_id
        or (isinstance(resource, Mapping) and resource.get("id") == customer_id)
        or (
            isinstance(guest_email, str)
            and guest_email.lower() in {email.lower() for email in emails}
        )
    )


def emails_in(value: Any) -> set[str]:
    """Every email address under an email key, at any depth."""
    found: set[str] = set()
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key in EMAIL_KEYS and isinstance(item, str) and "@" in item:
                found.add(item)
            else:
                found |= emails_in(item)
    elif isinstance(value, list):
        for item in value:
            found |= emails_in(item)
    return found


def needles(identifiers: Iterable[str]) -> list[str]:
    """The identifiers as they may appear in text (lower-cased): as is and percent-encoded."""
    found = {
        form.lower() for value in identifiers if value for form in (value, quote(value, safe=""))
    }
    return sorted(found, key=len, reverse=True)


def _names(value: Mapping[str, Any], found: list[str]) -> bool:
    return any(isinstance(item, str) and item.lower() in found for item in value.values())


def matching(value: Any, found: list[str]) -> Any:
    """The parts of a JSON value that name the customer: each object that holds one of
    `found` as a direct value (a contact, a consent, an activity, a batch result)."""
    if isinstance(value, Mapping):
        if _names(value, found):
            return [value]
        return [part for item in value.values() for part in matching(item, found)]
    if isinstance(value, list):
        return [part for item in value for part in matching(item, found)]
    return []


def without(value: Any, found: list[str]) -> Any:
    """The JSON value with the customer taken out: an object that names them becomes
    `{"erased": true}`, their identifiers inside any text become "[erased]"."""
    if isinstance(value, Mapping):
        if _names(value, found):
            return {"erased": True}
        return {key: without(item, found) for key, item in value.items()}
    if isinstance(value, list):
        return [without(item, found) for item in value]
    if isinstance(value, str):
        for needle in found:
            value = re.sub(re.escape(needle), ERASED, value, flags=re.IGNORECASE)
        return value
    return value
