"""What CRM One should hold after syncing a commercetools sandbox, worked out independently.

The expectations come from the commercetools sandbox's own data (its `/_sandbox/dump`) and the
documented default mapping (docs/destination-crmone.md): one contact per customer (external id =
customer id) unless the destination rejected it, and one by email (no external id) per guest
buyer whose email no customer has; an email and an sms marketing consent per customer that has
the flag; per order whose buyer is a contact (by customer id, or by email for guest orders) an
`order_placed` activity, `order_cancelled` for a cancelled order, `order_updated` per shipment
and payment state past `Pending`, `order_returned` per return; per cart with line items and a
known buyer `checkout_started`, and `cart_abandoned` for an `Active` one idle for a day. They
are compared with the CRM One sandbox's dump, so a missing or doubled item shows up.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from email_validator import EmailNotValidError, validate_email

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


def buyer(record: dict[str, Any], contacts: set[str], emails: dict[str, str]) -> str | None:
    """The contact key of an order's or cart's buyer: the customer's contact (by id) or, for a
    guest, the contact with its email; None when there is none."""
    if record.get("customerId"):
        return record["customerId"] if record["customerId"] in contacts else None
    return emails.get((record.get("customerEmail") or "").strip().lower())


def expected_activities(
    commercetools: dict[str, Any], contacts: set[str], emails: dict[str, str]
) -> dict[str, str]:
    """Activity external id → its contact's key (external id, or `email:` for a guest contact).
    `emails`: CRM email → contact key."""
    activities = {}
    for order in commercetools["orders"]:
        contact, oid = buyer(order, contacts, emails), order["id"]
        if contact is None:
            continue
        activities[f"order:{oid}:placed"] = contact
        if order.get("orderState") == "Cancelled":
            activities[f"order:{oid}:cancelled"] = contact
        for kind in ("shipment", "payment"):
            state = order.get(f"{kind}State")
            if state and state != "Pending":
                activities[f"order:{oid}:{kind}:{state}"] = contact
        for n, _ in enumerate(order.get("returnInfo") or [], start=1):
            activities[f"order:{oid}:returned:{n}"] = contact
    now = datetime.now(UTC)
    for cart in commercetools.get("carts", []):
        contact = buyer(cart, contacts, emails)
        if contact is None or not cart.get("lineItems"):
            continue
        activities[f"cart:{cart['id']}:checkout_started"] = contact
        idle = (now - instant(cart["lastModifiedAt"])).total_seconds() > 24 * 3600
        if cart.get("cartState") == "Active" and idle:
            activities[f"cart:{cart['id']}:abandoned"] = contact
    return activities


def expected_guest_emails(commercetools: dict[str, Any], customer_emails: set[str]) -> set[str]:
    """Valid emails of guest orders and carts (with line items) that no customer has."""
    emails = set()
    records = [*commercetools["orders"], *commercetools.get("carts", [])]
    for record in records:
        email = (record.get("customerEmail") or "").strip()
        if record.get("customerId") or not email or not record.get("lineItems"):
            continue
        try:
            email = validate_email(email.lower(), check_deliverability=False).normalized
        except EmailNotValidError:
            continue
        if email not in customer_emails:
            emails.add(email)
    return emails


def contact_key(contact: dict[str, Any]) -> str:
    return contact["external_id"] or f"email:{contact['properties'].get('email')}"


def crm_contacts(crm: dict[str, Any]) -> Counter[str]:
    return Counter(c["external_id"] for c in crm["contacts"] if c["external_id"])


def crm_emails(crm: dict[str, Any]) -> dict[str, str]:
    return {
        contact["properties"]["email"]: contact_key(contact)
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
    keys = {contact["id"]: contact_key(contact) for contact in crm["contacts"]}
    return Counter((a["external_id"], keys.get(a["contact_id"], "")) for a in crm["activities"])


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
    emails = crm_emails(crm)
    guests = {contact_key(c) for c in crm["contacts"] if not c["external_id"]}
    customer_emails = {e for e, key in emails.items() if not key.startswith("email:")}
    wanted = {f"email:{e}" for e in expected_guest_emails(commercetools, customer_emails)}
    assert guests == wanted, (sorted(wanted - guests)[:3], sorted(guests - wanted)[:3])

    consents = expected_consents(commercetools, contacts)
    have = crm_consents(crm)
    missing, extra = consents - have, have - consents
    assert have == consents, f"missing {list(missing.items())[:3]}, extra {list(extra.items())[:3]}"

    activities = expected_activities(commercetools, contacts, emails)
    have_activities = crm_activities(crm)
    assert have_activities == Counter(activities.items()), (
        f"missing {sorted(set(activities.items()) - set(have_activities))[:3]}, "
        f"extra {sorted(set(have_activities) - set(activities.items()))[:3]}"
    )
    return {
        "contacts": len(contacts),
        "guests": len(guests),
        "consents": len(consents),
        "activities": len(activities),
    }
