"""The project's Types as JSON schema for `custom.fields` (consent flags become typed fields)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

# commercetools FieldType name → JSON schema of the value the API sends for it
# (CustomFieldValue in the API reference): an Enum or LocalizedEnum value is its key only.
FIELD_TYPES: dict[str, dict[str, Any]] = {
    "Boolean": {"type": ["null", "boolean"]},
    "String": {"type": ["null", "string"]},
    "LocalizedString": {"type": ["null", "object"], "additionalProperties": {"type": "string"}},
    "Enum": {"type": ["null", "string"]},
    "LocalizedEnum": {"type": ["null", "string"]},
    "Number": {"type": ["null", "number"]},
    "Date": {"type": ["null", "string"], "format": "date"},
    # JSON schema's `time` format demands a zone offset; commercetools sends `14:30:00.000`.
    "Time": {"type": ["null", "string"], "pattern": r"^\d{2}:\d{2}:\d{2}(\.\d{1,3})?$"},
    "DateTime": {"type": ["null", "string"], "format": "date-time"},
    "Money": {
        "type": ["null", "object"],
        "properties": {
            "type": {"type": "string"},
            "currencyCode": {"type": "string"},
            "centAmount": {"type": "integer"},
            "fractionDigits": {"type": "integer"},
            "preciseAmount": {"type": "integer"},
        },
    },
    "Reference": {
        "type": ["null", "object"],
        "properties": {"typeId": {"type": "string"}, "id": {"type": "string"}},
    },
}
ANY_VALUE: dict[str, Any] = {}  # a type we do not know: accept whatever comes
# A Type's resourceTypeIds → the streams whose records carry it (order Types apply to carts).
RESOURCE_STREAMS: dict[str, tuple[str, ...]] = {
    "customer": ("customers",),
    "order": ("orders", "carts"),
}


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
    """Per stream (customers, orders, carts): field name → schema, merged over every Type of it.

    A field name defined with different types by two Types accepts any value.
    """
    schemas: dict[str, dict[str, Any]] = {}
    for type_ in types:
        for resource in type_.get("resourceTypeIds") or []:
            for stream in RESOURCE_STREAMS.get(resource, ()):
                fields = schemas.setdefault(stream, {})
                for definition in type_.get("fieldDefinitions") or []:
                    name = definition.get("name")
                    if not isinstance(name, str):
                        continue
                    schema = field_schema(definition.get("type") or {})
                    fields[name] = schema if fields.get(name, schema) == schema else ANY_VALUE
    return schemas
