"""customer_fields: addresses by role, field paths, localized values; lifecycle stages."""

from __future__ import annotations

from types import SimpleNamespace

from destination_crmone.customer_fields import (
    billing_address,
    customer_value,
    language_preferences,
    localized,
    shipping_address,
    store_languages,
)
from destination_crmone.lifecycle import counted_orders, lifecycle_stage, marketing_granted

ADDRESSES = [
    {"id": "home", "city": "Berlin", "postalCode": "10115", "country": "DE"},
    {"id": "work", "city": "Munich", "postalCode": "80331", "country": "DE", "state": "BY"},
    {"id": "cabin", "city": "Bergen", "postalCode": "5003", "country": "NO"},
]


def test_billing_is_the_default_billing_address_else_the_first():
    assert billing_address({"addresses": ADDRESSES, "defaultBillingAddressId": "work"})["id"] == (
        "work"
    )
    assert billing_address({"addresses": ADDRESSES})["id"] == "home"
    assert billing_address({}) == {}


def test_shipping_is_the_default_shipping_address_else_billing():
    record = {"addresses": ADDRESSES, "defaultBillingAddressId": "work"}
    assert shipping_address(record)["id"] == "work"
    record["defaultShippingAddressId"] = "cabin"
    assert shipping_address(record)["id"] == "cabin"


def test_address_paths_survive_a_reorder_of_addresses():
    record = {
        "addresses": ADDRESSES,
        "defaultBillingAddressId": "home",
        "defaultShippingAddressId": "cabin",
    }
    reordered = {**record, "addresses": list(reversed(ADDRESSES))}
    for path, expected in [
        ("address.shipping.postal_code", "5003"),
        ("address.shipping.postalCode", "5003"),
        ("address.billing.city", "Berlin"),
        ("address.city", "Berlin"),
        ("country", "DE"),
    ]:
        assert customer_value(record, path) == expected
        assert customer_value(reordered, path) == expected
    assert customer_value({"addresses": ADDRESSES[1:2]}, "address.billing.region") == "BY"


def test_special_paths_stores_and_customer_group():
    record = {
        "stores": [{"key": "eu-web"}, {"key": "us-web"}],
        "customerGroup": {"typeId": "customer-group", "id": "g1", "obj": {"key": "gold"}},
        "custom": {"fields": {"tier": "A"}},
    }
    assert customer_value(record, "stores") == ["eu-web", "us-web"]
    assert customer_value(record, "customerGroup.key") == "gold"
    assert customer_value(record, "custom.fields.tier") == "A"


def test_language_preferences_customer_then_stores_then_fallback():
    assert language_preferences("de_AT", ["fr", "de-at", ""], "en") == ["de-at", "fr", "en"]
    assert language_preferences(None, [], "en") == ["en"]


def test_a_localized_value_in_the_first_preferred_language_it_has():
    title = {"de": "Frau Dr.", "en": "Dr.", "fr-CH": "Docteure"}
    assert localized(title, ["de-at", "en"]) == "Frau Dr."  # de-AT → de
    assert localized(title, ["fr", "en"]) == "Docteure"  # fr → another fr-*
    assert localized(title, ["it", "en"]) == "Dr."
    assert localized(title, ["it"]) is None
    assert localized("plain", ["de"]) == "plain"


def test_lifecycle_stages():
    assert lifecycle_stage(0, False) == "lead"
    assert lifecycle_stage(0, True) == "subscriber"
    assert lifecycle_stage(1, True) == "customer"
    assert lifecycle_stage(2, False) == "repeat_customer"
    consents = [
        SimpleNamespace(purpose="marketing", status="withdrawn"),
        SimpleNamespace(purpose="newsletter", status="granted"),
    ]
    assert not marketing_granted(consents)
    assert marketing_granted([*consents, SimpleNamespace(purpose="marketing", status="granted")])
    orders = [SimpleNamespace(cancelled=False), SimpleNamespace(cancelled=True)]
    assert counted_orders(orders) == 1


def test_a_store_records_languages():
    assert store_languages({"key": "eu-web", "languages": ["de-DE", None, "en"]}) == (
        "eu-web",
        ["de-DE", "en"],
    )
    assert store_languages({"id": "s1"}) is None
