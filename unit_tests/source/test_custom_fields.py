"""Custom field typing: the schema of each FieldType accepts exactly what the API sends."""

from __future__ import annotations

import jsonschema
import pytest

from source_commercetools.custom_fields import custom_field_schemas, field_schema

MONEY = {"type": "centPrecision", "currencyCode": "EUR", "centAmount": 1234, "fractionDigits": 2}
LOCALIZED_ENUM = {"name": "LocalizedEnum", "values": [{"key": "en", "label": {"en": "English"}}]}

# FieldType → a value as the API sends it (CustomFieldValue) → a value it must refuse
TABLE = [
    ({"name": "Boolean"}, True, "yes"),
    ({"name": "String"}, "gold", 3),
    ({"name": "LocalizedString"}, {"en": "Hi", "de": "Hallo"}, "Hi"),
    ({"name": "Enum", "values": [{"key": "a", "label": "A"}]}, "a", {"key": "a", "label": "A"}),
    (LOCALIZED_ENUM, "en", {"key": "en", "label": {"en": "English"}}),
    ({"name": "Number"}, 12.5, "12.5"),
    ({"name": "Money"}, MONEY, 12.34),
    (
        {"name": "Reference", "referenceTypeId": "customer-group"},
        {"typeId": "customer-group", "id": "g1"},
        "g1",
    ),
    ({"name": "Date"}, "2025-03-01", 20250301),
    ({"name": "Time"}, "14:30:00.000", "2:30 pm"),
    ({"name": "DateTime"}, "2025-03-01T12:00:00.000Z", 1),
    ({"name": "Set", "elementType": LOCALIZED_ENUM}, ["en", "de"], [{"key": "en"}]),
    ({"name": "Set", "elementType": {"name": "Money"}}, [MONEY], MONEY),
    ({"name": "Set", "elementType": {"name": "Number"}}, [1, 2.5], ["1"]),
]


@pytest.mark.parametrize(("field_type", "sent", "refused"), TABLE)
def test_schema_accepts_the_api_value_and_refuses_another_shape(field_type, sent, refused):
    schema = field_schema(field_type)
    jsonschema.validate(sent, schema)
    jsonschema.validate(None, schema)  # a field left empty
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(refused, schema)


def test_formats_of_date_time_and_datetime():
    assert field_schema({"name": "Date"})["format"] == "date"
    assert field_schema({"name": "Time"})["pattern"]  # no `time` format: it wants an offset
    assert field_schema({"name": "DateTime"})["format"] == "date-time"
    assert field_schema({"name": "Set", "elementType": {"name": "LocalizedEnum"}}) == {
        "type": ["null", "array"],
        "items": {"type": "string"},
    }


def test_order_types_also_type_carts_and_a_conflict_accepts_anything():
    types = [
        {
            "resourceTypeIds": ["order"],
            "fieldDefinitions": [{"name": "gift", "type": {"name": "Boolean"}}],
        },
        {
            "resourceTypeIds": ["customer"],
            "fieldDefinitions": [{"name": "x", "type": {"name": "Number"}}],
        },
        {
            "resourceTypeIds": ["customer"],
            "fieldDefinitions": [{"name": "x", "type": {"name": "String"}}],
        },
        {
            "resourceTypeIds": ["product-price"],
            "fieldDefinitions": [{"name": "y", "type": {"name": "String"}}],
        },
    ]
    schemas = custom_field_schemas(types)
    assert schemas["carts"] == schemas["orders"] == {"gift": {"type": ["null", "boolean"]}}
    assert schemas["customers"] == {"x": {}}
    assert set(schemas) == {"customers", "orders", "carts"}
