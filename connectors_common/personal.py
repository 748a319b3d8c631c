"""Which commercetools fields hold personal data: read from the streams' JSON schemas, where
each such field is annotated `"x-personal": true` (source_commercetools/schemas/*.json).

The schemas are the one place that says what a record holds; the destination's redaction
list (destination_crmone/journal/redact.py) is built from this, so a personal field added to
a schema is redacted without a second list to keep in step.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from importlib.resources import files
from typing import Any

ANNOTATION = "x-personal"
SCHEMAS = ("customers", "orders", "carts")  # the streams that carry a person's data


def annotated_fields(schema: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(dotted path, field name) of every property annotated personal, at any depth."""
    if not isinstance(schema, dict):
        return
    for name, node in (schema.get("properties") or {}).items():
        where = f"{path}.{name}" if path else name
        if isinstance(node, dict) and node.get(ANNOTATION) is True:
            yield where, name
        yield from annotated_fields(node, where)
    if isinstance(schema.get("items"), dict):
        yield from annotated_fields(schema["items"], f"{path}[]")


def schema(stream: str) -> dict[str, Any]:
    text = files("source_commercetools").joinpath("schemas", f"{stream}.json").read_text()
    return json.loads(text)


@cache
def personal_paths(stream: str) -> tuple[str, ...]:
    """The dotted paths of a stream's personal fields (`addresses[].phone`)."""
    return tuple(path for path, _ in annotated_fields(schema(stream)))


@cache
def personal_field_names() -> frozenset[str]:
    """The names of every personal field of the person-carrying streams."""
    return frozenset(name for stream in SCHEMAS for _, name in annotated_fields(schema(stream)))
