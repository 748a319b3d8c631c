"""Default mapping of customers, orders and messages into CRM One payloads."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from destination_crmone.config import DestinationConfig
from destination_crmone.records import (
    Deletion,
    get_path,
    map_customer,
    map_message,
    map_order,
    mapped_property_names,
    unwritable_properties,
)
from destination_crmone.segments import configured_lists
from unit_tests.destination.crm_schema import contact_schema

SCHEMA = contact_schema()
BASE = {"base_url": "https://crm.example", "client_id": "id", "client_secret": "secret"}


def make_config(**overrides: Any) -> DestinationConfig:
    return DestinationConfig.parse_config({**BASE, **overrides})


def make_customer(**changes: Any) -> dict[str, Any]:
    """A commercetools customer as the source emits it (no password)."""
    customer: dict[str, Any] = {
        "id": "3f1c0c6e-8d1a-4d0e-9a57-0b2c8a1e5f10",
        "version": 7,
        "key": "cust-42",
        "customerNumber": "C-1042",
        "email": "  Ana.Silva@Example.COM ",
        "firstName": "Ana",
        "lastName": "Silva",
        "salutation": "Ms",
        "title": "Dr.",
        "dateOfBirth": "1990-04-12",
        "companyName": "Silva GmbH",
        "vatId": "DE123456789",
        "addresses": [
            {
                "id": "ship-1",
                "streetName": "Speicherstadt",
                "streetNumber": "1",
                "postalCode": "20457",
                "city": "Hamburg",
                "country": "DE",
            },
            {
                "id": "bill-1",
                "streetName": "Hauptstraße",
                "streetNumber": "5",
                "postalCode": "10115",
                "city": "Berlin",
                "region": "Berlin",
                "country": "DE",
                "phone": "030 12345678",
                "mobile": "0151 12345678",
            },
        ],
        "defaultShippingAddressId": "ship-1",
        "defaultBillingAddressId": "bill-1",
        "locale": "de-DE",
        "stores": [{"typeId": "store", "key": "eu-web"}],
        "customerGroup": {"typeId": "customer-group", "id": "cg-9", "obj": {"key": "vip"}},
        "custom": {
            "type": {"typeId": "type", "id": "t-1"},
            "fields": {
                "newsletterOptIn": True,
                "newsletterOptInAt": "2026-11-26T17:59:00.000Z",
                "smsOptIn": False,
                "loyaltyTier": "gold",
                "privatePhone": "+41 44 668 18 00",
            },
        },
        "isEmailVerified": True,
        "authenticationMode": "Password",
        "createdAt": "2025-01-02T03:04:05.678Z",
        "lastModifiedAt": "2026-11-26T18:00:00.123Z",
    }
    customer.update(changes)
    return customer


CUSTOMER_ID = "3f1c0c6e-8d1a-4d0e-9a57-0b2c8a1e5f10"
EXPECTED_PROPERTIES = {
    "email": "ana.silva@example.com",
    "first_name": "Ana",
    "last_name": "Silva",
    "salutation": "Ms",
    "title": "Dr.",
    "birth_date": "1990-04-12",
    "company": "Silva GmbH",
    "vat_id": "DE123456789",
    "street": "Hauptstraße 5",
    "postal_code": "10115",
    "city": "Berlin",
    "region": "Berlin",
    "country": "DE",
    "phone": "+493012345678",
    "mobile_phone": "+4915112345678",
    "locale": "de-DE",
    "stores": ["eu-web"],
    "store": "eu-web",
    "customer_group": "vip",
    "source_created_at": "2025-01-02T03:04:05.678Z",
    "source_updated_at": "2026-11-26T18:00:00.123Z",
}


# --- paths -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("custom.fields.loyaltyTier", "gold"),
        ("addresses.1.city", "Berlin"),
        ("addresses.7.city", None),
        ("custom.fields.missing", None),
        ("firstName.length", None),
        ("stores.0.key", "eu-web"),
        ("version", 7),
    ],
)
def test_get_path(path, expected):
    assert get_path(make_customer(), path) == expected


# --- customers -------------------------------------------------------------------------------


def test_default_mapping_of_a_realistic_customer():
    contact = map_customer(make_customer(), make_config(), SCHEMA)
    assert contact.issues == []
    assert not contact.rejected
    assert contact.external_id == CUSTOMER_ID
    assert (contact.source_id, contact.source_version) == (CUSTOMER_ID, 7)
    assert contact.email == "ana.silva@example.com"
    assert contact.properties == EXPECTED_PROPERTIES
    assert contact.source_updated_at == "2026-11-26T18:00:00.123Z"
    assert contact.list_ids == []
    assert [consent.to_api() for consent in contact.consents] == [
        {
            "contact_external_id": CUSTOMER_ID,
            "channel": "email",
            "purpose": "marketing",
            "status": "granted",
            "updated_at": "2026-11-26T17:59:00.000Z",
            "source": "commercetools",
            "evidence": {"store": "eu-web", "field": "newsletterOptIn"},
        },
        {
            "contact_external_id": CUSTOMER_ID,
            "channel": "sms",
            "purpose": "marketing",
            "status": "withdrawn",
            "updated_at": "2026-11-26T18:00:00.123Z",  # no smsOptInAt: lastModifiedAt
            "source": "commercetools",
            "evidence": {"store": "eu-web", "field": "smsOptIn"},
        },
    ]
    assert contact.upsert_record() == {
        "external_id": CUSTOMER_ID,
        "properties": EXPECTED_PROPERTIES,
        "source_updated_at": "2026-11-26T18:00:00.123Z",
    }
    assert contact.upsert_record({"city": "Berlin"})["properties"] == {"city": "Berlin"}


def test_a_sparse_customer_maps_absent_fields_to_no_value():
    sparse = {
        "id": "c-2",
        "version": 1,
        "email": "bo@example.com",
        "addresses": [],
        "stores": [],
        "createdAt": "2026-01-01T00:00:00.000Z",
        "lastModifiedAt": "2026-01-01T00:00:00.000Z",
    }
    contact = map_customer(sparse, make_config(), SCHEMA)
    assert contact.issues == [] and contact.consents == []
    assert contact.properties["email"] == "bo@example.com"
    assert contact.properties["stores"] == []
    for name in ("first_name", "street", "country", "phone", "store", "customer_group", "locale"):
        assert contact.properties[name] is None


@pytest.mark.parametrize(
    ("identity", "expected"),
    [
        ({}, CUSTOMER_ID),
        ({"prefix": "ct-eu:"}, f"ct-eu:{CUSTOMER_ID}"),
        ({"source_field": "key"}, "cust-42"),
        ({"source_field": "customerNumber", "prefix": "eu-"}, "eu-C-1042"),
    ],
)
def test_identity(identity, expected):
    contact = map_customer(make_customer(), make_config(identity=identity), SCHEMA)
    assert contact.external_id == expected
    assert {consent.contact_external_id for consent in contact.consents} == {expected}


@pytest.mark.parametrize("invalid_values", ["omit_field", "reject_record"])
def test_missing_match_key_rejects_under_either_policy(invalid_values):
    config = make_config(identity={"source_field": "externalId"}, invalid_values=invalid_values)
    contact = map_customer(make_customer(), config, SCHEMA)
    assert contact.rejected and contact.external_id is None and contact.consents == []
    [issue] = [issue for issue in contact.issues if issue.severity == "error"]
    assert (issue.field, issue.code) == ("external_id", "missing_external_id")
    assert "'externalId'" in issue.reason


def test_first_address_when_there_is_no_default_billing_address():
    customer = make_customer(defaultBillingAddressId=None)
    properties = map_customer(customer, make_config(), SCHEMA).properties
    assert (properties["street"], properties["city"], properties["phone"]) == (
        "Speicherstadt 1",
        "Hamburg",
        None,
    )


def test_phone_region_is_the_address_country():
    customer = make_customer()
    customer["addresses"][1].update(
        {"country": "US", "state": "CA", "phone": "(650) 253-0000", "mobile": None}
    )
    customer["addresses"][1].pop("region")
    properties = map_customer(customer, make_config(), SCHEMA).properties
    assert properties["phone"] == "+16502530000"
    assert properties["country"] == "US" and properties["region"] == "CA"


# Each bad value: (where it goes in the customer, the property, the code, text in the reason).
BAD_VALUES = [
    ({"email": "ana(at)example.com"}, "email", "invalid_email", "'ana(at)example.com'"),
    ({"addresses.1.phone": "12"}, "phone", "invalid_phone", "'12'"),
    ({"addresses.1.mobile": "0151"}, "mobile_phone", "invalid_phone", "'0151'"),
    ({"addresses.1.country": "XX"}, "country", "invalid_value", "'XX'"),
    ({"locale": "german"}, "locale", "invalid_value", "'german'"),
    ({"stores": [{"typeId": "store", "key": "asia-web"}]}, "store", "invalid_enum", "'asia-web'"),
    ({"dateOfBirth": "12.04.1990"}, "birth_date", "invalid_value", "'12.04.1990'"),
]


def _with(changes: dict[str, Any]) -> dict[str, Any]:
    customer = make_customer()
    for path, value in changes.items():
        *parents, last = path.split(".")
        target: Any = customer
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[last] = value
    return customer


@pytest.mark.parametrize(("changes", "prop", "code", "shown"), BAD_VALUES)
def test_invalid_optional_value_is_omitted_with_a_warning(changes, prop, code, shown):
    contact = map_customer(_with(changes), make_config(redact_pii=False), SCHEMA)
    assert not contact.rejected
    assert prop not in contact.properties
    issues = [issue for issue in contact.issues if issue.field == prop]
    assert issues and all(issue.severity == "warning" for issue in issues)
    assert issues[0].code == code
    assert shown in issues[0].reason and issues[0].reason.startswith(f"{prop}: ")
    assert contact.properties["first_name"] == "Ana"  # the rest is written
    assert contact.consents  # and so are the consents


@pytest.mark.parametrize(("changes", "prop", "code", "shown"), BAD_VALUES)
def test_invalid_value_rejects_the_record_under_reject_record(changes, prop, code, shown):
    config = make_config(invalid_values="reject_record", redact_pii=False)
    contact = map_customer(_with(changes), config, SCHEMA)
    assert contact.rejected
    [error] = [issue for issue in contact.issues if issue.field == prop]
    assert (error.severity, error.code) == ("error", code) and shown in error.reason


def test_bad_country_leaves_phones_without_a_default_region():
    contact = map_customer(_with({"addresses.1.country": "XX"}), make_config(), SCHEMA)
    assert {issue.field for issue in contact.issues} == {"country", "phone", "mobile_phone"}
    assert "no address country" in next(i for i in contact.issues if i.field == "phone").reason


def test_invalid_required_value_rejects_even_under_omit_field():
    schema = contact_schema(
        {"name": "loyalty_tier", "type": "enum", "options": ["gold"], "required": True}
    )
    customer = make_customer()
    customer["custom"]["fields"]["loyaltyTier"] = "platinum"
    config = make_config(
        field_mappings=[{"source": "custom.fields.loyaltyTier", "target": "loyalty_tier"}]
    )
    contact = map_customer(customer, config, schema)
    assert contact.rejected
    assert [(i.field, i.code, i.severity) for i in contact.issues] == [
        ("loyalty_tier", "invalid_enum", "error")
    ]


def test_field_mappings_add_and_override():
    config = make_config(
        field_mappings=[
            {"source": "custom.fields.loyaltyTier", "target": "loyalty_tier"},
            {"source": "custom.fields.privatePhone", "target": "phone"},
            {"source": "address.postalCode", "target": "sales_region"},
        ]
    )
    properties = map_customer(make_customer(), config, SCHEMA).properties
    assert properties["loyalty_tier"] == "gold"
    assert properties["phone"] == "+41446681800"
    assert properties["sales_region"] == "10115"
    assert properties["mobile_phone"] == "+4915112345678"  # the rest of the default stays


@pytest.mark.parametrize(
    ("policy", "severity"), [("omit_field", "warning"), ("reject_record", "error")]
)
def test_mapping_to_a_property_crm_one_lacks(policy, severity):
    config = make_config(
        field_mappings=[{"source": "custom.fields.loyaltyTier", "target": "tier_level"}],
        invalid_values=policy,
    )
    contact = map_customer(make_customer(), config, SCHEMA)
    [issue] = contact.issues
    assert (issue.field, issue.code, issue.severity) == ("tier_level", "unknown_property", severity)


def test_store_routing_adds_lists_and_properties():
    config = make_config(
        store_routing=[
            {
                "store_key": "us-web",
                "list_ids": ["l_us"],
                "properties": [{"property": "sales_region", "value": "US"}],
            },
            {
                "store_key": "eu-web",
                "list_ids": ["l_eu", "l_all"],
                "properties": {"sales_region": "EU"},
            },
            {"store_key": "ch-web", "list_ids": ["l_ch"]},
        ]
    )
    customer = make_customer(
        stores=[{"typeId": "store", "key": "eu-web"}, {"typeId": "store", "key": "us-web"}]
    )
    contact = map_customer(customer, config, SCHEMA)
    assert contact.list_ids == ["l_us", "l_eu", "l_all"]
    assert contact.properties["sales_region"] == "US"  # the first route of the config wins
    assert contact.properties["stores"] == ["eu-web", "us-web"]
    assert contact.properties["store"] == "eu-web"
    assert mapped_property_names(config)[-1] == "sales_region"
    assert configured_lists(config) == ["l_us", "l_eu", "l_all", "l_ch"]


def test_global_customer_read_in_a_store_belongs_to_that_store():
    customer = make_customer(stores=[], _ab_store_key="us-web")
    config = make_config(store_routing=[{"store_key": "us-web", "list_ids": ["l_us"]}])
    contact = map_customer(customer, config, SCHEMA)
    assert (contact.properties["store"], contact.properties["stores"]) == ("us-web", ["us-web"])
    assert contact.list_ids == ["l_us"]


def test_mapped_property_names_cover_the_default_mapping():
    names = mapped_property_names(make_config())
    assert set(EXPECTED_PROPERTIES) == set(names)
    assert unwritable_properties(make_config(), SCHEMA) == []


def test_unwritable_properties_name_what_check_must_report():
    config = make_config(
        field_mappings=[
            {"source": "custom.fields.loyaltyTier", "target": "tier_level"},
            {"source": "key", "target": "loyalty_tier"},
        ],
        store_routing=[{"store_key": "eu-web", "properties": {"region_team": "EU"}}],
    )
    schema = contact_schema({"name": "salutation", "type": "string", "read_only": True})
    assert unwritable_properties(config, schema) == ["salutation", "tier_level", "region_team"]


# --- consents --------------------------------------------------------------------------------


def _consents(fields: dict[str, Any], **config: Any) -> tuple[list[dict[str, Any]], list[Any]]:
    customer = make_customer()
    customer["custom"]["fields"] = fields
    contact = map_customer(customer, make_config(**config), SCHEMA)
    return [consent.to_api() for consent in contact.consents], contact.issues


def test_missing_flag_sends_no_consent():
    consents, issues = _consents({"loyaltyTier": "gold"})
    assert consents == [] and issues == []


@pytest.mark.parametrize(
    ("flag", "status"), [(True, "granted"), (False, "withdrawn"), ("true", "granted")]
)
def test_flag_gives_the_status(flag, status):
    consents, _ = _consents({"newsletterOptIn": flag})
    assert [(c["channel"], c["status"]) for c in consents] == [("email", status)]


def test_timestamp_field_else_last_modified():
    consents, issues = _consents(
        {
            "newsletterOptIn": True,
            "newsletterOptInAt": "2026-11-26T18:59:00+01:00",
            "smsOptIn": True,
            "smsOptInAt": "last tuesday",
        },
        redact_pii=False,
    )
    assert [c["updated_at"] for c in consents] == [
        "2026-11-26T17:59:00.000Z",
        "2026-11-26T18:00:00.123Z",
    ]
    [issue] = issues
    assert issue.field == "custom.fields.smsOptInAt" and issue.severity == "warning"
    assert "'last tuesday'" in issue.reason


def test_an_unreadable_flag_is_reported_not_guessed():
    consents, issues = _consents({"newsletterOptIn": "maybe"}, redact_pii=False)
    assert consents == []
    [issue] = issues
    assert (issue.field, issue.code, issue.severity) == (
        "custom.fields.newsletterOptIn",
        "invalid_consent",
        "warning",
    )
    assert "'maybe'" in issue.reason
    _, issues = _consents({"newsletterOptIn": "maybe"}, invalid_values="reject_record")
    assert issues[0].severity == "error"


def test_custom_consent_mapping_without_store():
    customer = make_customer(stores=[])
    customer["custom"]["fields"]["postOk"] = True
    config = make_config(
        consents=[{"flag_field": "custom.fields.postOk", "channel": "post", "purpose": "catalog"}]
    )
    [consent] = map_customer(customer, config, SCHEMA).consents
    assert consent.to_api()["evidence"] == {"field": "postOk"}
    assert (consent.channel, consent.purpose, consent.status) == ("post", "catalog", "granted")


# --- orders ----------------------------------------------------------------------------------


def make_order(**changes: Any) -> dict[str, Any]:
    order: dict[str, Any] = {
        "id": "7d2e5a10-0000-4000-8000-000000000001",
        "version": 3,
        "orderNumber": "100045",
        "customerId": CUSTOMER_ID,
        "customerEmail": "Ana.Silva@Example.com",
        "store": {"typeId": "store", "key": "eu-web"},
        "totalPrice": {
            "type": "centPrecision",
            "currencyCode": "EUR",
            "centAmount": 5990,
            "fractionDigits": 2,
        },
        "lineItems": [
            {
                "id": "li-1",
                "totalPrice": {"currencyCode": "EUR", "centAmount": 3000, "fractionDigits": 2},
            },
            {
                "id": "li-2",
                "totalPrice": {"currencyCode": "EUR", "centAmount": 2000, "fractionDigits": 2},
            },
            {
                "id": "li-3",
                "totalPrice": {"currencyCode": "EUR", "centAmount": 490, "fractionDigits": 2},
            },
        ],
        "orderState": "Open",
        "paymentState": "Paid",
        "shipmentState": "Shipped",
        "createdAt": "2026-11-26T17:58:00.000Z",
        "lastModifiedAt": "2026-11-27T09:00:00.000Z",
        "completedAt": "2026-11-28T10:00:00.000Z",
    }
    order.update(changes)
    return order


ORDER_ID = "7d2e5a10-0000-4000-8000-000000000001"


def no_resolver(customer_id: str) -> str | None:
    raise AssertionError("the identity is the customer id: nothing to resolve")


def test_order_placed_activity():
    mapped = map_order(make_order(), make_config(), no_resolver)
    assert mapped.issues == [] and not mapped.rejected and not mapped.skipped
    assert mapped.object is None
    assert [activity.to_api() for activity in mapped.activities] == [
        {
            "external_id": f"order:{ORDER_ID}:placed",
            "contact_external_id": CUSTOMER_ID,
            "type": "order_placed",
            "occurred_at": "2026-11-26T17:58:00.000Z",
            "subject": "Order 100045",
            "amount": {"amount": "59.90", "currency": "EUR"},
            "store": "eu-web",
            "properties": {
                "order_state": "Open",
                "payment_state": "Paid",
                "shipment_state": "Shipped",
                "line_items": 3,
            },
        }
    ]


def test_cancelled_order_adds_an_order_cancelled_activity():
    mapped = map_order(make_order(orderState="Cancelled"), make_config(), no_resolver)
    placed, cancelled = mapped.activities
    assert (placed.external_id, placed.type) == (f"order:{ORDER_ID}:placed", "order_placed")
    assert (cancelled.external_id, cancelled.type) == (
        f"order:{ORDER_ID}:cancelled",
        "order_cancelled",
    )
    assert placed.occurred_at == "2026-11-26T17:58:00.000Z"
    assert cancelled.occurred_at == "2026-11-27T09:00:00.000Z"
    assert cancelled.properties["order_state"] == "Cancelled"


@pytest.mark.parametrize(
    ("total", "expected"),
    [
        ({"currencyCode": "EUR", "centAmount": 5990, "fractionDigits": 2}, ("59.90", "EUR")),
        ({"currencyCode": "JPY", "centAmount": 5990, "fractionDigits": 0}, ("5990", "JPY")),
        ({"currencyCode": "EUR", "centAmount": 5, "fractionDigits": 2}, ("0.05", "EUR")),
        ({"currencyCode": "KWD", "centAmount": 12345, "fractionDigits": 3}, ("12.345", "KWD")),
        ({"currencyCode": "EUR", "centAmount": -1250, "fractionDigits": 2}, ("-12.50", "EUR")),
        (
            {
                "type": "highPrecision",
                "currencyCode": "EUR",
                "centAmount": 5990,
                "preciseAmount": 599012,
                "fractionDigits": 4,
            },
            ("59.9012", "EUR"),
        ),
    ],
)
def test_amount_formatting(total, expected):
    [activity] = map_order(make_order(totalPrice=total), make_config(), no_resolver).activities
    assert (activity.amount["amount"], activity.amount["currency"]) == expected


def test_subject_store_and_prefix_fallbacks():
    order = make_order(orderNumber=None, store=None, _ab_store_key="us-web")
    config = make_config(identity={"prefix": "ct:"})
    [activity] = map_order(order, config, no_resolver).activities
    assert activity.subject == f"Order {ORDER_ID}"
    assert activity.store == "us-web"
    assert activity.contact_external_id == f"ct:{CUSTOMER_ID}"
    [activity] = map_order(make_order(store=None), config, no_resolver).activities
    assert "store" not in activity.to_api()


def test_guest_order_matched_by_email():
    order = make_order(customerId=None, customerEmail=" Guest@Example.com ")
    mapped = map_order(order, make_config(), no_resolver)
    [activity] = mapped.activities
    assert mapped.contact_email == "guest@example.com"
    assert activity.to_api()["contact_email"] == "guest@example.com"
    assert "contact_external_id" not in activity.to_api()


@pytest.mark.parametrize(
    ("guest_orders", "email", "reason"),
    [
        ("skip", "guest@example.com", "guest_orders is skip"),
        ("match_by_email", None, "without customerEmail"),
    ],
)
def test_guest_orders_skipped_with_a_reason(guest_orders, email, reason):
    order = make_order(customerId=None, customerEmail=email)
    mapped = map_order(order, make_config(guest_orders=guest_orders), no_resolver)
    assert mapped.skipped and reason in mapped.skipped_reason
    assert not mapped.rejected and mapped.activities == [] and mapped.object is None


def test_guest_order_with_invalid_email_is_rejected():
    mapped = map_order(
        make_order(customerId=None, customerEmail="guest@"), make_config(), no_resolver
    )
    assert mapped.rejected and mapped.activities == []
    assert (mapped.issues[0].field, mapped.issues[0].code) == ("customerEmail", "invalid_email")


def test_other_identities_resolve_the_customer():
    config = make_config(identity={"source_field": "key", "prefix": "p:"})
    asked: list[str] = []

    def resolve(customer_id: str) -> str | None:
        asked.append(customer_id)
        return "p:cust-42"

    [activity] = map_order(make_order(), config, resolve).activities
    assert asked == [CUSTOMER_ID] and activity.contact_external_id == "p:cust-42"


def test_unresolved_customer_falls_back_to_email_else_is_rejected():
    config = make_config(identity={"source_field": "key"})
    mapped = map_order(make_order(), config, lambda customer_id: None)
    assert not mapped.rejected and mapped.contact_email == "ana.silva@example.com"
    assert [(i.code, i.severity) for i in mapped.issues] == [("contact_unresolved", "warning")]
    mapped = map_order(make_order(customerEmail=None), config, lambda customer_id: None)
    assert mapped.rejected and mapped.activities == []
    assert CUSTOMER_ID in mapped.issues[0].reason


@pytest.mark.parametrize(
    ("orders_as", "activities", "has_object"),
    [("activities", 1, False), ("objects", 0, True), ("both", 1, True)],
)
def test_orders_as(orders_as, activities, has_object):
    mapped = map_order(make_order(), make_config(orders_as=orders_as), no_resolver)
    assert len(mapped.activities) == activities
    assert (mapped.object is not None) == has_object


def test_orders_object_payload():
    mapped = map_order(make_order(), make_config(orders_as="objects"), no_resolver)
    assert mapped.object.type == "orders"
    assert mapped.object.to_api() == {
        "external_id": f"order:{ORDER_ID}",
        "contact_external_id": CUSTOMER_ID,
        "properties": {
            "order_number": "100045",
            "order_state": "Open",
            "payment_state": "Paid",
            "shipment_state": "Shipped",
            "store": "eu-web",
            "currency": "EUR",
            "total": {"amount": "59.90", "currency": "EUR"},
            "subtotal": {"amount": "54.90", "currency": "EUR"},
            "line_items": 3,
            "placed_at": "2026-11-26T17:58:00.000Z",
            "completed_at": "2026-11-28T10:00:00.000Z",
            "source_created_at": "2026-11-26T17:58:00.000Z",
            "source_updated_at": "2026-11-27T09:00:00.000Z",
        },
    }


def test_order_without_id_is_rejected():
    mapped = map_order(make_order(id=None), make_config(), no_resolver)
    assert mapped.rejected and mapped.issues[0].code == "missing_order_id"


@pytest.mark.parametrize(("policy", "rejected"), [("omit_field", False), ("reject_record", True)])
def test_invalid_total(policy, rejected):
    total = {"currencyCode": "EURO", "centAmount": 5990, "fractionDigits": 2}
    mapped = map_order(
        make_order(totalPrice=total),
        make_config(invalid_values=policy, redact_pii=False),
        no_resolver,
    )
    assert mapped.rejected is rejected
    assert mapped.issues[0].field == "totalPrice" and "'EURO'" in mapped.issues[0].reason
    if not rejected:
        [activity] = mapped.activities
        assert activity.amount is None and "amount" not in activity.to_api()


def test_order_without_total_is_written_without_amount():
    mapped = map_order(make_order(totalPrice=None), make_config(), no_resolver)
    assert not mapped.rejected and mapped.activities[0].amount is None
    assert mapped.issues[0].severity == "warning"


def test_mapping_does_not_change_its_input():
    customer, order = make_customer(), make_order()
    before = copy.deepcopy((customer, order))
    map_customer(customer, make_config(), SCHEMA)
    map_order(order, make_config(orders_as="both"), no_resolver)
    assert (customer, order) == before


# --- messages --------------------------------------------------------------------------------


def customer_deleted(**changes: Any) -> dict[str, Any]:
    message = {
        "id": "msg-1",
        "type": "CustomerDeleted",
        "resource": {"typeId": "customer", "id": CUSTOMER_ID},
        "resourceVersion": 9,
        "sequenceNumber": 4,
        "createdAt": "2026-11-27T10:00:00.000Z",
    }
    return {**message, **changes}


@pytest.mark.parametrize("action", ["archive", "erase", "ignore"])
def test_customer_deleted(action):
    deletion = map_message(
        customer_deleted(), make_config(deletions=action, identity={"prefix": "ct:"})
    )
    assert deletion == Deletion(
        customer_id=CUSTOMER_ID,
        external_id=f"ct:{CUSTOMER_ID}",
        action=action,
        occurred_at="2026-11-27T10:00:00.000Z",
        message_id="msg-1",
    )
    assert not deletion.rejected


def test_customer_deleted_with_another_identity_needs_a_lookup():
    deletion = map_message(customer_deleted(), make_config(identity={"source_field": "key"}))
    assert deletion.customer_id == CUSTOMER_ID and deletion.external_id is None


def test_customer_deleted_without_id_is_rejected_not_dropped():
    deletion = map_message(customer_deleted(resource={}), make_config())
    assert deletion is not None and deletion.rejected


@pytest.mark.parametrize("kind", ["OrderDeleted", "CustomerCreated", "CustomerEmailChanged", None])
def test_other_messages_are_not_deletions(kind):
    assert map_message(customer_deleted(type=kind), make_config()) is None


# --- malformed input -------------------------------------------------------------------------

GARBAGE = [None, 5, -1.5, "x", "", [], {}, [1, "a", None], {"a": 1}, True, [{"key": None}]]
STRICT = {
    "identity": {"source_field": "key"},
    "orders_as": "both",
    "invalid_values": "reject_record",
}


@pytest.mark.parametrize("config", [{}, STRICT], ids=["defaults", "strict"])
def test_malformed_fields_never_crash_and_never_vanish(config):
    """Every field of a customer, an order and a message replaced by junk: the mapping returns
    an answer each time, and an order is either written to a contact, skipped or rejected."""
    cfg = make_config(**config)
    for key in make_customer():
        for junk in GARBAGE:
            contact = map_customer(make_customer(**{key: junk}), cfg, SCHEMA)
            assert contact.rejected or contact.external_id
    for key in make_order():
        for junk in GARBAGE:
            mapped = map_order(make_order(**{key: junk}), cfg, lambda customer_id: None)
            if not (mapped.rejected or mapped.skipped):
                payloads = [*mapped.activities, *([mapped.object] if mapped.object else [])]
                assert payloads
                assert all(p.contact_external_id or p.contact_email for p in payloads)
    for key in customer_deleted():
        for junk in GARBAGE:
            map_message(customer_deleted(**{key: junk}), cfg)
