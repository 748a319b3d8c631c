"""Id reconciliation through the real `destination-crmone write` command: a complete snapshot
archives the contacts, marks the orders and closes the carts it lacks; an interrupted one, an
empty one, or one missing ids changes nothing. Against the CRM One sandbox."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from integration_tests.destination.airbyte_input import customer, order
from integration_tests.destination.test_commerce_write import CommerceJob, by_type, cart
from sandbox.crmone import CrmOneSandbox

pytestmark = pytest.mark.slow
STREAMS = ("customers", "carts", "orders", "customer_ids", "order_ids", "cart_ids")
LATER = "2030-01-01T00:00:00.000Z"  # every written record changed before it
NEVER = 10**6


def ids(records: list[dict[str, Any]], *, complete: bool = True, safe_before: str = LATER):
    """A snapshot of these records: their ids, then (when complete) the completion record."""
    snapshot = [
        {"id": r["id"], "version": r["version"], "lastModifiedAt": r["lastModifiedAt"]}
        for r in records
    ]
    if complete:
        body = {"complete": True, "started_at": LATER, "safe_before": safe_before}
        snapshot.append({"_ab_snapshot": {**body, "count": len(records), "stores": None}})
    return snapshot


def contact(sandbox: CrmOneSandbox, record: dict[str, Any]) -> dict[str, Any]:
    (found,) = [c for c in sandbox.contacts() if c["external_id"].endswith(record["id"])]
    return found


def test_a_complete_snapshot_archives_the_contacts_it_lacks(sandbox, tmp_path: Path):
    people = [customer(i) for i in range(1, 6)]
    job = CommerceJob(sandbox, tmp_path, STREAMS)
    job.run({"customers": people}, abandoned_after_hours=NEVER)

    # interrupted: people[1] is missing, but no completion record came
    cut = job.run({"customer_ids": ids(people[:1] + people[2:], complete=False)})
    assert not contact(sandbox, people[1]).get("archived")
    assert cut["streams"]["customer_ids"]["counts"]["snapshots_complete"] == 0

    # complete, people[1] and people[3] gone; people[3] changed after safe_before: kept
    stats = job.run(
        {
            "customer_ids": ids(
                people[:1] + people[2:3] + people[4:], safe_before=people[3]["lastModifiedAt"]
            )
        }
    )
    counts = stats["streams"]["customer_ids"]["counts"]
    assert counts["reconciled_archived"] == 1 and counts["snapshots_complete"] == 1
    assert contact(sandbox, people[1])["archived"] is True
    assert not contact(sandbox, people[3]).get("archived")
    assert "customer_ids: " in job.summary and "reconciled_archived 1" in job.summary

    # the same snapshot again: nothing more (people[1] is no longer a written customer)
    again = job.run({"customer_ids": ids(people[:1] + people[2:3] + people[4:])})
    assert again["streams"]["customer_ids"]["counts"]["reconciled_archived"] == 1  # people[3]
    assert contact(sandbox, people[3])["archived"] is True


def test_an_empty_or_short_snapshot_changes_nothing(sandbox, tmp_path: Path):
    people = [customer(i) for i in range(1, 4)]
    job = CommerceJob(sandbox, tmp_path, STREAMS)
    job.run({"customers": people}, abandoned_after_hours=NEVER)
    empty = job.run({"customer_ids": ids([])})
    assert empty["streams"]["customer_ids"]["warnings_by_code"] == {"snapshot_empty": 1}
    short = ids(people[:1])
    short[-1]["_ab_snapshot"]["count"] = 3  # the source sent 3, one arrived
    shorted = job.run({"customer_ids": short})
    assert shorted["streams"]["customer_ids"]["warnings_by_code"] == {"snapshot_incomplete": 1}
    assert not any(c.get("archived") for c in sandbox.contacts())


def test_a_cart_gone_is_never_abandoned_and_an_order_gone_is_marked(sandbox, tmp_path: Path):
    people = [customer(i) for i in range(1, 3)]
    carts = [cart(1, people[0], "Active"), cart(2, people[1], "Active")]
    orders = [order(1, people[0]), order(2, people[1])]
    job = CommerceJob(sandbox, tmp_path, STREAMS, orders_as="both")
    job.run({"customers": people, "carts": carts, "orders": orders}, abandoned_after_hours=NEVER)

    stats = job.run(
        {"cart_ids": ids(carts[1:]), "order_ids": ids(orders[1:])}, abandoned_after_hours=24
    )
    assert stats["streams"]["cart_ids"]["counts"]["reconciled_carts_closed"] == 1
    assert stats["streams"]["order_ids"]["counts"]["reconciled_orders_gone"] == 1
    abandoned = [a for a in sandbox.activities() if a["type"] == "cart_abandoned"]
    assert [a["external_id"] for a in abandoned] == [f"cart:{carts[1]['id']}:abandoned"]
    states = {o["external_id"]: o["properties"]["order_state"] for o in sandbox.objects("orders")}
    assert states == {f"order:{orders[0]['id']}": "Deleted", f"order:{orders[1]['id']}": "Open"}
    assert by_type(sandbox)["cart_abandoned"] == 1
