"""Deletions as unkind as commercetools makes them: Messages expire after the project's
retention, carts vanish by their time to live, carts/payments are deleted and customers leave
stores without a Message; GraphQL reads ids only."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from sandbox.commercetools import CommercetoolsSandbox, SeedSpec
from unit_tests.sandbox_commercetools.conftest import read_keyset, session_for

SEED = SeedSpec(customers=300, orders=300)
IDS_QUERY = """
query Ids($where: String, $limit: Int) {
  customers(where: $where, sort: ["lastModifiedAt asc", "id asc"], limit: $limit) {
    results { id version lastModifiedAt }
  }
}"""


@pytest.fixture
def sandbox() -> Iterator[CommercetoolsSandbox]:
    with CommercetoolsSandbox(seed=SEED) as server:
        yield server


@pytest.fixture
def api(sandbox: CommercetoolsSandbox) -> requests.Session:
    return session_for(sandbox.url, (sandbox.client_id, sandbox.client_secret))


def messages(api: requests.Session, sandbox: CommercetoolsSandbox) -> list[dict]:
    return read_keyset(api, f"{sandbox.url}/demo/messages", limit=500)  # = createdAt


def graphql(api: requests.Session, sandbox: CommercetoolsSandbox, query: str, **variables):
    return api.post(
        f"{sandbox.url}/demo/graphql", json={"query": query, "variables": variables}, timeout=10
    )


def test_messages_older_than_the_retention_vanish(api, sandbox):
    sandbox.set_messages_retention(30)
    sandbox.set_clock_offset(-20)
    old = set(sandbox.delete_customers(3))
    sandbox.set_clock_offset(-10)
    recent = set(sandbox.delete_customers(2))
    sandbox.set_clock_offset(0)
    assert {m["resource"]["id"] for m in messages(api, sandbox)} == old | recent
    sandbox.set_messages_retention(15)  # the default
    assert {m["resource"]["id"] for m in messages(api, sandbox)} == recent
    sandbox.set_messages_retention(5)
    assert messages(api, sandbox) == []
    project = api.get(f"{sandbox.url}/demo", timeout=10).json()
    assert project["messages"] == {"enabled": True, "deleteDaysAfterCreation": 5}


def test_the_project_settings_need_view_project_settings(sandbox):
    sandbox.add_client("reader", "s3cret", ["view_customers:demo", "view_messages:demo"])
    reader = session_for(sandbox.url, ("reader", "s3cret"))
    response = reader.get(f"{sandbox.url}/demo", timeout=10)
    assert response.status_code == 403
    assert "view_project_settings:demo" in response.json()["message"]


def test_carts_and_payments_are_deleted_without_a_message(api, sandbox):
    carts, payments = sandbox.delete_carts(2), sandbox.delete_payments(2)
    assert carts and payments
    remaining = {r["id"] for r in sandbox.records("carts")} | {
        r["id"] for r in sandbox.records("payments")
    }
    assert not remaining & {*carts, *payments}
    assert messages(api, sandbox) == []


def test_a_cart_past_its_time_to_live_vanishes_without_a_message(api, sandbox):
    sandbox.set_clock_offset(-3)
    stale = sandbox.upsert("carts", {"cartState": "Active", "lineItems": []})
    sandbox.set_clock_offset(0)
    fresh = sandbox.upsert("carts", {"cartState": "Active", "lineItems": []})
    ids = {r["id"] for r in read_keyset(api, f"{sandbox.url}/demo/carts", limit=500)}
    assert {stale["id"], fresh["id"]} <= ids  # no time to live set: kept
    sandbox.set_cart_ttl(2)
    ids = {r["id"] for r in read_keyset(api, f"{sandbox.url}/demo/carts", limit=500)}
    assert fresh["id"] in ids and stale["id"] not in ids
    assert (
        api.get(f"{sandbox.url}/demo", timeout=10).json()["carts"][
            "deleteDaysAfterLastModification"
        ]
        == 2
    )
    assert messages(api, sandbox) == []


def test_leaving_a_store_changes_the_customer_without_a_message(api, sandbox):
    url = f"{sandbox.url}/demo/in-store/key=eu-web/customers"
    member = read_keyset(api, url, limit=500)[0]
    sandbox.set_customer_stores([member["id"]], ["us-web"])
    assert member["id"] not in {r["id"] for r in read_keyset(api, url, limit=500)}
    moved = api.get(f"{sandbox.url}/demo/customers/{member['id']}", timeout=10).json()
    assert moved["version"] == member["version"] + 1
    assert [s["key"] for s in moved["stores"]] == ["us-web"]
    assert messages(api, sandbox) == []


def test_graphql_reads_ids_and_versions_page_by_page(api, sandbox):
    seen: list[dict] = []
    where = None
    while True:
        body = graphql(api, sandbox, IDS_QUERY, where=where, limit=120).json()
        page = body["data"]["customers"]["results"]
        seen += page
        if len(page) < 120:
            break
        last = page[-1]
        where = (
            f'lastModifiedAt > "{last["lastModifiedAt"]}" or '
            f'(lastModifiedAt = "{last["lastModifiedAt"]}" and id > "{last["id"]}")'
        )
    customers = sandbox.records("customers")
    assert sorted(r["id"] for r in seen) == sorted(c["id"] for c in customers)
    assert set(seen[0]) == {"id", "version", "lastModifiedAt"}
    versions = {c["id"]: c["version"] for c in customers}
    assert all(versions[r["id"]] == r["version"] for r in seen)


def test_graphql_in_store_scopes_and_errors(api, sandbox):
    query = '{ inStore(key: "eu-web") { customers(limit: 500) { results { id } } } }'
    got = graphql(api, sandbox, query).json()["data"]["inStore"]["customers"]["results"]
    members = {
        c["id"]
        for c in sandbox.records("customers")
        if any(s["key"] == "eu-web" for s in c["stores"])
    }
    assert {r["id"] for r in got} == members

    sandbox.add_client("orders-only", "s3cret", ["view_orders:demo"])
    other = session_for(sandbox.url, ("orders-only", "s3cret"))
    refused = graphql(other, sandbox, "{ customers { results { id } } }").json()
    assert refused["data"] is None and "view_customers:demo" in refused["errors"][0]["message"]

    broken = graphql(api, sandbox, "{ customers { results { id }")
    assert broken.status_code == 400 and broken.json()["errors"][0]["extensions"]["code"]
    nested = graphql(api, sandbox, "{ customers { results { addresses } } }").json()
    assert nested["data"] is None and "scalar" in nested["errors"][0]["message"]
    assert api.post(f"{sandbox.url}/demo/customers", json={}, timeout=10).status_code == 405
