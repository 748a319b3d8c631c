"""What CRM One should hold after syncing a commercetools sandbox, worked out independently.

The expectations come from the commercetools sandbox's own data (its `/_sandbox/dump`) and the
documented default mapping (docs/destination-crmone.md): one contact per customer (external id =
customer id) unless the destination rejected it; an email and an sms marketing consent per
customer that has the flag; an `order_placed` activity per order whose buyer is a contact (by
customer id, or by email for guest orders) and an `order_cancelled` one for a cancelled order.
They are compared with the CRM One sandbox's dump, so a missing or doubled item shows up.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

CONSENT_FLAGS = (
    ("newsletterOptIn", "newsletterOptInAt", "email", "marketing"),
    ("smsOptIn", "smsOptInAt", "sms", "marketing"),
)
Consent = tuple[str, str, str, str, datetime]  # external id, channel, purpose, status, instant


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def queued(journal: Path, stream: str, kinds: tuple[str, ...]) -> dict[str, str]:
    """Pending retry-queue items of one stream and kinds: record key → reason."""
    marks = ",".join("?" * len(kinds))
    with sqlite3.connect(journal) as connection:
        rows = connection.execute(
            "SELECT record_key, reason FROM retry_queue"
            f" WHERE stream = ? AND status = 'pending' AND kind IN ({marks})",
            (stream, *kinds),
        ).fetchall()
    return dict(rows)


def expected_contacts(commercetools: dict[str, Any], rejected: set[str]) -> set[str]:
    return {customer["id"] for customer in commercetools["customers"]} - rejected


def expected_consents(commercetools: dict[str, Any], contacts: set[str]) -> Counter[Consent]:
    consents: Counter[Consent] = Counter()
    for customer in commercetools["customers"]:
        if customer["id"] not in contacts:
            continue
        fields = (customer.get("custom") or {}).get("fields") or {}
        for flag, stamp, channel, purpose in CONSENT_FLAGS:
            if isinstance(fields.get(flag), bool):
                status = "granted" if fields[flag] else "withdrawn"
                when = instant(fields.get(stamp) or customer["lastModifiedAt"])
                consents[(customer["id"], channel, purpose, status, when)] += 1
    return consents


def expected_activities(
    commercetools: dict[str, Any], contacts: set[str], emails: dict[str, str]
) -> dict[str, str]:
    """Activity external id → the contact's external id. `emails`: CRM email → external id."""
    activities = {}
    for order in commercetools["orders"]:
        contact = order.get("customerId")
        if contact not in contacts:
            contact = emails.get((order.get("customerEmail") or "").strip().lower())
        if contact is None:
            continue
        activities[f"order:{order['id']}:placed"] = contact
        if order.get("orderState") == "Cancelled":
            activities[f"order:{order['id']}:cancelled"] = contact
    return activities


def crm_contacts(crm: dict[str, Any]) -> Counter[str]:
    return Counter(contact["external_id"] for contact in crm["contacts"])


def crm_emails(crm: dict[str, Any]) -> dict[str, str]:
    return {
        contact["properties"]["email"]: contact["external_id"]
        for contact in crm["contacts"]
        if contact.get("properties", {}).get("email")
    }


def crm_consents(crm: dict[str, Any]) -> Counter[Consent]:
    return Counter(
        (external_id, c["channel"], c["purpose"], c["status"], instant(c["updated_at"]))
        for external_id, consents in crm["consents"].items()
        for c in consents
    )


def crm_activities(crm: dict[str, Any]) -> Counter[tuple[str, str]]:
    return Counter((a["external_id"], a["contact_external_id"]) for a in crm["activities"])


def assert_crm_matches(
    commercetools: dict[str, Any], crm: dict[str, Any], journal: Path
) -> dict[str, int]:
    """CRM One holds exactly the expected contacts, consents and activities, each once."""
    rejected = set(queued(journal, "customers", ("rejected",)))
    contacts = expected_contacts(commercetools, rejected)
    held = crm_contacts(crm)
    assert set(held) == contacts, (
        f"missing {sorted(contacts - set(held))[:5]}, unexpected {sorted(set(held) - contacts)[:5]}"
    )
    assert max(held.values()) == 1, [key for key, n in held.items() if n > 1][:5]

    consents = expected_consents(commercetools, contacts)
    have = crm_consents(crm)
    missing, extra = consents - have, have - consents
    assert have == consents, f"missing {list(missing.items())[:3]}, extra {list(extra.items())[:3]}"

    activities = expected_activities(commercetools, contacts, crm_emails(crm))
    have_activities = crm_activities(crm)
    assert have_activities == Counter(activities.items()), (
        f"missing {sorted(set(activities.items()) - set(have_activities))[:3]}, "
        f"extra {sorted(set(have_activities) - set(activities.items()))[:3]}"
    )
    return {"contacts": len(contacts), "consents": len(consents), "activities": len(activities)}
