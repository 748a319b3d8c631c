"""Seeded data: deterministic, realistic where the connectors look, bad where asked."""

from __future__ import annotations

import re
from collections import Counter

import phonenumbers

from sandbox.commercetools.seed import SEED_START, SeedSpec, seed
from sandbox.commercetools.store import Store
from sandbox.commercetools.timefmt import Clock

STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def seeded(spec: SeedSpec) -> Store:
    store = Store("demo", Clock(SEED_START), spec.messages_enabled)
    seed(store, spec)
    return store


def test_the_same_seed_gives_the_same_project_and_another_seed_another() -> None:
    spec = SeedSpec(customers=200, orders=300)
    first, second = seeded(spec), seeded(spec)
    assert first.snapshot("customers") == second.snapshot("customers")
    assert first.snapshot("orders") == second.snapshot("orders")
    other = seeded(SeedSpec(customers=200, orders=300, seed=43))
    assert other.snapshot("customers") != first.snapshot("customers")


def test_crowded_milliseconds_global_customers_guests_and_consent() -> None:
    spec = SeedSpec(customers=2000, orders=3000, guest_order_share=0.1)
    store = seeded(spec)
    customers, orders = store.snapshot("customers"), store.snapshot("orders")
    crowds = Counter(c["lastModifiedAt"] for c in customers)
    assert max(crowds.values()) >= 100
    assert sum(n for n in crowds.values() if n > 1) >= 0.25 * len(customers)
    assert 0.05 < sum(1 for c in customers if not c["stores"]) / len(customers) < 0.2
    guests = [o for o in orders if "customerId" not in o]
    assert 0.07 < len(guests) / len(orders) < 0.13
    assert all(o["customerEmail"] for o in guests)
    ids = {c["id"] for c in customers}
    assert all(o["customerId"] in ids for o in orders if "customerId" in o)
    fields = [c["custom"]["fields"] for c in customers if "custom" in c]
    opted = [f for f in fields if "newsletterOptIn" in f]
    assert opted and all(STAMP.match(f["newsletterOptInAt"]) for f in opted)
    assert any(f.get("newsletterOptIn") for f in opted)
    assert any(not f.get("newsletterOptIn") for f in opted)
    for record in customers + orders:
        assert STAMP.match(record["createdAt"]) and STAMP.match(record["lastModifiedAt"])
        assert record["createdAt"] <= record["lastModifiedAt"]
    consent_type = next(t for t in store.snapshot("types") if t["key"] == "customer-consent")
    assert {d["name"]: d["type"]["name"] for d in consent_type["fieldDefinitions"]} == {
        "newsletterOptIn": "Boolean",
        "newsletterOptInAt": "DateTime",
        "smsOptIn": "Boolean",
        "smsOptInAt": "DateTime",
        "loyaltyTier": "String",
        "preferredLanguage": "LocalizedEnum",
        "segment": "Enum",
        "interests": "Set",
        "lifetimeValue": "Money",
        "referredBy": "Reference",
        "orderCount": "Number",
        "memberSince": "Date",
        "callBackAt": "Time",
        "nickname": "LocalizedString",
    }
    profiled = [f for f in fields if "preferredLanguage" in f]
    assert profiled and all(f["preferredLanguage"] in ("en", "de", "fr") for f in profiled)
    assert all(isinstance(f["interests"], list) for f in profiled)
    assert all(f["lifetimeValue"]["currencyCode"] == "EUR" for f in profiled)


def test_good_phones_are_valid_national_numbers_and_bad_customers_are_bad() -> None:
    store = seeded(
        SeedSpec(customers=400, orders=0, bad_customers=8, stores=("eu-web", "us-web", "uk-web"))
    )
    customers = store.snapshot("customers")
    good = [c for c in customers if c["key"].startswith("customer-")]
    bad = [c for c in customers if c["key"].startswith("bad-")]
    assert len(bad) == 8
    countries = set()
    for customer in good:
        for address in customer["addresses"]:
            countries.add(address["country"])
            for number in (address.get("phone"), address.get("mobile")):
                if number:
                    assert not number.startswith("+")  # national format
                    parsed = phonenumbers.parse(number, address["country"])
                    assert phonenumbers.is_valid_number(parsed), (number, address["country"])
    assert {"DE", "US", "GB"} <= countries
    problems = Counter()
    for customer in bad:
        address = customer["addresses"][0]
        if "@" not in customer.get("email", "@"):
            problems["email"] += 1
        if "email" not in customer:
            problems["missing email"] += 1
        if address["country"] == "XX":
            problems["country"] += 1
        if address["phone"] == "12":
            problems["phone"] += 1
    assert problems == Counter({"email": 2, "missing email": 2, "country": 2, "phone": 2})


def test_a_hundred_thousand_customers_seed_without_orders_in_one_go() -> None:
    store = seeded(SeedSpec(customers=100_000, orders=0))
    assert len(store["customers"]) == 100_000
    assert len({c["email"] for c in store.snapshot("customers")}) == 100_000
