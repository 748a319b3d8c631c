"""The contact writer's list and store hooks (`contacts/stores.py`) against a fake CRM One."""

from __future__ import annotations

import pytest

from destination_crmone.contacts.stores import leave_lists, remember_written
from destination_crmone.delivery.context import Fatal, Transient
from destination_crmone.records import MappedContact
from destination_crmone.segments import Departure
from unit_tests.destination.fake_crmone import FakeCrmOne, context

LEFT = {"c1": Departure(remove_list_ids=("list-eu",)), "c2": Departure(("list-eu",))}


def test_written_contacts_leave_the_lists_of_the_stores_they_left(tmp_path) -> None:
    crm = FakeCrmOne()
    crm.members["list-eu"] = {"c1", "c2"}
    ctx = context(tmp_path, crm)
    assert leave_lists(ctx, "customers", LEFT, {"c1"}) == {}
    assert crm.members["list-eu"] == {"c2"}  # c2 was not written: it stays
    assert ctx.stats.counts["customers"]["list_members_removed"] == 1


@pytest.mark.parametrize("status", [None, 408, 429, 500, 503])
def test_a_transient_failure_while_leaving_a_list_stops_the_sync(tmp_path, status) -> None:
    """Issue 14: `leave_lists` queued every CrmOneError as a record failure (5xx, timeouts);
    like `_add_list_members`, a transient one now stops the sync and queues nothing."""
    crm = FakeCrmOne()
    crm.fail("list_members", status)
    ctx = context(tmp_path, crm)
    with pytest.raises(Transient):
        leave_lists(ctx, "customers", LEFT, {"c1", "c2"})


def test_refused_credentials_while_leaving_a_list_stop_the_sync(tmp_path) -> None:
    crm = FakeCrmOne()
    crm.fail("list_members", 401, "unauthorized")
    with pytest.raises(Fatal):
        leave_lists(context(tmp_path, crm), "customers", LEFT, {"c1"})


def test_a_list_refusing_the_call_fails_the_records_that_left_it(tmp_path) -> None:
    crm = FakeCrmOne()
    crm.fail("list_members", 404, "not_found")
    failures = leave_lists(context(tmp_path, crm), "customers", LEFT, {"c1", "c2"})
    assert set(failures) == {"c1", "c2"}
    assert {kind for kind, _, _ in failures.values()} == {"failed"}


def test_written_contacts_wake_what_waited_for_them(tmp_path) -> None:
    ctx = context(tmp_path, FakeCrmOne())
    ctx.journal.enqueue(
        "run_test", "orders", "o1", None, {"id": "o1"}, "waits", "contact_not_found",
        "rejected", waiting_for="email:ana@example.com",
    )  # fmt: skip
    mapped = MappedContact("c1", 1, "c1", "ana@example.com", {}, None)
    remember_written(ctx, [mapped])
    assert ctx.stats.queue["woken"] == 1
