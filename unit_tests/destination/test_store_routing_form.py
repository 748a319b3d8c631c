"""Store routing as the form fills it in: `properties` is a list of {property, value} pairs;
the object form of the first releases is still read; text values take the property's type."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from destination_crmone.config import ConfigError, DestinationConfig, spec_schema
from destination_crmone.destination import DestinationCrmOne
from destination_crmone.records import map_customer, mapped_property_names, route_value
from unit_tests.destination.crm_schema import contact_schema

SCHEMA = contact_schema(
    {"name": "vip", "type": "boolean"}, {"name": "sales_region", "type": "string"}
)
BASE = {"base_url": "https://crm.example.com", "client_id": "id", "client_secret": "secret"}
CUSTOMER = {
    "id": "c-1",
    "version": 1,
    "email": "ana@example.com",
    "stores": [{"typeId": "store", "key": "eu-web"}],
    "lastModifiedAt": "2026-01-01T00:00:00.000Z",
}


def routed(properties: Any) -> DestinationConfig:
    route = {"store_key": "eu-web", "properties": properties}
    return DestinationConfig.parse_config({**BASE, "store_routing": [route]})


def test_pairs_and_the_old_object_form_read_the_same() -> None:
    pairs = routed([{"property": "sales_region", "value": "EU"}, {"property": "vip", "value": 1}])
    old = routed({"sales_region": "EU", "vip": 1})
    assert pairs == old
    assert old.store_routing[0].property_values == {"sales_region": "EU", "vip": 1}
    assert mapped_property_names(old)[-2:] == ["sales_region", "vip"]


@pytest.mark.parametrize(
    ("properties", "field"),
    [
        ([{"property": "external_id", "value": "x"}], "store_routing[0].properties"),
        ({"external_id": "x"}, "store_routing[0].properties"),
        ([{"property": "a", "value": "1"}, {"property": "a", "value": "2"}], "properties"),
        ([{"property": "", "value": "1"}], "store_routing[0].properties[0].property"),
        ([{"property": "a"}], "store_routing[0].properties[0].value"),
    ],
)
def test_bad_pairs_name_the_field(properties: Any, field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        routed(properties)
    assert field in str(caught.value)


@pytest.mark.parametrize(
    ("value", "name", "expected"),
    [
        ("true", "vip", True),
        ("42", "order_count", 42),
        ("yes", "vip", "yes"),  # validation rejects it with a reason
        ("42", "sales_region", "42"),  # a text property keeps the text
        (7, "order_count", 7),
        ("EU", "unknown_property", "EU"),
    ],
)
def test_text_values_take_the_property_type(value: Any, name: str, expected: Any) -> None:
    assert route_value(value, SCHEMA, name) == expected
    assert type(route_value(value, SCHEMA, name)) is type(expected)


def test_a_routed_text_boolean_reaches_the_contact_as_a_boolean() -> None:
    config = routed([{"property": "vip", "value": "true"}])
    contact = map_customer(CUSTOMER, config, SCHEMA)
    assert contact.properties["vip"] is True
    assert not [issue for issue in contact.issues if issue.field == "vip"]


def test_an_old_config_file_passes_airbyte_s_spec_check(tmp_path: Path) -> None:
    """Airbyte validates the config file against the spec before `check`/`write` run: the object
    form of the first releases is upgraded when the file is read, so it gets that far."""
    route = {"store_key": "eu-web", "list_ids": [], "properties": {"sales_region": "EU"}}
    raw = {**BASE, "store_routing": [route, {"store_key": "us-web"}]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(raw, spec_schema())
    path = tmp_path / "config.json"
    path.write_text(json.dumps(raw))
    read = DestinationCrmOne().read_config(str(path))
    jsonschema.validate(read, spec_schema())
    assert read["store_routing"][0]["properties"] == [{"property": "sales_region", "value": "EU"}]
    assert read["store_routing"][1] == {"store_key": "us-web"}
