"""The project's Types as JSON schema for `custom.fields` (consent flags become typed fields)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

# commercetools FieldType name → JSON schema of a value of that type.
FIELD_TYPES: dict[str, dict[str, Any]] = {
    "Boolean": {"type": ["null", "boolean"]},
    "String": {"type": ["null", "string"]},
    "Number": {"type": ["null", "number"]},
    "Enum": {"type": ["null", "string"]},
    "Date": {"type": ["null", "string"], "format": "date"},
    "Time": {"type": ["null", "string"]},
    "DateTime": {"type": ["null", "string"], "format": "date-time"},
    "LocalizedString": {"type": ["null", "object"], "additionalProperties": {"type": "string"}},
    "LocalizedEnum": {
        "type": ["null", "object"],
        "properties": {"key": {"type": "string"}, "label": {"type": "object"}},
    },
    "Money": {
        "type": ["null", "object"],
        "properties": {
            "type": {"type": "string"},
            "currencyCode": {"type": "string"},
            "centAmount": {"type": "integer"},
            "fractionDigits": {"type": "integer"},
        },
    },
    "Reference": {
        "type": ["null", "object"],
        "properties": {"typeId": {"type": "string"}, "id": {"type": "string"}},
    },
}
ANY_VALUE: dict[str, Any] = {}  # a type we do not know: accept whatever comes
RESOURCE_STREAMS = {"customer": "customers", "order": "orders"}


def field_schema(field_type: Mapping[str, Any]) -> dict[str, Any]:
    name = field_type.get("name")
    if name == "Set":
        item = field_schema(field_type.get("elementType") or {})
        types = [t for t in item.get("type", []) if t != "null"]
        if types:
            item["type"] = types[0] if len(types) == 1 else types
        return {"type": ["null", "array"], "items": item}
    return dict(FIELD_TYPES.get(str(name), ANY_VALUE))


def custom_field_schemas(types: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per stream (customers, orders): field name → schema, merged over every Type of it.

    A field name defined with different types by two Types accepts any value.
    """
    schemas: dict[str, dict[str, Any]] = {}
    for type_ in types:
        for resource in type_.get("resourceTypeIds") or []:
            stream = RESOURCE_STREAMS.get(resource)
            if not stream:
                continue
            fields = schemas.setdefault(stream, {})
            for definition in type_.get("fieldDefinitions") or []:
                name = definition.get("name")
                if not isinstance(name, str):
                    continue
                schema = field_schema(definition.get("type") or {})
                fields[name] = schema if fields.get(name, schema) == schema else ANY_VALUE
    return schemas
