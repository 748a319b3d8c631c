"""Changes after seeding: versions, timestamps, the Messages they leave, the admin API."""

from __future__ import annotations

import pytest
import requests

from sandbox.commercetools import CommercetoolsSandbox, SeedSpec
from unit_tests.sandbox_commercetools.conftest import NewSandbox, session_for


@pytest.fixture
def own_sandbox(new_sandbox: NewSandbox) -> CommercetoolsSandbox:
    """A sandbox of this test's own (the tests here change it), not the module's shared one."""
    return new_sandbox(SeedSpec(customers=300, orders=400, seed=7))


@pytest.fixture
def api(own_sandbox: CommercetoolsSandbox) -> requests.Session:
    return session_for(own_sandbox.url, ("sandbox-client", "sandbox-secret"))


def messages(api: requests.Session, url: str, **extra: str) -> list[dict]:
    params = {
        "sort": ["createdAt asc", "id asc"],
        "where": "createdAt >= :t",
        "var.t": "2000-01-01T00:00:00.000Z",
        "limit": 500,
        **extra,
    }
    response = api.get(f"{url}/demo/messages", params=params, timeout=10)
    response.raise_for_status()
    return response.json()["results"]


def test_updates_bump_version_and_time_past_every_seeded_record(own_sandbox, api) -> None:
    before = {r["id"]: r for r in own_sandbox.records("customers")}
    newest_seed = max(r["lastModifiedAt"] for r in before.values())
    updated = own_sandbox.update_customers(25)
    assert len(set(updated)) == 25
    after = {r["id"]: r for r in own_sandbox.records("customers")}
    stamps = [after[i]["lastModifiedAt"] for i in updated]
    assert all(s > newest_seed for s in stamps)
    assert len(set(stamps)) == 25  # one millisecond each, increasing
    for i in updated:
        assert after[i]["version"] == before[i]["version"] + 1
        assert after[i]["firstName"] != before[i]["firstName"]
        assert before[i] is not after[i]  # never edited in place
    params = {
        "sort": ["lastModifiedAt asc", "id asc"],
        "where": "lastModifiedAt > :t",
        "var.t": newest_seed,
        "limit": 500,
    }
    changed = api.get(f"{own_sandbox.url}/demo/customers", params=params, timeout=10).json()
    assert [r["id"] for r in changed["results"]] == updated


def test_deletions_leave_customer_deleted_messages(own_sandbox, api) -> None:
    deleted = own_sandbox.delete_customers(5)
    remaining = {r["id"] for r in own_sandbox.records("customers")}
    assert not set(deleted) & remaining
    found = messages(api, own_sandbox.url, **{"where": 'type = "CustomerDeleted"'})
    assert [m["resource"] for m in found] == [{"typeId": "customer", "id": i} for i in deleted]
    for message in found:
        assert message["sequenceNumber"] >= 1
        assert message["createdAt"].endswith("Z")
        assert message["resourceVersion"] >= 2
    gone = api.get(f"{own_sandbox.url}/demo/customers/{deleted[0]}", timeout=10)
    assert gone.status_code == 404


def test_order_changes_carry_old_states_and_sequence_numbers_grow(own_sandbox, api) -> None:
    old = {o["id"]: o["orderState"] for o in own_sandbox.records("orders")}
    cancelled = own_sandbox.cancel_orders(3)
    advanced = own_sandbox.update_orders(4)
    states = {o["id"]: o for o in own_sandbox.records("orders")}
    assert all(states[i]["orderState"] == "Cancelled" for i in cancelled)
    found = messages(api, own_sandbox.url)
    changes = [m for m in found if m["type"] == "OrderStateChanged"]
    assert {m["resource"]["id"] for m in changes} == set(cancelled) | set(advanced)
    for message in changes:
        assert message["oldOrderState"] == old[message["resource"]["id"]]
    for order_id in advanced:
        # one change, two or three messages (state, shipment state and, for a newly
        # confirmed order, payment state): consecutive numbers
        numbers = sorted(m["sequenceNumber"] for m in found if m["resource"]["id"] == order_id)
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
        assert len(numbers) == (3 if old[order_id] == "Open" else 2)
        assert states[order_id]["lastMessageSequenceNumber"] == numbers[-1]


def test_admin_mutate_and_upsert_over_http(own_sandbox, api) -> None:
    response = requests.post(
        f"{own_sandbox.url}/_sandbox/mutate",
        json={
            "update_customers": 3,
            "delete_customers": 2,
            "update_orders": 2,
            "cancel_orders": 1,
            "create_customers": 1,
        },
        timeout=10,
    )
    body = response.json()
    assert [
        len(body[k])
        for k in (
            "updated_customers",
            "deleted_customers",
            "updated_orders",
            "cancelled_orders",
            "created_customers",
        )
    ] == [3, 2, 2, 1, 1]
    created = api.get(
        f"{own_sandbox.url}/demo/customers/{body['created_customers'][0]}", timeout=10
    )
    assert created.json()["version"] == 1
    kinds = {m["type"] for m in messages(api, own_sandbox.url)}
    assert {"CustomerCreated", "CustomerDeleted", "OrderStateChanged"} <= kinds
    bad = requests.post(f"{own_sandbox.url}/_sandbox/mutate", json={"explode": 1}, timeout=10)
    assert bad.status_code == 400
    stored = own_sandbox.upsert("customer", {"email": "new@example.com", "stores": []})
    replaced = own_sandbox.upsert("customers", {**stored, "email": "renamed@example.com"})
    assert (replaced["id"], replaced["version"], replaced["createdAt"]) == (
        stored["id"],
        2,
        stored["createdAt"],
    )
    assert replaced["lastModifiedAt"] > stored["lastModifiedAt"]


def test_no_messages_when_the_project_has_them_disabled(api) -> None:
    spec = SeedSpec(customers=20, orders=10, messages_enabled=False)
    with CommercetoolsSandbox(seed=spec) as quiet:
        client = session_for(quiet.url, ("sandbox-client", "sandbox-secret"))
        assert client.get(f"{quiet.url}/demo", timeout=10).json()["messages"]["enabled"] is False
        quiet.delete_customers(3)
        assert messages(client, quiet.url) == []
