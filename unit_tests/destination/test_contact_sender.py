"""The contact sender driven directly against a fake CRM One (no writer, no HTTP)."""

from __future__ import annotations

import pytest

from destination_crmone.contacts.sender import ContactSender
from destination_crmone.delivery.context import Transient
from unit_tests.destination.fake_crmone import FakeCrmOne, context, pending
from unit_tests.destination.test_mapping import make_customer


def customer(n: int, **changes) -> dict:
    return make_customer(**{"id": f"cust-{n}", "email": f"c{n}@example.com", **changes})


def test_new_customers_become_contacts_and_each_record_is_settled_once(tmp_path) -> None:
    crm = FakeCrmOne()
    ctx = context(tmp_path, crm)
    ContactSender("customers", ctx).send(pending("customers", customer(1), customer(2)))
    assert set(crm.contacts) == {"cust-1", "cust-2"}
    assert sorted(ctx.settle) == [("cust-1", False), ("cust-2", False)]
    assert ctx.stats.counts["customers"]["contacts_created"] == 2


def test_an_unchanged_contact_costs_no_request_on_the_next_batch(tmp_path) -> None:
    crm = FakeCrmOne()
    ctx = context(tmp_path, crm)
    sender = ContactSender("customers", ctx)
    sender.send(pending("customers", customer(1)))
    calls = len(crm.called("upsert_contacts"))
    sender.send(pending("customers", customer(1)))
    assert len(crm.called("upsert_contacts")) == calls
    assert ctx.stats.counts["customers"]["contacts_skipped"] == 1


def test_an_invalid_record_is_queued_with_its_reason_and_the_rest_written(tmp_path) -> None:
    crm = FakeCrmOne()
    ctx = context(tmp_path, crm, invalid_values="reject_record")
    bad = customer(2, email="not an email")
    ContactSender("customers", ctx).send(pending("customers", customer(1), bad))
    assert ("cust-2", True) in ctx.settle and ("cust-1", False) in ctx.settle
    [queued] = ctx.journal.pending("customers")
    assert queued.record_key == "cust-2" and queued.reason
    assert set(crm.contacts) == {"cust-1"}


@pytest.mark.parametrize("status", [None, 429, 503])
def test_a_transient_upsert_failure_stops_the_sync_and_settles_nothing(tmp_path, status) -> None:
    crm = FakeCrmOne()
    crm.fail("upsert_contacts", status)
    ctx = context(tmp_path, crm)
    with pytest.raises(Transient):
        ContactSender("customers", ctx).send(pending("customers", customer(1)))
    assert ctx.settle == [] and ctx.journal.pending("customers") == []


def test_a_refused_upsert_queues_its_records(tmp_path) -> None:
    crm = FakeCrmOne()
    crm.fail("upsert_contacts", 400, "bad_request")
    ctx = context(tmp_path, crm)
    ContactSender("customers", ctx).send(pending("customers", customer(1)))
    assert ctx.settle == [("cust-1", True)]
    assert [q.code for q in ctx.journal.pending("customers")] == ["bad_request"]
