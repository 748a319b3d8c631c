"""segments: conditions, filters, routing rules (store_routing as their shorthand), the
journal's memory of a contact and what leaving a rule or the filters undoes."""

from __future__ import annotations

from typing import Any

import pytest

from destination_crmone.config import Condition, DestinationConfig
from destination_crmone.customer_fields import customer_value
from destination_crmone.segments import (
    Membership,
    Routed,
    departure,
    field_values,
    holds,
    in_scope,
    leaving_scope,
    order_scope,
    remembered,
    route,
)

MINIMAL = {"base_url": "https://acme.crmone.example/api", "client_id": "id", "client_secret": "s"}


def config(**overrides: Any) -> DestinationConfig:
    return DestinationConfig.parse_config({**MINIMAL, **overrides})


def customer(**fields: Any) -> dict[str, Any]:
    return {"id": "c1", "version": 1, **fields}


def reader(record: dict[str, Any]):
    return lambda path: customer_value(record, path)


DE_CUSTOMER = customer(
    addresses=[{"id": "a1", "country": "DE"}],
    stores=[{"key": "eu-web"}],
    locale="de-DE",
    custom={"fields": {"region": "north", "vip": True}},
)


@pytest.mark.parametrize(
    ("condition", "value", "expected"),
    [
        ({"field": "country", "in": ["DE", "AT"]}, "DE", True),
        ({"field": "country", "in": ["de"]}, "DE", True),  # without regard to case
        ({"field": "country", "in": ["AT"]}, "DE", False),
        ({"field": "country", "in": ["AT"]}, None, False),
        ({"field": "stores", "in": ["us-web"]}, ["eu-web", "us-web"], True),  # any of them
        ({"field": "stores", "not_in": ["us-web"]}, ["eu-web", "us-web"], False),
        ({"field": "stores", "not_in": ["us-web"]}, [], True),  # missing is in no list
        ({"field": "country", "exists": True}, "", False),
        ({"field": "country", "exists": False}, None, True),
        ({"field": "stores", "exists": True}, [], False),
        ({"field": "custom.fields.vip", "in": [True]}, True, True),
        ({"field": "custom.fields.vip", "in": ["true"]}, True, True),
        ({"field": "custom.fields.tier", "in": [1]}, 1.0, True),
        ({"field": "customerGroup", "in": ["gold"]}, {"typeId": "x", "key": "gold"}, True),
    ],
)
def test_a_condition_holds_as_its_operator_says(condition, value, expected):
    assert holds(Condition.model_validate(condition), value) is expected


def test_field_values_flatten_lists_and_skip_empty_values():
    assert field_values(["eu-web", None, ["us-web"]]) == ["eu-web", "us-web"]
    assert field_values({}) == [] and field_values(None) == []


def test_filters_are_anded_over_any_customer_field():
    both = config(
        filters=[
            {"field": "country", "in": ["DE", "AT"]},
            {"field": "custom.fields.region", "in": ["north"]},
        ]
    )
    assert in_scope(both, reader(DE_CUSTOMER))
    south = {**DE_CUSTOMER, "custom": {"fields": {"region": "south"}}}
    assert not in_scope(both, reader(south))
    assert in_scope(config(), reader(customer()))  # no filters: everyone


def test_the_country_filter_reads_the_default_billing_address():
    record = customer(
        addresses=[{"id": "a1", "country": "US"}, {"id": "a2", "country": "DE"}],
        defaultBillingAddressId="a2",
    )
    assert in_scope(config(filters=[{"field": "country", "in": ["DE"]}]), reader(record))


def test_all_matches_routes_a_customer_in_two_stores_to_both_lists():
    rules = config(
        store_routing=[
            {"store_key": "eu-web", "list_ids": ["l_eu"], "properties": {"region": "EU"}},
            {"store_key": "us-web", "list_ids": ["l_us"], "properties": {"region": "US"}},
        ]
    )
    both = customer(stores=[{"key": "us-web"}, {"key": "eu-web"}])
    routed = route(rules, reader(both))
    assert routed.lists == ("l_eu", "l_us")
    assert routed.properties == {"region": "EU"}  # the first rule wins a property


def test_first_match_applies_only_the_first_matching_rule():
    rules = config(
        routing={
            "mode": "first_match",
            "rules": [
                {"when": {"field": "custom.fields.vip", "in": [True]}, "lists": ["l_vip"]},
                {"when": {"field": "country", "in": ["DE"]}, "lists": ["l_eu"]},
            ],
        }
    )
    assert route(rules, reader(DE_CUSTOMER)).lists == ("l_vip",)
    plain = {**DE_CUSTOMER, "custom": {}}
    assert route(rules, reader(plain)).lists == ("l_eu",)


def test_store_routing_rules_come_before_routing_rules():
    rules = config(
        store_routing=[{"store_key": "eu-web", "properties": {"region": "store"}}],
        routing=[{"when": [], "properties": [{"property": "region", "value": "rule"}]}],
    )
    assert route(rules, reader(DE_CUSTOMER)).properties == {"region": "store"}


def test_routing_by_a_custom_field_and_by_country():
    rules = config(
        routing=[
            {"when": {"field": "custom.fields.region", "in": ["north"]}, "lists": ["l_north"]},
            {"when": {"field": "country", "not_in": ["DE"]}, "lists": ["l_abroad"]},
        ]
    )
    assert route(rules, reader(DE_CUSTOMER)).lists == ("l_north",)


def test_leaving_a_rule_removes_its_lists_and_clears_its_properties_not_set_again():
    previous = Membership(True, ("l_eu", "l_vip"), ("region", "tier"))
    now = Routed(("l_vip",), {"tier": "gold"})
    gone = departure(previous, now)
    assert gone.remove_list_ids == ("l_eu",) and gone.clear_properties == ("region",)
    assert not departure(None, now)  # never written: nothing to undo
    assert not departure(Membership(True, ("l_vip",), ("tier",)), now)


def test_memory_of_earlier_releases_is_read_as_what_the_stores_routes_gave():
    rules = config(
        store_routing=[
            {"store_key": "eu-web", "list_ids": ["l_eu"], "properties": {"region": "EU"}},
            {"store_key": "us-web", "list_ids": ["l_us"]},
        ]
    )
    assert remembered(["eu-web"], rules) == Membership(True, ("l_eu",), ("region",))
    today = Membership(False, ("l_us",), ())
    assert remembered(today.as_dict(), rules) == today
    assert remembered(None, rules) is None


def test_leaving_scope_needs_a_contact_written_in_scope():
    assert leaving_scope(Membership(True), False)
    assert not leaving_scope(Membership(False), False)
    assert not leaving_scope(None, False)
    assert not leaving_scope(Membership(True), True)


def test_an_order_is_judged_by_its_billing_then_shipping_country_and_its_store():
    by_country = config(filters=[{"field": "country", "in": ["DE"]}])
    assert order_scope(by_country, {"billingAddress": {"country": "DE"}}) is True
    assert order_scope(by_country, {"shippingAddress": {"country": "DE"}}) is True
    billed_us = {"billingAddress": {"country": "US"}, "shippingAddress": {"country": "DE"}}
    assert order_scope(by_country, billed_us) is False
    by_store = config(filters=[{"field": "stores", "in": ["eu-web"]}])
    assert order_scope(by_store, {"store": {"key": "eu-web"}}) is True
    assert order_scope(by_store, {}) is False
    by_custom = config(filters=[{"field": "custom.fields.region", "in": ["north"]}])
    assert order_scope(by_custom, {"billingAddress": {"country": "DE"}}) is None
