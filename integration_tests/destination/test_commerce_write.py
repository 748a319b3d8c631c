"""Commerce events through the real `destination-crmone write` command: carts in every state
and abandonment against the wall clock, orders through shipment/payment states and returns,
guest buyers who later register, the retry queue's parking and dependencies, and customers
leaving a routed store. Against the CRM One sandbox started in this process."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from destination_crmone.crmone.client import CrmOneClient
from destination_crmone.journal import open_journal
from integration_tests.destination.airbyte_input import (
    catalog_json,
    customer,
    order,
    stamp,
    stream_messages,
    write_jsonl,
)
from integration_tests.destination.test_write_command import COMMAND, Job
from integration_tests.destination.test_write_command import sandbox as sandbox  # a fixture
from sandbox.crmone import CrmOneSandbox

pytestmark = pytest.mark.slow
STREAMS = ("customers", "carts", "orders")
NEVER = 10**6  # hours: no cart is abandoned yet


class CommerceJob(Job):
    def __init__(
        self,
        sandbox: CrmOneSandbox,
        directory: Path,
        streams: tuple[str, ...] = STREAMS,
        **overrides: Any,
    ) -> None:
        super().__init__(sandbox, directory, **overrides)
        self.streams = streams  # in the order their records are sent
        self.catalog_path.write_text(json.dumps(catalog_json(*streams)))
        self.runs = 0

    def run(self, records: dict[str, list[dict[str, Any]]], **config: Any) -> dict[str, Any]:
        """One `write` with these records (and config changes); its run stats."""
        self.config.update(config)
        self.config_path.write_text(json.dumps(self.config))
        messages = []
        for stream in self.streams:
            messages += stream_messages(stream, records.get(stream, []), every=50)
        self.runs += 1
        output = self.write(write_jsonl(self.directory / f"run{self.runs}.jsonl", messages))
        self.logs = output.logs
        self.summary = next(log for log in output.logs if log.startswith("CRM One "))
        run_id, stats = self.query("SELECT run_id, stats FROM runs ORDER BY started_at DESC")[0]
        self.run_id = run_id
        return json.loads(stats)

    def query(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        journal = open_journal(self.config["journal"])
        try:
            return journal.query(statement, params)
        finally:
            journal.close()

    def queue(self) -> list[dict[str, Any]]:
        rows = self.query(
            "SELECT record_key, attempts, waiting_for FROM retry_queue"
            " WHERE status = 'pending' ORDER BY id"
        )
        return [dict(zip(("record_key", "attempts", "waiting_for"), r, strict=True)) for r in rows]

    def parked(self) -> list[dict[str, Any]]:
        """`destination-crmone journal --config C queue --parked --json`."""
        command = [str(COMMAND), "journal", "--config", str(self.config_path), "queue"]
        done = subprocess.run(
            [*command, "--parked", "--json"], capture_output=True, timeout=60, check=True
        )
        return [json.loads(line) for line in done.stdout.decode().splitlines()]

    def calls(self) -> list[str]:
        """`METHOD path` of every call of the last run."""
        run_id = self.journal("runs")[0]["run_id"]
        return [
            f"{c['method']} {c['path']}" for c in self.journal("calls") if c["run_id"] == run_id
        ]


def cart(i: int, buyer: dict[str, Any] | None, state: str, **changes: Any) -> dict[str, Any]:
    record = {
        "id": f"20000000-0000-4000-8000-{i:012d}",
        "version": 1,
        "cartState": state,
        "customerEmail": (buyer or {}).get("email") or f"shopper{i}@example.com",
        "store": {"typeId": "store", "key": "eu-web"},
        "lineItems": [{"id": f"cli-{i}", "quantity": 2}],
        "totalPrice": {"currencyCode": "EUR", "centAmount": 2500 + i, "fractionDigits": 2},
        "createdAt": stamp(i),
        "lastModifiedAt": stamp(i),
    }
    if buyer is not None:
        record["customerId"] = buyer["id"]
    return record | changes


def by_type(sandbox: CrmOneSandbox) -> Counter[str]:
    return Counter(a["type"] for a in sandbox.activities())


def activity(sandbox: CrmOneSandbox, external_id: str) -> dict[str, Any]:
    (found,) = [a for a in sandbox.activities() if a["external_id"] == external_id]
    return found


def contact_by_email(sandbox: CrmOneSandbox, email: str) -> dict[str, Any]:
    (found,) = [c for c in sandbox.contacts() if c["properties"].get("email") == email]
    return found


def activity_writes(calls: list[str]) -> int:
    return sum(call.endswith("/v1/activities/batch") for call in calls)


# --- carts ---------------------------------------------------------------------------------


def test_carts_in_every_state_abandoned_once_by_the_wall_clock_and_recovered(
    sandbox: CrmOneSandbox,
    tmp_path: Path,
) -> None:
    people = [customer(i) for i in range(4)]
    carts = [
        cart(1, people[0], "Active"),
        cart(2, people[1], "Ordered"),
        cart(3, people[2], "Merged"),
        cart(4, people[3], "Frozen"),
        cart(5, people[0], "Active", lineItems=[]),  # empty: no checkout
        cart(6, None, "Active"),  # a guest: becomes a contact
        cart(7, None, "Active", customerEmail=None),  # anonymous: skipped with a reason
    ]
    job = CommerceJob(sandbox, tmp_path)
    first = job.run({"customers": people, "carts": carts}, abandoned_after_hours=NEVER)
    assert by_type(sandbox) == {"checkout_started": 5}
    counts = first["streams"]["carts"]["counts"]
    assert counts["carts_skipped"] == 2 and counts["carts_open"] == 2
    assert contact_by_email(sandbox, "shopper6@example.com")["external_id"] is None

    # nothing new arrives; the wall clock says the two open carts are now abandoned
    second = job.run({}, abandoned_after_hours=24)
    assert by_type(sandbox) == {"checkout_started": 5, "cart_abandoned": 2}
    assert second["streams"]["carts"]["counts"]["carts_abandoned"] == 2
    assert activity_writes(job.calls()) == 1
    abandoned = activity(sandbox, f"cart:{carts[0]['id']}:abandoned")
    assert abandoned["properties"]["recovered"] is False
    assert abandoned["occurred_at"] == "2026-01-02T00:00:00.001Z"  # last change + 24 h

    # written once: another run writes nothing, and asks CRM One nothing about carts
    job.run({})
    assert activity_writes(job.calls()) == 0
    assert by_type(sandbox)["cart_abandoned"] == 2

    # the cart is ordered: its cart_abandoned is flagged recovered, by the order that did it
    ordered = cart(1, people[0], "Ordered", version=2, lastModifiedAt=stamp(1, 3))
    placed = order(1, people[0], cart={"typeId": "cart", "id": ordered["id"]})
    job.run({"carts": [ordered], "orders": [placed]})
    abandoned = activity(sandbox, f"cart:{ordered['id']}:abandoned")
    assert abandoned["properties"]["recovered"] is True
    assert abandoned["properties"]["order_id"] == placed["id"]
    assert by_type(sandbox)["cart_abandoned"] == 2  # updated in place, not a second one
    assert len(sandbox.activities(people[0]["id"])) == 3  # checkout, abandoned, order_placed


def test_carts_as_ignore_writes_no_cart_activity(
    sandbox: CrmOneSandbox,
    tmp_path: Path,
) -> None:
    job = CommerceJob(sandbox, tmp_path, carts_as="ignore")
    stats = job.run({"customers": [customer(1)], "carts": [cart(1, customer(1), "Active")]})
    assert by_type(sandbox) == {} and stats["streams"]["carts"]["counts"]["ignored"] == 1


# --- orders ----------------------------------------------------------------------------------


def test_an_order_through_its_states_and_returns_gets_each_activity_once(
    sandbox: CrmOneSandbox,
    tmp_path: Path,
) -> None:
    person = customer(1)
    job = CommerceJob(sandbox, tmp_path, orders_as="both")
    versions = [
        order(1, person),
        order(1, person, version=2, paymentState="Paid", shipmentState="Shipped"),
        order(
            1,
            person,
            state="Complete",
            version=3,
            paymentState="Paid",
            shipmentState="Delivered",
            lastModifiedAt=stamp(1, 5),
            returnInfo=[
                {"items": [{"quantity": 1}], "returnDate": stamp(1, 6)},
                {"items": [{"quantity": 1}, {"quantity": 2}], "returnDate": stamp(1, 7)},
            ],
        ),
    ]
    job.run({"customers": [person], "orders": versions[:1]})
    assert by_type(sandbox) == {"order_placed": 1}
    job.run({"orders": versions[1:2]})
    assert by_type(sandbox) == {"order_placed": 1, "order_updated": 2}
    job.run({"orders": versions[2:]})
    job.run({"orders": versions})  # everything again: nothing new
    oid = versions[0]["id"]
    assert {a["external_id"] for a in sandbox.activities()} == {
        f"order:{oid}:placed",
        f"order:{oid}:payment:Paid",
        f"order:{oid}:shipment:Shipped",
        f"order:{oid}:shipment:Delivered",
        f"order:{oid}:returned:1",
        f"order:{oid}:returned:2",
    }
    second_return = activity(sandbox, f"order:{oid}:returned:2")
    assert second_return["properties"]["return_quantity"] == 3
    (stored,) = sandbox.objects("orders")
    assert stored["properties"]["shipment_state"] == "Delivered"
    assert stored["properties"]["payment_state"] == "Paid"
    properties = sandbox.contact(person["id"])["properties"]
    assert properties["order_count"] == 1
    assert properties["total_spent"] == {"amount": "10.01", "currency": "EUR"}
    assert properties["last_order_at"] == stamp(1)


def test_order_history_counts_what_was_written_and_respects_ownership(
    sandbox: CrmOneSandbox,
    tmp_path: Path,
) -> None:
    person = customer(2)
    job = CommerceJob(sandbox, tmp_path)
    job.run({"customers": [person], "orders": [order(2, person), order(3, person)]})
    assert sandbox.contact(person["id"])["properties"]["order_count"] == 2
    owned = CommerceJob(
        sandbox, tmp_path, ownership=[{"property": "order_count", "owner": "crm_one"}]
    )
    owned.run({"orders": [order(4, person)]})
    properties = sandbox.contact(person["id"])["properties"]
    assert properties["order_count"] == 2  # CRM One owns it and has a value: left alone
    assert properties["total_spent"]["amount"] == "30.09"


# --- guest buyers ------------------------------------------------------------------------------


def test_a_guest_who_later_registers_is_one_contact_with_every_activity(
    sandbox: CrmOneSandbox,
    tmp_path: Path,
) -> None:
    guest_order = order(
        7,
        None,
        customerEmail="Gina@Example.com",
        locale="de-DE",
        billingAddress={"firstName": "Gina", "lastName": "Gast", "city": "Köln", "country": "DE"},
        custom={"fields": {"newsletterOptIn": True}},
    )
    job = CommerceJob(sandbox, tmp_path)
    job.run({"orders": [guest_order]})
    guest = contact_by_email(sandbox, "gina@example.com")
    assert guest["external_id"] is None
    assert guest["properties"]["first_name"] == "Gina" and guest["properties"]["city"] == "Köln"
    assert guest["consents"] == [] if "consents" in guest else True  # never inferred
    # she registers: the contact known by email gets her external id; later orders join it
    registered = customer(7, email="gina@example.com", firstName="Gina")
    guest_cart = cart(8, None, "Active", customerEmail="gina@example.com")  # before registering
    job.run({"customers": [registered], "carts": [guest_cart], "orders": [order(8, registered)]})
    (contact,) = [
        c for c in sandbox.contacts() if c["properties"].get("email") == "gina@example.com"
    ]
    assert contact["id"] == guest["id"] and contact["external_id"] == registered["id"]
    assert sorted(a["type"] for a in sandbox.activities(registered["id"])) == [
        "cart_abandoned",  # her cart was idle for more than 24 h at the end of the first run
        "checkout_started",
        "order_placed",
        "order_placed",
    ]
    assert len(sandbox.contacts()) == 1


# --- the retry queue ---------------------------------------------------------------------------


def test_a_waiting_order_is_resent_when_its_contact_is_written_and_not_before(
    sandbox: CrmOneSandbox,
    tmp_path: Path,
) -> None:
    person = customer(3)
    job = CommerceJob(sandbox, tmp_path, guest_orders="match_by_email")
    first = job.run({"orders": [order(3, person), order(4, None, customerEmail=person["email"])]})
    assert first["streams"]["orders"]["counts"]["waiting_for_contact"] == 2
    assert [q["waiting_for"] for q in job.queue()] == [
        f"ext:{person['id']}",
        "email:person3@example.com",
    ]
    # a run with nothing new asks CRM One nothing for the queue
    job.run({})
    assert [c for c in job.calls() if "/batch" in c] == []
    # the contact is written: both orders are re-sent in the same run
    third = job.run({"customers": [person]})
    assert third["streams"]["orders"]["counts"]["retried_from_queue"] == 2
    assert third["queue"]["woken"] == 2
    assert len(sandbox.activities(person["id"])) == 2 and job.queue() == []


def test_a_record_that_keeps_failing_is_parked_and_listed(
    sandbox: CrmOneSandbox,
    tmp_path: Path,
) -> None:
    # An email_conflict keeps its payload (a person may resolve it in CRM One), so it is
    # re-sent when due; it keeps failing here, so it is parked after two attempts. (A record
    # our own validation rejected keeps no payload and is never re-sent: see the privacy rule.)
    owner = customer(5)
    broken = customer(6, email=owner["email"])
    job = CommerceJob(sandbox, tmp_path, retry_max_attempts=2, retry_backoff_hours=0)
    job.run({"customers": [owner, broken]})
    assert [(q["record_key"], q["attempts"]) for q in job.queue()] == [(broken["id"], 1)]
    stats = job.run({})
    assert stats["streams"]["customers"]["counts"]["retried_from_queue"] == 1
    assert job.queue() == [] and stats["queue"]["parked_total"] == 1
    assert [p["record_key"] for p in job.parked()] == [broken["id"]]
    assert job.run({})["streams"]["customers"]["counts"]["retried_from_queue"] == 0
    assert "parked_total 1" in job.summary and "queue --parked" in job.summary


# --- store routing both ways -------------------------------------------------------------------


def test_a_customer_leaving_a_store_leaves_its_lists_and_loses_its_properties(
    sandbox: CrmOneSandbox,
    tmp_path: Path,
) -> None:
    client = CrmOneClient(sandbox.url, sandbox.client_id, sandbox.client_secret)
    for name in ("sales_region", "eu_vip"):
        client.add_contact_property({"name": name, "type": "string"})
    routing = [
        {
            "store_key": "eu-web",
            "list_ids": ["l_eu_newsletter"],
            "properties": {"sales_region": "EU", "eu_vip": "yes"},
        },
        {
            "store_key": "us-web",
            "list_ids": ["l_us_newsletter"],
            "properties": {"sales_region": "US"},
        },
    ]
    job = CommerceJob(sandbox, tmp_path, store_routing=routing)
    both = [{"typeId": "store", "key": "eu-web"}, {"typeId": "store", "key": "us-web"}]
    person = customer(1, stores=both)
    job.run({"customers": [person]})
    assert sandbox.list_members("l_eu_newsletter") == [person["id"]]
    assert sandbox.list_members("l_us_newsletter") == [person["id"]]
    assert sandbox.contact(person["id"])["properties"]["eu_vip"] == "yes"

    left_eu = customer(1, version=2, day=2, stores=both[1:])
    stats = job.run({"customers": [left_eu]})
    assert sandbox.list_members("l_eu_newsletter") == []
    assert sandbox.list_members("l_us_newsletter") == [person["id"]]
    properties = sandbox.contact(person["id"])["properties"]
    assert properties.get("eu_vip") is None and properties["sales_region"] == "US"
    assert stats["streams"]["customers"]["counts"]["list_members_removed"] == 1

    left_all = customer(1, version=3, day=3, stores=[])
    job.run({"customers": [left_all]})
    assert sandbox.list_members("l_us_newsletter") == []
    assert sandbox.contact(person["id"])["properties"].get("sales_region") is None
