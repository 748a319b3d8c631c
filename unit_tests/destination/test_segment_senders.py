"""Filters and routing in the senders, driven directly against a fake CRM One: customers out
of scope are counted, not written; `on_leave` for a contact that stops matching; orders and
carts follow their customer's verdict; lifecycle stages from the journal's orders."""

from __future__ import annotations

from typing import Any

import pytest

from destination_crmone.commerce.sender import CommerceOrderSender
from destination_crmone.contacts.sender import ContactSender
from destination_crmone.deletions import DeletionSender
from integration_tests.destination.airbyte_input import customer_deleted
from unit_tests.destination.fake_crmone import FakeCrmOne, context, pending
from unit_tests.destination.test_mapping import make_customer, make_order

EU = {"filters": [{"field": "country", "in": ["DE"]}]}


def customer(n: int, country: str = "DE", **changes: Any) -> dict[str, Any]:
    record = make_customer(id=f"cust-{n}", email=f"c{n}@example.com", **changes)
    record["addresses"] = [{**a, "country": country} for a in record["addresses"]]
    return record


def moved(record: dict[str, Any], country: str) -> dict[str, Any]:
    return {
        **record,
        "version": record["version"] + 1,
        "lastModifiedAt": "2026-12-01T00:00:00.000Z",
        "addresses": [{**a, "country": country} for a in record["addresses"]],
    }


def test_customers_out_of_scope_are_counted_not_written_nor_rejected(tmp_path) -> None:
    crm = FakeCrmOne()
    ctx = context(tmp_path, crm, **EU)
    ContactSender("customers", ctx).send(pending("customers", customer(1), customer(2, "US")))
    assert set(crm.contacts) == {"cust-1"}
    assert ctx.stats.counts["customers"]["filtered"] == 1
    assert sorted(ctx.settle) == [("cust-1", False), ("cust-2", False)]
    assert ctx.journal.pending("customers") == []
    assert all(c["contact_external_id"] == "cust-1" for c in crm.called("upsert_consents")[0])


@pytest.mark.parametrize(
    ("on_leave", "archived", "still_member"),
    [("keep", False, True), ("archive", True, True), ("remove_from_lists", False, False)],
)
def test_a_contact_leaving_the_filters_follows_on_leave_and_returns_in_full(
    tmp_path, on_leave, archived, still_member
) -> None:
    crm = FakeCrmOne()
    routing = [{"when": [], "lists": ["l_eu"]}]
    ctx = context(tmp_path, crm, on_leave=on_leave, routing=routing, **EU)
    sender = ContactSender("customers", ctx)
    first = customer(1)
    sender.send(pending("customers", first))
    assert crm.members["l_eu"] == {"cust-1"}
    away = moved(first, "US")
    sender.send(pending("customers", away))
    assert (crm.called("archive_contact") == ["c-cust-1"]) is archived
    assert ("cust-1" in crm.members["l_eu"]) is still_member
    assert ctx.stats.counts["customers"][f"left_scope_{on_leave}"] == 1
    sender.send(pending("customers", away))  # out of scope again: nothing more
    assert ctx.stats.counts["customers"][f"left_scope_{on_leave}"] == 1
    upserts = len(crm.called("upsert_contacts"))
    back = moved(away, "DE")
    back["version"], back["lastModifiedAt"] = away["version"], away["lastModifiedAt"]
    sender.send(pending("customers", back))  # unchanged but for the country: written in full
    assert len(crm.called("upsert_contacts")) == upserts + 1
    assert crm.members["l_eu"] == {"cust-1"}


def test_orders_follow_their_customers_verdict_and_guests_their_country(tmp_path) -> None:
    crm = FakeCrmOne()
    ctx = context(tmp_path, crm, orders_as="objects", **EU)
    ContactSender("customers", ctx).send(pending("customers", customer(1), customer(2, "US")))
    mine = make_order(id="o-1", customerId="cust-1", billingAddress={"country": "US"})
    theirs = make_order(id="o-2", customerId="cust-2", billingAddress={"country": "DE"})
    guest_de = make_order(id="o-3", customerId=None, billingAddress={"country": "DE"})
    guest_us = make_order(id="o-4", customerId=None, shippingAddress={"country": "US"})
    unknown = make_order(id="o-5", customerId="cust-9", billingAddress={"country": "US"})
    orders = pending("orders", mine, theirs, guest_de, guest_us, unknown)
    CommerceOrderSender("orders", ctx).send(orders)
    written = {key.removeprefix("order:") for key in crm.objects}
    assert written == {"o-1", "o-3"}  # o-5: a customer never seen, judged by its country
    assert ctx.stats.counts["orders"]["filtered"] == 3


def test_the_lifecycle_stage_follows_the_orders_the_journal_knows(tmp_path) -> None:
    crm = FakeCrmOne()
    ctx = context(tmp_path, crm, orders_as="objects")
    contacts = ContactSender("customers", ctx)
    person = customer(1)
    contacts.send(pending("customers", person))
    assert crm.contacts["cust-1"]["properties"]["lifecycle_stage"] in ("subscriber", "lead")
    orders = CommerceOrderSender("orders", ctx)
    orders.send(pending("orders", make_order(id="o-1", customerId="cust-1")))
    assert crm.contacts["cust-1"]["properties"]["lifecycle_stage"] == "customer"
    orders.send(pending("orders", make_order(id="o-2", customerId="cust-1")))
    assert crm.contacts["cust-1"]["properties"]["lifecycle_stage"] == "repeat_customer"
    contacts.send(pending("customers", moved(person, "DE")))
    assert crm.contacts["cust-1"]["properties"]["lifecycle_stage"] == "repeat_customer"


def test_erasing_a_customer_the_filters_never_took_forgets_its_membership(tmp_path) -> None:
    crm = FakeCrmOne()
    ctx = context(tmp_path, crm, deletions="erase", **EU)
    ContactSender("customers", ctx).send(pending("customers", customer(2, "US")))
    assert ctx.journal.memberships(["ext:cust-2"]) == {
        "ext:cust-2": {"in_scope": False, "lists": [], "properties": []}
    }
    DeletionSender("messages", ctx).send(pending("messages", customer_deleted(1, "cust-2")))
    assert ctx.journal.memberships(["ext:cust-2"]) == {}
