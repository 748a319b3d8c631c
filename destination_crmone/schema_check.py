"""The config against the tenant, for `check`: every CRM One property the config names (in
`ownership`, `field_mappings`, `store_routing`, `routing`) must exist in the contact schema
with a type that can take what is written there, and every list a rule names must exist
(`GET /v1/lists`). Each problem names the config path and, when one is near, the property or
list meant ("did you mean …").

Compatibility of a field mapping: a source the destination knows the kind of (the customer's
standard fields, address fields) must go to a property of a type that takes that kind (a
date to a date, string or text; an email to an email, string or text, …). A custom field's
kind is not known before records arrive: any type is accepted, and a record whose value does
not fit is refused with a reason, as always. A routed value is validated against its
property now (an enum option, a number).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from destination_crmone.config import DestinationConfig, RouteProperty
from destination_crmone.crmone.validate import ContactSchema, PropertyDef, validate_properties
from destination_crmone.customer_fields import CUSTOMER_LOCALE, split_address_path
from destination_crmone.lifecycle import LIFECYCLE_PROPERTY, LIFECYCLE_STAGES
from destination_crmone.records import route_value

TEXT = frozenset({"string", "text"})
# The types of property each kind of source value may be written to.
TAKES: dict[str, frozenset[str]] = {
    "text": TEXT | {"enum"},
    "email": TEXT | {"email"},
    "phone": TEXT | {"phone"},
    "date": TEXT | {"date"},
    "datetime": TEXT | {"datetime"},
    "country": TEXT | {"country", "enum"},
    "locale": TEXT | {"locale", "enum"},
    "store_keys": frozenset({"multi_enum"}),
}
# Kinds of the customer's standard fields (paths as a field mapping names them).
SOURCE_KINDS: dict[str, str] = {
    "email": "email",
    "firstName": "text",
    "lastName": "text",
    "middleName": "text",
    "salutation": "text",
    "title": "text",
    "companyName": "text",
    "vatId": "text",
    "customerNumber": "text",
    "externalId": "text",
    "key": "text",
    "dateOfBirth": "date",
    "createdAt": "datetime",
    "lastModifiedAt": "datetime",
    "locale": "locale",
    "country": "country",
    "stores": "store_keys",
    "customerGroup.key": "text",
}
ADDRESS_KINDS: dict[str, str] = {
    "street": "text",
    "streetName": "text",
    "streetNumber": "text",
    "postal_code": "text",
    "postalCode": "text",
    "city": "text",
    "region": "text",
    "state": "text",
    "country": "country",
    "phone": "phone",
    "mobile_phone": "phone",
    "mobile": "phone",
}


def source_kind(path: str) -> str | None:
    """The kind of value a mapping source gives, when the destination knows it."""
    on_address = split_address_path(path)
    if on_address is not None:
        return ADDRESS_KINDS.get(on_address[1])
    return SOURCE_KINDS.get(path)


def _nearest(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _unknown(where: str, name: str, schema: ContactSchema) -> str:
    return f"{where}: '{name}' is not a CRM One contact property{_nearest(name, schema.properties)}"


def _missing(where: str, name: str, schema: ContactSchema) -> str | None:
    """Why `name` cannot be written, or None."""
    definition = schema.get(name)
    if definition is None:
        return _unknown(where, name, schema)
    if definition.read_only:
        return f"{where}: '{name}' is read-only in CRM One"
    return None


def property_problems(config: DestinationConfig, schema: ContactSchema) -> list[str]:
    """Every property the config names that the tenant lacks or cannot take, by config path."""
    problems: list[str] = []
    for index, rule in enumerate(config.ownership):  # existing is enough: it only reads
        if rule.property not in schema:
            problems.append(_unknown(f"ownership[{index}].property", rule.property, schema))
    for index, mapping in enumerate(config.field_mappings):
        where = f"field_mappings[{index}].target"
        problem = _missing(where, mapping.target, schema)
        definition = schema.get(mapping.target)
        if problem is None and definition is not None:
            problem = _kind_problem(where, mapping.source, mapping.locale, definition)
        if problem:
            problems.append(problem)
    for where, item in _by_path(config, "properties", "properties"):
        problem = _missing(f"{where}.property", item.property, schema)
        if problem is None:
            problem = _value_problem(f"{where}.value", item, schema)
        if problem:
            problems.append(problem)
    if config.lifecycle_stage:
        problems += _lifecycle_problems(schema)
    return problems


def _kind_problem(
    where: str, source: str, locale: str | None, definition: PropertyDef
) -> str | None:
    kind = "text" if locale is not None else source_kind(source)
    if kind is None or definition.type in TAKES[kind]:
        return None
    language = f" (locale: {locale})" if locale == CUSTOMER_LOCALE else ""
    return (
        f"{where}: '{definition.name}' is of type {definition.type} in CRM One, which cannot "
        f"take {source}{language} (a {kind.replace('_', ' ')} value)"
    )


def _by_path(config: DestinationConfig, store_key: str, rule_key: str) -> list[tuple[str, Any]]:
    """(config path, item) of every item of a list field of the store routes (`store_key`)
    and the routing rules (`rule_key`): `store_routing[0].list_ids[1]`, …"""
    places = [("store_routing", route, store_key) for route in config.store_routing]
    places += [("routing.rules", rule, rule_key) for rule in config.routing.rules]
    found = []
    counters: dict[str, int] = {}
    for where, owner, key in places:
        index = counters[where] = counters.get(where, -1) + 1
        found += [(f"{where}[{index}].{key}[{i}]", v) for i, v in enumerate(getattr(owner, key))]
    return found


def _value_problem(where: str, item: RouteProperty, schema: ContactSchema) -> str | None:
    value = route_value(item.value, schema, item.property)
    _, issues = validate_properties({item.property: value}, schema, default_region=None)
    if issues:
        return f"{where}: {issues[0].reason}"
    return None


def _lifecycle_problems(schema: ContactSchema) -> list[str]:
    definition = schema.get(LIFECYCLE_PROPERTY)
    if definition is None or definition.read_only:
        return [
            "lifecycle_stage: CRM One has no writable 'lifecycle_stage' property "
            "(set lifecycle_stage: false to not write it)"
        ]
    if definition.type == "enum" and not set(LIFECYCLE_STAGES) <= set(definition.options):
        absent = [stage for stage in LIFECYCLE_STAGES if stage not in definition.options]
        return [f"lifecycle_stage: CRM One's '{LIFECYCLE_PROPERTY}' lacks the options {absent}"]
    return []


def list_problems(config: DestinationConfig, known: Iterable[Any]) -> list[str]:
    """Every list a rule names that CRM One does not have, by config path."""
    known_ids = [str(list_id) for list_id in known]
    named = _by_path(config, "list_ids", "lists")
    return [
        f"{where}: '{list_id}' is not a CRM One list{_nearest(list_id, known_ids)}"
        for where, list_id in named
        if list_id not in known_ids
    ]
