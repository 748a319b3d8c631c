"""Payments through the real `destination-crmone write` command: the order object gets its
payments' state (and method, when the tenant's `orders` type has `payment_method`) whichever
arrives first; under `orders_as: activities` payments stay acknowledged. Against the CRM One
sandbox started in this process."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from airbyte_cdk.models import Status

from destination_crmone.destination import DestinationCrmOne
from integration_tests.destination.airbyte_input import customer, order, stamp
from integration_tests.destination.test_commerce_write import CommerceJob
from sandbox.crmone import CrmOneSandbox

pytestmark = pytest.mark.slow
ORDERS_FIRST = ("customers", "orders", "payments")
PAYMENTS_FIRST = ("payments", "customers", "orders")


def payment_id(i: int) -> str:
    return f"30000000-0000-4000-8000-{i:012d}"


def payment(
    i: int, *transactions: tuple[str, str], method: str = "CREDIT_CARD", version: int = 1
) -> dict[str, Any]:
    """A payment with these (type, state) transactions of 10.00 EUR."""
    money = {"type": "centPrecision", "currencyCode": "EUR", "centAmount": 1000}
    return {
        "id": payment_id(i),
        "version": version,
        "amountPlanned": money,
        "paymentMethodInfo": {"paymentInterface": "psp", "method": method},
        "paymentStatus": {},
        "transactions": [
            {"id": f"t-{i}-{n}", "type": kind, "state": state, "amount": money}
            | {"timestamp": stamp(i)}
            for n, (kind, state) in enumerate(transactions)
        ],
        "createdAt": stamp(i),
        "lastModifiedAt": stamp(i, version),
    }


def paid_by(i: int, buyer: dict[str, Any] | None, *payments: int, **changes: Any) -> dict:
    references = [{"typeId": "payment", "id": payment_id(p)} for p in payments]
    return order(i, buyer, paymentInfo={"payments": references}, **changes)


def order_object(sandbox: CrmOneSandbox, i: int) -> dict[str, Any]:
    (found,) = [
        o for o in sandbox.objects("orders") if o["external_id"] == f"order:{order(i, None)['id']}"
    ]
    return found["properties"]


def one_paid_order(job: CommerceJob) -> dict[str, Any]:
    """A customer, an order it paid and the (charged) payment, in one run: its stats."""
    person = customer(1)
    orders, payments = [paid_by(1, person, 1)], [payment(1, ("Charge", "Success"))]
    return job.run({"customers": [person], "orders": orders, "payments": payments})


def object_writes(calls: list[str]) -> int:
    return sum(call.endswith("/v1/objects/orders/batch/upsert") for call in calls)


def test_a_payment_after_its_order_sets_state_and_method_once(
    sandbox: CrmOneSandbox, tmp_path: Path
) -> None:
    sandbox.add_object_property("orders", "payment_method")
    person = customer(1)
    job = CommerceJob(sandbox, tmp_path, ORDERS_FIRST, orders_as="objects")
    job.run({"customers": [person], "orders": [paid_by(1, person, 1), paid_by(2, None, 2)]})
    assert order_object(sandbox, 1)["payment_state"] == "Pending"  # the order's own, for now
    assert "payment_method" not in order_object(sandbox, 1)

    stats = job.run(
        {"payments": [payment(1, ("Charge", "Success")), payment(2, ("Charge", "Pending"))]}
    )
    assert order_object(sandbox, 1)["payment_state"] == "Paid"
    assert order_object(sandbox, 1)["payment_method"] == "CREDIT_CARD"
    assert order_object(sandbox, 2)["payment_state"] == "Pending"  # a guest's order too
    assert order_object(sandbox, 2)["payment_method"] == "CREDIT_CARD"
    counts = stats["streams"]["payments"]["counts"]
    assert counts["objects_updated"] == 2 and counts["received"] == 2
    assert object_writes(job.calls()) == 1  # both in one batch
    assert "GET /v1/objects" in job.calls()  # the orders type's properties, read once
    assert not any("'payment_method' property" in log for log in job.logs)
    assert job.queue() == []

    # a refund later: the object follows; the same payment again changes nothing
    job.run({"payments": [payment(1, ("Charge", "Success"), ("Refund", "Success"), version=2)]})
    assert order_object(sandbox, 1)["payment_state"] == "Refunded"
    again = job.run({"payments": [payment(1, ("Charge", "Success"), version=1)]})  # older copy
    assert order_object(sandbox, 1)["payment_state"] == "Refunded"
    assert again["streams"]["payments"]["counts"]["objects_unchanged"] == 1

    # the order changes (shipped): its object keeps its payment's state, not the order's own
    shipped = paid_by(1, person, 1, version=2, shipmentState="Shipped", lastModifiedAt=stamp(1, 3))
    job.run({"orders": [shipped]})
    assert order_object(sandbox, 1)["payment_state"] == "Refunded"
    assert order_object(sandbox, 1)["shipment_state"] == "Shipped"
    assert len(sandbox.objects("orders")) == 2


def test_a_payment_before_its_order_is_remembered_and_picked_up(
    sandbox: CrmOneSandbox, tmp_path: Path
) -> None:
    sandbox.add_object_property("orders", "payment_method")
    person = customer(1)
    job = CommerceJob(sandbox, tmp_path, PAYMENTS_FIRST, orders_as="both")

    # a payment whose order comes in a later run: remembered, nothing to write yet
    first = job.run({"payments": [payment(1, ("Authorization", "Success"), method="PAYPAL")]})
    assert first["streams"]["payments"]["counts"]["payments_without_order"] == 1
    assert sandbox.objects("orders") == [] and object_writes(job.calls()) == 0
    assert job.query("SELECT payment_id, state, method FROM payment_facts") == [
        (payment_id(1), "Authorized", "PAYPAL")
    ]
    job.run({"customers": [person], "orders": [paid_by(1, person, 1)]})
    assert order_object(sandbox, 1)["payment_state"] == "Authorized"
    assert order_object(sandbox, 1)["payment_method"] == "PAYPAL"

    # in one run, payments read before orders: the order's object still gets them (two
    # payments: one failed, one paid by another method → Paid, by that method)
    job.run(
        {
            "payments": [
                payment(2, ("Charge", "Failure"), method="CREDIT_CARD"),
                payment(3, ("Charge", "Success"), method="INVOICE"),
            ],
            "orders": [paid_by(2, person, 2, 3)],
        }
    )
    assert order_object(sandbox, 2)["payment_state"] == "Paid"
    assert order_object(sandbox, 2)["payment_method"] == "INVOICE"
    # the lifecycle activities keep following the order's own paymentState
    assert not [a for a in sandbox.activities() if ":payment:" in a["external_id"]]
    assert job.queue() == []


def test_orders_as_activities_leaves_payments_acknowledged(
    sandbox: CrmOneSandbox, tmp_path: Path
) -> None:
    job = CommerceJob(sandbox, tmp_path, ORDERS_FIRST, orders_as="activities")
    stats = one_paid_order(job)
    assert stats["streams"]["payments"]["counts"]["ignored"] == 1
    assert stats["ignored_streams"] == ["payments"]
    assert sandbox.objects("orders") == []
    assert not [call for call in job.calls() if "/v1/objects" in call]
    assert job.query("SELECT COUNT(*) FROM payment_facts") == [(0,)]


def test_a_tenant_without_payment_method_gets_the_state_only_and_check_says_how(
    sandbox: CrmOneSandbox, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    job = CommerceJob(sandbox, tmp_path, ORDERS_FIRST, orders_as="objects")
    stats = one_paid_order(job)
    assert order_object(sandbox, 1)["payment_state"] == "Paid"
    assert "payment_method" not in order_object(sandbox, 1)
    assert stats["streams"]["payments"]["counts"]["objects_updated"] == 1
    assert job.queue() == []  # no unknown_property
    assert any("Add a 'payment_method' property" in log for log in job.logs)  # the run says it

    with caplog.at_level(logging.WARNING, logger="airbyte"):
        status = DestinationCrmOne().check(logging.getLogger("test"), job.config)
    assert status.status == Status.SUCCEEDED, status.message
    warned = [r.getMessage() for r in caplog.records if "payment_method" in r.getMessage()]
    assert warned and "Add a 'payment_method' property" in warned[0]

    sandbox.add_object_property("orders", "payment_method")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="airbyte"):
        DestinationCrmOne().check(logging.getLogger("test"), job.config)
    assert not [r for r in caplog.records if "payment_method" in r.getMessage()]


def test_a_dry_run_says_which_order_objects_a_payment_would_change(
    sandbox: CrmOneSandbox, tmp_path: Path
) -> None:
    person = customer(1)
    job = CommerceJob(sandbox, tmp_path, ORDERS_FIRST, orders_as="objects")
    job.run({"customers": [person], "orders": [paid_by(1, person, 1)]})
    stats = job.run({"payments": [payment(1, ("Charge", "Success"))]}, dry_run=True)
    assert stats["streams"]["payments"]["counts"]["dry_run_would_send_objects"] == 1
    assert order_object(sandbox, 1)["payment_state"] == "Pending"  # nothing written
    assert job.query("SELECT COUNT(*) FROM payment_facts") == [(0,)]  # nothing remembered
    (review,) = job.query("SELECT detail FROM review WHERE kind = 'dry_run'")
    (record,) = json.loads(review[0])["records"]
    assert record["external_id"] == f"order:{order(1, None)['id']}"
    assert record["properties"] == {"payment_state": "Paid"}
