"""The deletion sender (`CustomerDeleted` messages) driven directly against a fake CRM One."""

from __future__ import annotations

import pytest

from destination_crmone.deletions import DeletionSender
from destination_crmone.delivery.context import Transient
from unit_tests.destination.fake_crmone import FakeCrmOne, context, pending


def deleted(customer_id: str, n: int = 1) -> dict:
    return {
        "id": f"msg-{n}",
        "version": 1,
        "type": "CustomerDeleted",
        "resource": {"typeId": "customer", "id": customer_id},
        "resourceVersion": 3,
        "createdAt": "2026-11-26T10:00:00.000Z",
        "lastModifiedAt": "2026-11-26T10:00:00.000Z",
    }


def known(crm: FakeCrmOne, external_id: str) -> None:
    crm.contacts[external_id] = {"external_id": external_id, "properties": {"email": "a@x.io"}}


@pytest.mark.parametrize("action", ["archive", "erase"])
def test_a_deleted_customer_archives_or_erases_its_contact(tmp_path, action) -> None:
    crm = FakeCrmOne()
    known(crm, "cust-1")
    ctx = context(tmp_path, crm, deletions=action)
    DeletionSender("messages", ctx).send(pending("messages", deleted("cust-1")))
    assert crm.called(f"{action}_contact") == ["c-cust-1"]
    assert ctx.stats.counts["messages"][f"deletions_{action}d"] == 1
    assert ctx.settle == [("msg-1", False)]


def test_an_unknown_contact_is_counted_not_found(tmp_path) -> None:
    crm = FakeCrmOne()
    ctx = context(tmp_path, crm)
    DeletionSender("messages", ctx).send(pending("messages", deleted("nobody")))
    assert ctx.stats.counts["messages"]["deletions_not_found"] == 1
    assert crm.called("archive_contact") == []


def test_other_messages_are_acknowledged(tmp_path) -> None:
    ctx = context(tmp_path, FakeCrmOne())
    other = {**deleted("cust-1"), "type": "CustomerEmailChanged"}
    DeletionSender("messages", ctx).send(pending("messages", other))
    assert ctx.stats.counts["messages"]["not_deletions"] == 1
    assert ctx.settle == [("msg-1", False)]


def test_a_transient_failure_stops_the_sync(tmp_path) -> None:
    crm = FakeCrmOne()
    crm.fail("find_contact", 503)
    ctx = context(tmp_path, crm)
    with pytest.raises(Transient):
        DeletionSender("messages", ctx).send(pending("messages", deleted("cust-1")))
    assert ctx.settle == []
