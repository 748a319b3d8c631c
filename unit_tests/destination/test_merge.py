"""Ownership: what to send given CRM One's current values and property metadata."""

from __future__ import annotations

from typing import Any

import pytest

from destination_crmone.config import DestinationConfig
from destination_crmone.contacts.merge import decide, ownership_map, same_value

SOURCE_TIME = "2026-11-26T18:00:00.000Z"
OLDER = "2026-11-20T10:00:00.000Z"
NEWER = "2026-11-27T08:00:00.000Z"


def contact(properties: dict[str, Any], meta: dict[str, dict[str, str]] | None = None):
    """A contact as `POST /v1/contacts/batch/read` returns it."""
    return {
        "id": "c_01J",
        "external_id": "ct:1",
        "version": 7,
        "properties": properties,
        "property_meta": meta or {},
    }


def test_new_contact_gets_every_property_with_a_value():
    mapped = {"email": "ana@example.com", "phone": None, "stores": [], "city": "Berlin"}
    owners = {"city": "crm_one", "email": "most_recent"}
    assert decide(mapped, None, owners, SOURCE_TIME) == {
        "email": "ana@example.com",
        "city": "Berlin",
    }


@pytest.mark.parametrize(
    ("mapped", "current", "sent"),
    [
        ("Ana", "Ana", False),
        ("Ana", "Anna", True),
        ("Ana", None, True),
        ("Ana", "", True),
        (None, "Ana", True),  # commercetools cleared it: clear it in CRM One
        (None, None, False),
        (None, "", False),
        ([], None, False),
        (["eu-web", "us-web"], ["us-web", "eu-web"], False),
        (["eu-web"], ["eu-web", "us-web"], True),
        ("2026-11-26T18:40:00.000Z", "2026-11-26T19:40:00+01:00", False),
        ("2026-11-26T18:40:00.000Z", "2026-11-26T18:40:00.001Z", True),
        ({"amount": "59.90", "currency": "EUR"}, {"amount": "59.9", "currency": "EUR"}, False),
        ({"amount": "59.90", "currency": "EUR"}, {"amount": "59.90", "currency": "USD"}, True),
        (3, 3.0, False),
        (True, 1, True),
        (False, None, True),
        ("1990-04-12", "1990-04-12", False),
    ],
)
def test_commercetools_owned_sends_when_different(mapped, current, sent):
    result = decide({"p": mapped}, contact({"p": current}), {}, SOURCE_TIME)
    assert result == ({"p": mapped} if sent else {})
    assert same_value(mapped, current) is not sent


def test_absent_property_counts_as_no_value():
    assert decide({"city": "Berlin"}, contact({}), {}, SOURCE_TIME) == {"city": "Berlin"}
    assert decide({"city": None}, contact({}), {}, SOURCE_TIME) == {}


@pytest.mark.parametrize(
    ("mapped", "current", "sent"),
    [
        ("+4915112345678", "+4930999999", False),  # CRM One has a value: leave it
        ("+4915112345678", None, True),
        ("+4915112345678", "", True),
        ("+4915112345678", "  ", True),
        (None, "+4930999999", False),  # never clear a CRM-owned value
        (["eu-web"], [], True),
    ],
)
def test_crm_one_owned_sends_only_while_crm_one_has_no_value(mapped, current, sent):
    result = decide({"p": mapped}, contact({"p": current}), {"p": "crm_one"}, SOURCE_TIME)
    assert result == ({"p": mapped} if sent else {})


@pytest.mark.parametrize(
    ("meta", "source_time", "mapped", "sent"),
    [
        ({"updated_at": OLDER, "updated_by": "user"}, SOURCE_TIME, "new", True),
        ({"updated_at": NEWER, "updated_by": "user"}, SOURCE_TIME, "new", False),
        ({"updated_at": SOURCE_TIME, "updated_by": "user"}, SOURCE_TIME, "new", False),
        ({"updated_at": "2026-11-26T19:00:00+01:00"}, SOURCE_TIME, "new", False),  # same instant
        (None, SOURCE_TIME, "new", True),  # no metadata counts as older
        ({"updated_by": "import"}, SOURCE_TIME, "new", True),
        (None, None, "new", True),
        ({"updated_at": OLDER}, None, "new", False),  # unknown source time is not newer
        ({"updated_at": OLDER}, SOURCE_TIME, "old", False),  # same value: nothing to send
    ],
)
def test_most_recent_sends_when_the_customer_changed_later(meta, source_time, mapped, sent):
    current = contact({"p": "old"}, {"p": meta} if meta is not None else {})
    result = decide({"p": mapped}, current, {"p": "most_recent"}, source_time)
    assert result == ({"p": mapped} if sent else {})


def test_a_person_edit_in_crm_one_survives_only_where_crm_one_owns_it():
    """A person edited phone and city in CRM One after the customer last changed."""
    config = DestinationConfig.parse_config(
        {
            "base_url": "https://crm.example",
            "client_id": "id",
            "client_secret": "secret",
            "ownership": [
                {"property": "phone", "owner": "crm_one"},
                {"property": "city", "owner": "most_recent"},
            ],
        }
    )
    owners = ownership_map(config)
    assert owners == {"phone": "crm_one", "city": "most_recent"}
    mapped = {
        "email": "ana@example.com",
        "phone": "+4915112345678",
        "city": "Berlin",
        "last_name": "Silva-Costa",
    }
    current = contact(
        {
            "email": "ana@example.com",
            "phone": "+4930111111",
            "city": "Potsdam",
            "last_name": "Silva",
        },
        {
            "phone": {"updated_at": NEWER, "updated_by": "user"},
            "city": {"updated_at": NEWER, "updated_by": "user"},
            "last_name": {"updated_at": NEWER, "updated_by": "user"},
            "email": {"updated_at": OLDER, "updated_by": "integration"},
        },
    )
    assert decide(mapped, current, owners, SOURCE_TIME) == {"last_name": "Silva-Costa"}
    # The customer changes again after the edit: most_recent now wins, crm_one still does not.
    assert decide(mapped, current, owners, "2026-11-28T00:00:00.000Z") == {
        "city": "Berlin",
        "last_name": "Silva-Costa",
    }


def test_nothing_to_change_is_an_empty_dict():
    mapped = {"email": "ana@example.com", "stores": ["eu-web", "us-web"], "phone": None}
    current = contact({"email": "ana@example.com", "stores": ["us-web", "eu-web"]})
    assert decide(mapped, current, {}, SOURCE_TIME) == {}


def test_missing_properties_and_meta_keys_in_current_are_tolerated():
    current = {"id": "c_1", "external_id": "ct:1"}
    assert decide({"city": "Berlin"}, current, {"city": "most_recent"}, SOURCE_TIME) == {
        "city": "Berlin"
    }


def test_default_owner_is_commercetools():
    config = DestinationConfig.parse_config(
        {"base_url": "https://crm.example", "client_id": "id", "client_secret": "secret"}
    )
    assert ownership_map(config) == {}
    assert decide({"city": "Berlin"}, contact({"city": "Bonn"}), {}, None) == {"city": "Berlin"}
