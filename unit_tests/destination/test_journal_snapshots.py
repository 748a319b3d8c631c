"""The journal's side of id reconciliation (journal/snapshots.py), on SQLite and PostgreSQL:
written customers, snapshot ids per stream and run, and the anti-joins."""

from __future__ import annotations

import pytest

from destination_crmone.journal import open_journal
from destination_crmone.journal.commerce import CartRow, OrderFact
from unit_tests.destination.test_journal import spec  # noqa: F401 (spec: a fixture)

T1, T2, T3 = "2026-01-01T00:00:01.000Z", "2026-01-01T00:00:02.000Z", "2026-01-01T00:00:03.000Z"


@pytest.fixture
def journal(spec):  # noqa: F811
    opened = open_journal(spec)
    yield opened
    opened.close()


def test_written_customers_absent_from_a_snapshot(journal):
    journal.remember_customers({"c1": ("ct:c1", T1), "c2": ("ct:c2", T1), "c3": ("ct:c3", T3)})
    journal.remember_customers({"c1": ("ct:c1", T2)})  # written again: replaced
    journal.start_snapshot("customer_ids", "run-1")
    journal.add_snapshot_ids("customer_ids", "run-1", ["c1", "c1", "x9"])  # twice: once
    # c2 is gone; c3 changed at or after safe_before (T3): not judged
    assert journal.customers_absent("customer_ids", "run-1", T3) == [("c2", "ct:c2")]
    assert journal.customers_absent("customer_ids", "run-2", T3) == [
        ("c1", "ct:c1"),
        ("c2", "ct:c2"),
    ]  # another run's snapshot is another snapshot
    journal.forget_written_customers(["c2"])
    assert journal.customers_absent("customer_ids", "run-1", T3) == []


def test_a_new_snapshot_drops_what_an_interrupted_one_left(journal):
    journal.remember_customers({"c1": ("ct:c1", T1)})
    journal.add_snapshot_ids("customer_ids", "run-1", ["c1"])
    journal.add_snapshot_ids("order_ids", "run-1", ["o1"])
    journal.start_snapshot("customer_ids", "run-2")
    assert journal.customers_absent("customer_ids", "run-1", T3) == [("c1", "ct:c1")]
    rows = journal.query("SELECT stream, run_id FROM snapshot_ids ORDER BY stream")
    assert rows == [("order_ids", "run-1")]  # other streams keep theirs
    journal.end_snapshot("order_ids", "run-1")
    assert journal.query("SELECT COUNT(*) FROM snapshot_ids") == [(0,)]


def test_orders_and_open_carts_absent_from_a_snapshot(journal):
    journal.record_orders(
        {"ext:ct:c1": [OrderFact("o1", T1, "10.00", "EUR"), OrderFact("o2", T1, "5.00", "EUR")]}
    )
    journal.save_carts(
        [
            CartRow("k1", "open", "ext:ct:c1", T1, {"type": "cart_abandoned"}),
            CartRow("k2", "abandoned", "ext:ct:c1", T1, {"type": "cart_abandoned"}),
            CartRow("k3", "open", "ext:ct:c1", T1, {"type": "cart_abandoned"}),
        ]
    )
    journal.add_snapshot_ids("order_ids", "r", ["o2"])
    journal.add_snapshot_ids("cart_ids", "r", ["k3"])
    assert journal.orders_absent("order_ids", "r", T3) == [("o1", "ext:ct:c1")]
    assert [row.cart_id for row in journal.open_carts_absent("cart_ids", "r", T3)] == ["k1"]
    journal.forget_orders(["o1"])
    journal.close_carts(["k1"])
    assert journal.orders_absent("order_ids", "r", T3) == []
    assert journal.open_carts_absent("cart_ids", "r", T3) == []
    assert journal.carts(["k1"])["k1"].state == "closed"
