"""Payments: a payment's state from its transactions, its method, the payments an order names,
and what the order object carries of them."""

from __future__ import annotations

from typing import Any

import pytest

from destination_crmone.commerce.mapping import (
    map_payment,
    order_payment_ids,
    order_payment_properties,
    payment_method,
    payment_state,
    payment_update,
)
from destination_crmone.crmone.validate import Issue
from destination_crmone.journal import Journal
from destination_crmone.journal.commerce import OrderPayments, PaymentFact
from unit_tests.destination.test_journal import journal, spec  # noqa: F401 (fixtures)


def tx(kind: str, state: str = "Success", cents: int | None = 1000) -> dict[str, Any]:
    amount = None if cents is None else {"currencyCode": "EUR", "centAmount": cents}
    return {"type": kind, "state": state, "amount": amount, "timestamp": "2026-01-01T00:00:00Z"}


@pytest.mark.parametrize(
    ("transactions", "state"),
    [
        (None, "Pending"),
        ([], "Pending"),
        ([tx("Charge")], "Paid"),
        ([tx("Authorization"), tx("Charge")], "Paid"),
        ([tx("Charge", "Pending")], "Pending"),
        ([tx("Charge", "Initial")], "Pending"),
        ([tx("Charge", "Failure")], "Failed"),
        ([tx("Charge", "Failure"), tx("Charge")], "Paid"),
        ([tx("Authorization")], "Authorized"),
        ([tx("Authorization"), tx("CancelAuthorization")], "Cancelled"),
        ([tx("Authorization"), tx("CancelAuthorization"), tx("Authorization")], "Authorized"),
        ([tx("Authorization", "Pending")], "Pending"),
        ([tx("Charge"), tx("Refund")], "Refunded"),
        ([tx("Charge"), tx("Refund", cents=400)], "PartiallyRefunded"),
        ([tx("Charge"), tx("Refund", cents=400), tx("Refund", cents=600)], "Refunded"),
        ([tx("Charge"), tx("Chargeback")], "Refunded"),
        ([tx("Charge"), tx("Refund", "Failure")], "Paid"),
        ([tx("Charge"), tx("Refund", "Pending")], "Paid"),
        ([tx("Charge"), tx("Refund", cents=None)], "Refunded"),  # unreadable: a full refund
        ([tx("Refund")], "Pending"),  # nothing charged: a refund alone moves nothing
        (["not a transaction", None], "Pending"),
    ],
)
def test_the_state_follows_the_successful_transactions(transactions: Any, state: str) -> None:
    assert payment_state(transactions) == state


def test_the_method_is_the_method_else_its_english_name_else_any_name() -> None:
    assert payment_method({"paymentMethodInfo": {"method": " CREDIT_CARD "}}) == "CREDIT_CARD"
    named = {"paymentMethodInfo": {"name": {"de": "Rechnung", "en": "Invoice"}}}
    assert payment_method(named) == "Invoice"
    assert payment_method({"paymentMethodInfo": {"name": {"de": "Rechnung"}}}) == "Rechnung"
    assert payment_method({"paymentMethodInfo": {"method": ""}}) is None
    assert payment_method({}) is None


def test_a_payment_becomes_a_fact_and_one_without_id_an_issue() -> None:
    record = {
        "id": "p1",
        "paymentMethodInfo": {"method": "PAYPAL"},
        "transactions": [tx("Charge")],
    }
    assert map_payment(record, "v2") == PaymentFact("p1", "Paid", "PAYPAL", "v2")
    missing = map_payment({"transactions": []}, None)
    assert isinstance(missing, Issue) and missing.code == "missing_payment_id"


def test_an_order_names_its_payments_by_reference() -> None:
    order = {
        "paymentInfo": {
            "payments": [
                {"typeId": "payment", "id": "p1"},
                {"typeId": "payment", "id": "p1"},
                {"typeId": "cart", "id": "c1"},
                {"id": "p2"},
                {"typeId": "payment"},
                "p3",
            ]
        }
    }
    assert order_payment_ids(order) == ("p1", "p2")
    assert order_payment_ids({}) == ()
    assert order_payment_ids({"paymentInfo": None}) == ()


def test_the_order_object_shows_the_most_advanced_payment_and_its_methods() -> None:
    failed = PaymentFact("p1", "Failed", "CREDIT_CARD")
    paid = PaymentFact("p2", "Paid", "PAYPAL")
    gift = PaymentFact("p3", "Paid", "GIFT_CARD")
    assert order_payment_properties([], True) == {}
    assert order_payment_properties([failed], True) == {
        "payment_state": "Failed",
        "payment_method": "CREDIT_CARD",
    }
    assert order_payment_properties([failed, paid, gift], True) == {
        "payment_state": "Paid",
        "payment_method": "GIFT_CARD, PAYPAL",
    }
    # the tenant's orders type has no payment_method: the state only
    assert order_payment_properties([paid], False) == {"payment_state": "Paid"}
    assert order_payment_properties([PaymentFact("p4", "Pending", None)], True) == {
        "payment_state": "Pending"
    }


def test_the_update_names_the_order_object_and_its_contact() -> None:
    by_id = payment_update("o1", "ext:ct-1", {"payment_state": "Paid"})
    assert by_id == {
        "external_id": "order:o1",
        "contact_external_id": "ct-1",
        "properties": {"payment_state": "Paid"},
    }
    by_email = payment_update("o2", "email:ana@example.com", {"payment_state": "Pending"})
    assert by_email["contact_email"] == "ana@example.com"
    assert "contact_external_id" not in by_email


def test_the_journal_links_orders_to_payments_and_erasure_drops_the_links(
    journal: Journal,  # noqa: F811 (the fixture)
) -> None:
    journal.save_payment_facts([PaymentFact("p1", "Paid", "PAYPAL", "v1")])
    journal.link_payments(
        [
            OrderPayments("o1", "ext:ct-1", ("p1", "p2")),
            OrderPayments("o2", "email:guest@example.com", ("p2",)),
        ]
    )
    assert journal.payment_facts(["p1", "p9"]) == {"p1": PaymentFact("p1", "Paid", "PAYPAL", "v1")}
    assert journal.orders_paid_by(["p1"]) == [OrderPayments("o1", "ext:ct-1", ("p1", "p2"))]
    assert {o.order_id for o in journal.orders_paid_by(["p2"])} == {"o1", "o2"}
    # an order written again names only p2 now
    journal.link_payments([OrderPayments("o1", "ext:ct-1", ("p2",))])
    assert journal.orders_paid_by(["p1"]) == []
    # erasing the guest: its order's links go (payment facts hold no personal data)
    journal.forget_contact_commerce(["email:guest@example.com"])
    assert [o.order_id for o in journal.orders_paid_by(["p2"])] == ["o1"]
    assert journal.payment_facts(["p1"]) != {}
