"""Routing, filters and the customer data a CRM expects, through the real `destination-crmone`
commands against the CRM One sandbox: routing by country and by a custom field, a customer in
two stores in both stores' lists, leaving a rule, `check` naming unknown keys and properties by
path, the shipping address after a reorder, a localized value in the customer's language and
the lifecycle stage over a first and a second order."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from integration_tests.destination.airbyte_input import customer, order
from integration_tests.destination.test_commerce_write import CommerceJob
from integration_tests.destination.test_write_command import COMMAND
from sandbox.crmone import CrmOneSandbox

pytestmark = pytest.mark.slow


@pytest.fixture
def crm() -> Any:
    with CrmOneSandbox(
        requests_per_second=100_000, max_concurrency=64, shipping_properties=True
    ) as running:
        running.add_contact_property("sales_region")
        running.add_contact_property("notes_text", "text")
        running.add_list("l_dach", "DACH")
        running.add_list("l_gold", "Gold members")
        yield running


def with_fields(record: dict[str, Any], **fields: Any) -> dict[str, Any]:
    custom = record["custom"]
    return {**record, "custom": {**custom, "fields": {**custom["fields"], **fields}}}


def test_routing_by_country_and_custom_field_both_stores_and_leaving(
    crm: CrmOneSandbox, tmp_path: Path
) -> None:
    job = CommerceJob(
        crm,
        tmp_path,
        streams=("customers",),
        store_routing=[
            {"store_key": "eu-web", "list_ids": ["l_eu_newsletter"]},
            {"store_key": "us-web", "list_ids": ["l_us_newsletter"]},
        ],
        routing={
            "rules": [
                {
                    "when": {"field": "country", "in": ["DE", "AT"]},
                    "lists": ["l_dach"],
                    "properties": [{"property": "sales_region", "value": "DACH"}],
                },
                {
                    "when": [{"field": "custom.fields.loyaltyTier", "in": ["gold"]}],
                    "lists": ["l_gold"],
                },
            ]
        },
    )
    german, american, both = customer(0), customer(1), customer(2)
    german = with_fields(german, loyaltyTier="gold")
    both["stores"] = [{"typeId": "store", "key": "eu-web"}, {"typeId": "store", "key": "us-web"}]
    job.run({"customers": [german, american, both]})
    g, a, b = (c["id"] for c in (german, american, both))
    assert set(crm.list_members("l_dach")) == {g, b}
    assert set(crm.list_members("l_gold")) == {g}
    assert set(crm.list_members("l_eu_newsletter")) == {g, b}
    assert set(crm.list_members("l_us_newsletter")) == {a, b}  # in two stores: both lists
    assert crm.contact(g)["properties"]["sales_region"] == "DACH"
    assert crm.contact(a)["properties"].get("sales_region") is None

    # the German customer moves to Austria and drops gold; the two-store one leaves eu-web
    moved = with_fields(german, loyaltyTier="silver")
    moved["addresses"] = [{**german["addresses"][0], "country": "AT"}]
    moved.update(version=2, lastModifiedAt="2026-02-01T00:00:00.000Z")
    left = {**both, "stores": [{"typeId": "store", "key": "us-web"}], "version": 2}
    left["lastModifiedAt"] = "2026-02-01T00:00:00.000Z"
    left["addresses"] = [{**both["addresses"][0], "country": "US"}]
    job.run({"customers": [moved, left]})
    assert set(crm.list_members("l_gold")) == set()
    assert set(crm.list_members("l_dach")) == {g}  # still DACH (AT)
    assert set(crm.list_members("l_eu_newsletter")) == {g}
    assert set(crm.list_members("l_us_newsletter")) == {a, b}
    assert crm.contact(b)["properties"].get("sales_region") is None  # cleared on leaving
    assert crm.contact(g)["properties"]["sales_region"] == "DACH"


def test_first_match_routes_only_by_the_first_rule(crm: CrmOneSandbox, tmp_path: Path) -> None:
    job = CommerceJob(
        crm,
        tmp_path,
        streams=("customers",),
        routing={
            "mode": "first_match",
            "rules": [
                {
                    "when": {"field": "custom.fields.loyaltyTier", "in": ["gold"]},
                    "lists": ["l_gold"],
                },
                {"when": {"field": "country", "in": ["DE"]}, "lists": ["l_dach"]},
            ],
        },
    )
    gold, plain = with_fields(customer(0), loyaltyTier="gold"), customer(2)
    job.run({"customers": [gold, plain]})
    assert set(crm.list_members("l_gold")) == {gold["id"]}
    assert set(crm.list_members("l_dach")) == {plain["id"]}


def check(crm: CrmOneSandbox, tmp_path: Path, **config: Any) -> dict[str, Any]:
    """`destination-crmone check --config C` (the CDK's spec validation included)."""
    path = tmp_path / "check.json"
    path.write_text(json.dumps(crm.destination_config(str(tmp_path / "j.db"), **config)))
    done = subprocess.run(
        [str(COMMAND), "check", "--config", str(path)], capture_output=True, timeout=60, check=False
    )
    messages = [json.loads(line) for line in done.stdout.decode().splitlines() if line[:1] == "{"]
    (status,) = [m["connectionStatus"] for m in messages if m["type"] == "CONNECTION_STATUS"]
    return status


def test_check_fails_on_an_unknown_key_and_an_unknown_property_naming_their_paths(
    crm: CrmOneSandbox, tmp_path: Path
) -> None:
    assert check(crm, tmp_path)["status"] == "SUCCEEDED"
    typo = check(crm, tmp_path, only_stores=["eu-web"], identity={"source_feild": "id"})
    assert typo["status"] == "FAILED"
    assert "only_stores: unknown key; did you mean 'store_routing'?" in typo["message"]
    assert "identity.source_feild: unknown key; did you mean 'source_field'?" in typo["message"]
    unknown = check(
        crm,
        tmp_path,
        ownership=[{"property": "phnoe", "owner": "crm_one"}],
        field_mappings=[{"source": "dateOfBirth", "target": "order_count"}],
        routing=[{"when": {"field": "country", "in": ["DE"]}, "lists": ["l_dahc"]}],
    )
    assert unknown["status"] == "FAILED"
    message = unknown["message"]
    assert "ownership[0].property: 'phnoe' is not a CRM One contact property" in message
    assert "did you mean 'phone'?" in message
    assert "field_mappings[0].target: 'order_count' is of type integer" in message
    assert "routing.rules[0].lists[0]: 'l_dahc' is not a CRM One list" in message


def test_shipping_address_by_role_survives_a_reorder(crm: CrmOneSandbox, tmp_path: Path) -> None:
    job = CommerceJob(
        crm,
        tmp_path,
        streams=("customers",),
        field_mappings=[{"source": "address.shipping.postal_code", "target": "sales_region"}],
    )
    home = {
        "id": "home",
        "streetName": "Hauptstraße",
        "streetNumber": "1",
        "postalCode": "10115",
        "city": "Berlin",
        "country": "DE",
    }
    cabin = {
        "id": "cabin",
        "streetName": "Bryggen",
        "postalCode": "5003",
        "city": "Bergen",
        "country": "NO",
    }
    person = customer(
        0,
        addresses=[home, cabin],
        defaultBillingAddressId="home",
        defaultShippingAddressId="cabin",
    )
    job.run({"customers": [person]})
    written = crm.contact(person["id"])["properties"]
    assert (written["city"], written["country"]) == ("Berlin", "DE")
    assert (written["shipping_city"], written["shipping_country"]) == ("Bergen", "NO")
    assert written["shipping_street"] == "Bryggen" and written["sales_region"] == "5003"

    reordered = {**person, "addresses": [cabin, home], "version": 2, "firstName": "Anna"}
    reordered["lastModifiedAt"] = "2026-02-01T00:00:00.000Z"
    job.run({"customers": [reordered]})
    written = crm.contact(person["id"])["properties"]
    assert (written["city"], written["shipping_city"]) == ("Berlin", "Bergen")
    assert written["sales_region"] == "5003" and written["first_name"] == "Anna"


def test_shipping_properties_are_left_out_for_a_tenant_without_them(tmp_path: Path) -> None:
    with CrmOneSandbox(requests_per_second=100_000) as plain:
        job = CommerceJob(plain, tmp_path, streams=("customers",))
        stats = job.run({"customers": [customer(0)]})
        assert stats["streams"]["customers"]["counts"]["contacts_created"] == 1
        assert not any(
            k.startswith("shipping_") for k in plain.contact(customer(0)["id"])["properties"]
        )


def test_localized_value_in_the_customers_language(crm: CrmOneSandbox, tmp_path: Path) -> None:
    job = CommerceJob(
        crm,
        tmp_path,
        streams=("customers",),
        field_mappings=[
            {"source": "custom.fields.greeting", "target": "notes_text", "locale": "customer"}
        ],
        fallback_locale="fr",
    )
    greeting = {"de": "Hallo", "en": "Hello", "fr": "Bonjour"}
    german = with_fields(customer(0), greeting=greeting)  # locale de-DE
    american = with_fields(customer(1), greeting=greeting)  # locale en-US
    italian = with_fields(customer(2, locale="it-IT"), greeting=greeting)  # falls back: fr
    job.run({"customers": [german, american, italian]})
    texts = [crm.contact(c["id"])["properties"]["notes_text"] for c in (german, american, italian)]
    assert texts == ["Hallo", "Hello", "Bonjour"]


def test_lifecycle_stage_over_a_first_and_a_second_order(
    crm: CrmOneSandbox, tmp_path: Path
) -> None:
    job = CommerceJob(crm, tmp_path, streams=("customers", "orders"))
    subscriber = customer(1)  # newsletterOptIn granted (1 % 3 != 0)
    lead = customer(0)  # newsletterOptIn withdrawn
    job.run({"customers": [subscriber, lead]})
    stage = lambda c: crm.contact(c["id"])["properties"].get("lifecycle_stage")  # noqa: E731
    assert (stage(subscriber), stage(lead)) == ("subscriber", "lead")
    job.run({"orders": [order(10, subscriber)]})
    assert stage(subscriber) == "customer"
    job.run({"orders": [order(11, subscriber)]})
    assert stage(subscriber) == "repeat_customer"
    # a customer record arriving again keeps what the orders say
    again = {**subscriber, "version": 2, "lastModifiedAt": "2026-02-01T00:00:00.000Z"}
    job.run({"customers": [again]})
    assert stage(subscriber) == "repeat_customer"


def test_a_crm_owned_lifecycle_stage_is_never_overwritten(
    crm: CrmOneSandbox, tmp_path: Path
) -> None:
    job = CommerceJob(
        crm,
        tmp_path,
        streams=("customers", "orders"),
        ownership=[{"property": "lifecycle_stage", "owner": "crm_one"}],
    )
    person = customer(1)
    job.run({"customers": [person]})
    crm.user_edit(person["id"], {"lifecycle_stage": "lead"})
    job.run({"orders": [order(10, person), order(11, person)]})
    assert crm.contact(person["id"])["properties"]["lifecycle_stage"] == "lead"
    (tmp_path / "off").mkdir()
    off = CommerceJob(crm, tmp_path / "off", streams=("customers",), lifecycle_stage=False)
    other = customer(3)
    off.run({"customers": [other]})
    assert crm.contact(other["id"])["properties"].get("lifecycle_stage") is None
