"""The contact schema of a CRM One tenant as `GET /v1/schema/contacts` returns it (the
contract's standard properties, the sandbox's two stores, and one custom property)."""

from __future__ import annotations

from typing import Any

from destination_crmone.crmone.validate import ContactSchema

STORES = ["eu-web", "us-web"]

STANDARD_PROPERTIES: list[dict[str, Any]] = [
    {"name": "external_id", "type": "string", "unique": True, "read_only": True},
    {"name": "email", "type": "email", "required": False, "unique": True},
    {"name": "first_name", "type": "string"},
    {"name": "last_name", "type": "string"},
    {"name": "salutation", "type": "string"},
    {"name": "title", "type": "string"},
    {"name": "phone", "type": "phone"},
    {"name": "mobile_phone", "type": "phone"},
    {"name": "birth_date", "type": "date"},
    {"name": "company", "type": "string"},
    {"name": "vat_id", "type": "string"},
    {"name": "street", "type": "string"},
    {"name": "postal_code", "type": "string"},
    {"name": "city", "type": "string"},
    {"name": "region", "type": "string"},
    {"name": "country", "type": "country"},
    {"name": "locale", "type": "locale"},
    {"name": "store", "type": "enum", "options": STORES, "segmentation": True},
    {"name": "stores", "type": "multi_enum", "options": STORES, "segmentation": True},
    {"name": "customer_group", "type": "string", "segmentation": True},
    {
        "name": "lifecycle_stage",
        "type": "enum",
        "options": ["subscriber", "lead", "customer", "repeat_customer"],
    },
    {"name": "last_order_at", "type": "datetime"},
    {"name": "order_count", "type": "integer"},
    {"name": "total_spent", "type": "money"},
    {"name": "source_created_at", "type": "datetime"},
    {"name": "source_updated_at", "type": "datetime"},
]

CUSTOM_PROPERTIES: list[dict[str, Any]] = [
    {"name": "loyalty_tier", "type": "enum", "options": ["bronze", "silver", "gold"]},
    {"name": "sales_region", "type": "string"},
    {"name": "newsletter", "type": "boolean"},
    {"name": "preferred_currency", "type": "currency"},
    {"name": "score", "type": "number"},
    {"name": "notes", "type": "text"},
]


def schema_payload(*extra: dict[str, Any]) -> dict[str, Any]:
    return {"properties": [*STANDARD_PROPERTIES, *CUSTOM_PROPERTIES, *extra]}


def contact_schema(*extra: dict[str, Any]) -> ContactSchema:
    """The tenant schema; `extra` definitions are added (or replace one of the same name)."""
    return ContactSchema.from_api(schema_payload(*extra))
