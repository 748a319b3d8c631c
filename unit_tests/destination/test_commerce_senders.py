"""The commerce senders (orders, carts, payments) driven directly against a fake CRM One."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from destination_crmone.commerce.sender import (
    CartSender,
    CommerceOrderSender,
    PaymentSender,
    write_abandoned_carts,
)
from destination_crmone.delivery.context import Transient
from unit_tests.destination.fake_crmone import FakeCrmOne, context, pending
from unit_tests.destination.test_commerce_events import make_cart
from unit_tests.destination.test_mapping import CUSTOMER_ID, make_order


def order(n: int, **changes) -> dict:
    return make_order(**{"id": f"order-{n}", "orderNumber": f"1000{n}", **changes})


# --- orders --------------------------------------------------------------------------------


def test_orders_become_activities_and_the_contact_history_follows(tmp_path) -> None:
    crm = FakeCrmOne()
    ctx = context(tmp_path, crm)
    CommerceOrderSender("orders", ctx).send(pending("orders", order(1), order(2)))
    placed = [a for a in crm.activities.values() if a["type"] == "order_placed"]
    assert len(placed) == 2 and crm.objects == {}
    assert sorted(ctx.settle) == [("order-1", False), ("order-2", False)]
    [history] = crm.called("upsert_contacts")  # one history upsert for the one buyer
    assert history[0]["external_id"] == CUSTOMER_ID
    assert history[0]["properties"]["order_count"] == 2


def test_orders_as_objects_write_order_objects(tmp_path) -> None:
    crm = FakeCrmOne()
    ctx = context(tmp_path, crm, orders_as="objects")
    CommerceOrderSender("orders", ctx).send(pending("orders", order(1)))
    assert crm.activities == {} and len(crm.objects) == 1
    assert ctx.stats.counts["orders"]["objects_created"] == 1


def test_an_older_copy_in_the_same_batch_is_dropped(tmp_path) -> None:
    crm = FakeCrmOne()
    ctx = context(tmp_path, crm)
    batch = pending("orders", order(1, version=2), order(1, version=3))
    CommerceOrderSender("orders", ctx).send(batch)
    assert ctx.stats.counts["orders"]["deduplicated"] == 1
    assert len(ctx.settle) == 2  # both settled: one written, one dropped as older


@pytest.mark.parametrize("status", [None, 503])
def test_a_transient_failure_stops_the_sync_and_settles_nothing(tmp_path, status) -> None:
    crm = FakeCrmOne()
    crm.fail("upsert_activities", status)
    ctx = context(tmp_path, crm)
    with pytest.raises(Transient):
        CommerceOrderSender("orders", ctx).send(pending("orders", order(1)))
    assert ctx.settle == [] and ctx.journal.pending("orders") == []


def test_a_refused_contact_makes_the_order_wait_for_it(tmp_path) -> None:
    crm = FakeCrmOne()
    crm.fail("upsert_activities", 422, "contact_not_found")
    ctx = context(tmp_path, crm)
    CommerceOrderSender("orders", ctx).send(pending("orders", order(1)))
    [waiting] = ctx.journal.pending("orders")
    assert waiting.code == "contact_not_found"
    assert ctx.stats.counts["orders"]["waiting_for_contact"] == 1


# --- carts ---------------------------------------------------------------------------------


def test_an_active_cart_starts_a_checkout_and_is_abandoned_after_the_threshold(tmp_path) -> None:
    crm = FakeCrmOne()
    ctx = context(tmp_path, crm, carts_as="activities")
    CartSender("carts", ctx).send(pending("carts", make_cart()))
    assert [a["type"] for a in crm.activities.values()] == ["checkout_started"]
    assert ctx.stats.counts["carts"]["carts_open"] == 1
    write_abandoned_carts(ctx, now=datetime(2026, 11, 30, tzinfo=UTC))
    assert sorted(a["type"] for a in crm.activities.values()) == [
        "cart_abandoned",
        "checkout_started",
    ]
    assert ctx.stats.counts["carts"]["carts_abandoned"] == 1


def test_carts_are_acknowledged_when_ignored(tmp_path) -> None:
    crm = FakeCrmOne()
    ctx = context(tmp_path, crm, carts_as="ignore")
    CartSender("carts", ctx).send(pending("carts", make_cart()))
    assert crm.calls == [] and ctx.settle == [(make_cart()["id"], False)]


# --- payments ------------------------------------------------------------------------------


def test_a_payment_sets_the_state_of_the_order_object_that_names_it(tmp_path) -> None:
    crm = FakeCrmOne()
    ctx = context(tmp_path, crm, orders_as="objects")
    named = order(1, paymentInfo={"payments": [{"typeId": "payment", "id": "p1"}]})
    CommerceOrderSender("orders", ctx).send(pending("orders", named))
    payment = {
        "id": "p1",
        "version": 2,
        "paymentMethodInfo": {"method": "PAYPAL"},
        "transactions": [{"type": "Charge", "state": "Success", "amount": None}],
    }
    PaymentSender("payments", ctx).send(pending("payments", payment))
    [update] = crm.called("upsert_objects")[-1]
    assert update["properties"]["payment_state"] == "Paid"
    assert ctx.settle[-1] == ("p1", False)


def test_a_payment_without_an_order_is_remembered_for_a_later_one(tmp_path) -> None:
    crm = FakeCrmOne()
    ctx = context(tmp_path, crm, orders_as="objects")
    payment = {"id": "p9", "version": 1, "transactions": []}
    PaymentSender("payments", ctx).send(pending("payments", payment))
    assert crm.called("upsert_objects") == []
    assert ctx.stats.counts["payments"]["payments_without_order"] == 1
    assert list(ctx.journal.payment_facts(["p9"])) == ["p9"]
