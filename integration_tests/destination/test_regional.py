"""One commercetools project feeding two regional CRM One tenants (EU and US), one Airbyte
connection per destination (`source read | destination write`, each with its own state), the
destinations told apart only by their `filters`. Every customer must land in exactly the CRMs
its country says, with its orders and consents, and nothing of it in the other; a customer who
moves from DE to the US follows `on_leave` in the EU and is written in full in the US."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from demo.pipeline import StateFile, Sync, configured_catalog, write_json
from destination_crmone.journal import open_journal
from destination_crmone.streams import used_streams
from sandbox.commercetools import CommercetoolsSandbox
from sandbox.commercetools.seed import SeedSpec
from sandbox.crmone import CrmOneSandbox

pytestmark = pytest.mark.slow
EU = ["DE", "AT", "FR", "NL"]
US = ["US"]
SEED = SeedSpec(customers=40, orders=90, guest_order_share=0.15, seed=18)


@dataclass
class Connection:
    """One Airbyte connection: the source, one destination, its own state."""

    name: str
    crm: CrmOneSandbox
    workdir: Path
    source_config: Path
    destination_config: Path
    catalog: Path
    state: StateFile

    def sync(self) -> dict[str, Any]:
        result = Sync(
            self.name,
            source_config=self.source_config,
            destination_config=self.destination_config,
            catalog=self.catalog,
            state_file=self.state,
            log_dir=self.workdir / "logs",
            env={"CRMONE_BACKOFF_BASE": "0.01"},
        ).run(timeout_seconds=300, on_state=None)
        logs = (self.workdir / "logs" / f"{self.name}-destination.log").read_text()
        assert result.ok, (result, logs[-3000:])
        journal = open_journal(json.loads(self.destination_config.read_text())["journal"])
        try:
            rows = journal.query("SELECT stats FROM runs ORDER BY started_at DESC")
        finally:
            journal.close()
        return json.loads(rows[0][0])


def connection(
    name: str, ct: CommercetoolsSandbox, crm: CrmOneSandbox, workdir: Path, **config: Any
) -> Connection:
    workdir.mkdir(parents=True, exist_ok=True)
    source = workdir / "source.json"
    destination = workdir / "destination.json"
    write_json(source, ct.source_config())
    write_json(destination, crm.destination_config(str(workdir / "journal.db"), **config))
    catalog = workdir / "catalog.json"
    write_json(
        catalog, configured_catalog(source, used_streams(json.loads(destination.read_text())))
    )
    return Connection(
        name, crm, workdir, source, destination, catalog, StateFile(workdir / "state.json")
    )


def billing_country(customer: dict[str, Any]) -> str | None:
    addresses = customer.get("addresses") or []
    chosen = next(
        (a for a in addresses if a.get("id") == customer.get("defaultBillingAddressId")),
        addresses[0] if addresses else {},
    )
    return chosen.get("country")


def order_country(order: dict[str, Any]) -> str | None:
    for name in ("billingAddress", "shippingAddress"):
        if (order.get(name) or {}).get("country"):
            return order[name]["country"]
    return None


def expected_customers(ct: CommercetoolsSandbox, countries: list[str]) -> set[str]:
    return {c["id"] for c in ct.records("customers") if billing_country(c) in countries}


@pytest.fixture
def regions(tmp_path: Path):
    with (
        CommercetoolsSandbox(seed=SEED) as ct,
        CrmOneSandbox(tenant="eu", requests_per_second=100_000, max_concurrency=64) as eu_crm,
        CrmOneSandbox(tenant="us", requests_per_second=100_000, max_concurrency=64) as us_crm,
    ):
        common = {"orders_as": "both", "identity": {"source_field": "id"}}
        eu = connection(
            "eu",
            ct,
            eu_crm,
            tmp_path / "eu",
            filters=[{"field": "country", "in": EU}],
            on_leave="archive",
            store_routing=[{"store_key": "eu-web", "list_ids": ["l_eu_newsletter"]}],
            **common,
        )
        us = connection(
            "us",
            ct,
            us_crm,
            tmp_path / "us",
            filters=[{"field": "country", "in": US}],
            store_routing=[{"store_key": "us-web", "list_ids": ["l_us_newsletter"]}],
            **common,
        )
        yield ct, eu, us


def contacts_of(crm: CrmOneSandbox, *, archived: bool = False) -> set[str]:
    return {c["external_id"] for c in crm.contacts() if bool(c.get("archived")) == archived}


def assert_lands_only_where_its_rules_say(ct: CommercetoolsSandbox, region: Connection, countries):
    crm = region.crm
    wanted = expected_customers(ct, countries)
    by_id = {c["id"]: c for c in ct.records("customers")}
    registered = {ext for ext in contacts_of(crm) if ext in by_id}  # guests: created by email
    assert registered == wanted, "a customer is missing or one of another region leaked"
    orders = ct.records("orders")
    placed = {o["id"] for o in orders if o.get("customerId") in wanted}
    guest_orders = {
        o["id"] for o in orders if not o.get("customerId") and order_country(o) in countries
    }
    written = {obj["external_id"].removeprefix("order:") for obj in crm.objects("orders")}
    assert written == placed | guest_orders
    for customer_id in wanted:
        fields = ((by_id[customer_id].get("custom") or {}).get("fields")) or {}
        consents = {(c["channel"], c["status"]) for c in crm.consents(customer_id)}
        if "newsletterOptIn" in fields:
            status = "granted" if fields["newsletterOptIn"] else "withdrawn"
            assert ("email", status) in consents


def test_one_source_feeds_two_regional_crms_with_nothing_lost_and_nothing_leaked(regions):
    ct, eu, us = regions
    eu_run, us_run = eu.sync(), us.sync()
    assert_lands_only_where_its_rules_say(ct, eu, EU)
    assert_lands_only_where_its_rules_say(ct, us, US)
    customer_ids = {c["id"] for c in ct.records("customers")}
    assert not contacts_of(eu.crm) & contacts_of(us.crm) & customer_ids  # none in both
    for run, region in ((eu_run, EU), (us_run, US)):  # counted, not rejected
        customers = run["streams"]["customers"]
        others = {c["id"] for c in ct.records("customers")} - expected_customers(ct, region)
        assert customers["counts"]["filtered"] == len(others)
        assert not customers["rejected_by_code"]
    # store routing inside a region: eu-web customers of the EU CRM are in its newsletter list
    eu_web = {
        c["id"]
        for c in ct.records("customers")
        if billing_country(c) in EU and "eu-web" in [s["key"] for s in c.get("stores", [])]
    }
    assert set(eu.crm.list_members("l_eu_newsletter")) == eu_web

    # a DE customer moves to the US: archived in the EU (on_leave), written in full in the US
    mover = next(
        c
        for c in ct.records("customers")
        if billing_country(c) == "DE" and c["id"] in eu_web and c.get("email")
    )

    def move(record: dict[str, Any]) -> list[dict[str, Any]]:
        for address in record["addresses"]:
            address["country"] = "US"
        record["stores"] = [{"typeId": "store", "key": "us-web"}]
        return [{"type": "CustomerStoresSet", "stores": record["stores"]}]

    with ct.store.lock:
        ct.app.mutator.change("customers", mover, move)
    eu.sync(), us.sync()
    assert mover["id"] in contacts_of(eu.crm, archived=True)
    moved = us.crm.contact(mover["id"])
    assert moved is not None and moved["properties"]["country"] == "US"
    assert moved["properties"]["email"] and moved["properties"]["first_name"]
    assert mover["id"] in us.crm.list_members("l_us_newsletter")
