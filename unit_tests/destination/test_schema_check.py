"""schema_check: every property and list the config names, against the tenant, by path."""

from __future__ import annotations

from typing import Any

from destination_crmone.config import DestinationConfig
from destination_crmone.crmone.validate import ContactSchema
from destination_crmone.schema_check import list_problems, property_problems
from unit_tests.destination.crm_schema import CUSTOM_PROPERTIES, STANDARD_PROPERTIES, contact_schema

MINIMAL = {"base_url": "https://acme.crmone.example/api", "client_id": "id", "client_secret": "s"}


def config(**overrides: Any) -> DestinationConfig:
    return DestinationConfig.parse_config({**MINIMAL, **overrides})


def test_a_config_naming_only_existing_compatible_properties_has_no_problem():
    named = config(
        ownership=[{"property": "phone", "owner": "crm_one"}],
        field_mappings=[
            {"source": "custom.fields.tier", "target": "loyalty_tier"},
            {"source": "dateOfBirth", "target": "notes"},
            {"source": "address.shipping.city", "target": "sales_region"},
            {"source": "custom.fields.title", "target": "title", "locale": "customer"},
        ],
        routing=[{"when": [], "properties": [{"property": "score", "value": "4.5"}]}],
    )
    assert property_problems(named, contact_schema()) == []


def test_an_unknown_ownership_property_is_named_with_the_one_meant():
    problems = property_problems(
        config(ownership=[{"property": "phnoe", "owner": "crm_one"}]), contact_schema()
    )
    assert problems == [
        "ownership[0].property: 'phnoe' is not a CRM One contact property; did you mean 'phone'?"
    ]


def test_mappings_and_routes_are_checked_by_path():
    problems = property_problems(
        config(
            field_mappings=[
                {"source": "custom.fields.tier", "target": "loyalty_tiers"},
                {"source": "dateOfBirth", "target": "score"},
                {"source": "email", "target": "external_id"[1:]},
            ],
            store_routing=[{"store_key": "eu-web", "properties": {"loyalty_tier": "platin"}}],
            routing=[{"properties": [{"property": "regoin", "value": "EU"}]}],
        ),
        contact_schema(),
    )
    assert problems[0].startswith(
        "field_mappings[0].target: 'loyalty_tiers' is not a CRM One contact property; "
        "did you mean 'loyalty_tier'?"
    )
    assert problems[1].startswith(
        "field_mappings[1].target: 'score' is of type number in CRM One, which cannot take "
        "dateOfBirth"
    )
    assert problems[2].startswith("field_mappings[2].target: 'xternal_id' is not")
    assert problems[3].startswith("store_routing[0].properties[0].value: loyalty_tier:")
    assert problems[4].startswith("routing.rules[0].properties[0].property: 'regoin' is not")
    assert len(problems) == 5


def test_read_only_targets_and_a_missing_lifecycle_stage_are_problems():
    schema = ContactSchema.from_api(
        {
            "properties": [
                *(p for p in STANDARD_PROPERTIES if p["name"] != "lifecycle_stage"),
                *CUSTOM_PROPERTIES,
                {"name": "score", "type": "number", "read_only": True},
            ]
        }
    )
    problems = property_problems(
        config(field_mappings=[{"source": "custom.fields.s", "target": "score"}]), schema
    )
    assert problems[0] == "field_mappings[0].target: 'score' is read-only in CRM One"
    assert problems[1].startswith("lifecycle_stage: CRM One has no writable 'lifecycle_stage'")
    assert property_problems(config(lifecycle_stage=False), schema) == []


def test_lists_are_checked_against_get_v1_lists_by_path():
    named = config(
        store_routing=[{"store_key": "eu-web", "list_ids": ["l_eu_newsletter", "l_eu_newsleter"]}],
        routing=[{"when": {"field": "country", "in": ["US"]}, "lists": ["l_nope"]}],
    )
    assert list_problems(named, ["l_eu_newsletter", "l_us_newsletter"]) == [
        "store_routing[0].list_ids[1]: 'l_eu_newsleter' is not a CRM One list; "
        "did you mean 'l_eu_newsletter'?",
        "routing.rules[0].lists[0]: 'l_nope' is not a CRM One list",
    ]
