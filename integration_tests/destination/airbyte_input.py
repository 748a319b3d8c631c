"""commercetools-shaped records and the Airbyte messages around them, for destination tests.

Records look like what source-commercetools emits (docs/internals.md): customers with a default
billing address, stores and consent custom fields; orders with `totalPrice` Money; messages.
Built here rather than taken from the commercetools sandbox, so these tests do not move when the
sandbox's seed changes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from airbyte_cdk.models import (
    AirbyteMessage,
    AirbyteMessageSerializer,
    AirbyteRecordMessage,
    AirbyteStateBlob,
    AirbyteStateMessage,
    AirbyteStateType,
    AirbyteStreamState,
    ConfiguredAirbyteCatalog,
    ConfiguredAirbyteCatalogSerializer,
    StreamDescriptor,
    Type,
)

STORES = ("eu-web", "us-web")


def stamp(i: int, day: int = 1) -> str:
    """A distinct RFC 3339 millisecond timestamp per i."""
    return f"2026-01-{day:02d}T{(i // 3600000) % 24:02d}:{(i // 60000) % 60:02d}:" + (
        f"{(i // 1000) % 60:02d}.{i % 1000:03d}Z"
    )


def customer_id(i: int) -> str:
    return f"00000000-0000-4000-8000-{i:012d}"


def customer(i: int, *, version: int = 1, day: int = 1, **overrides: Any) -> dict[str, Any]:
    store = STORES[i % 2]
    country, phone = (
        ("DE", f"+49 151 2345{i % 10000:04d}")
        if store == "eu-web"
        else (
            "US",
            f"(212) 736-{i % 10000:04d}",
        )
    )
    record: dict[str, Any] = {
        "id": customer_id(i),
        "version": version,
        "key": f"customer-{i}",
        "customerNumber": f"C{100000 + i}",
        "email": f"Person{i}@Example.com",
        "firstName": "Ana",
        "lastName": f"Example{i}",
        "addresses": [
            {
                "id": f"a{i}",
                "streetName": "Hauptstraße",
                "streetNumber": str(i % 99),
                "postalCode": "10115",
                "city": "Berlin",
                "country": country,
                "phone": phone,
            }
        ],
        "defaultBillingAddressId": f"a{i}",
        "locale": "de-DE" if country == "DE" else "en-US",
        "stores": [{"typeId": "store", "key": store}],
        "custom": {
            "type": {"typeId": "type", "id": "consent-type"},
            "fields": {"newsletterOptIn": i % 3 != 0, "newsletterOptInAt": stamp(i, day)},
        },
        "createdAt": stamp(i),
        "lastModifiedAt": stamp(i, day),
    }
    record.update(overrides)
    return record


def order(
    i: int,
    customer_record: dict[str, Any] | None,
    *,
    state: str = "Open",
    version: int = 1,
    **changes: Any,
) -> dict[str, Any]:
    """An order of that customer, or a guest order (None) with a guest email; `changes`
    replace fields (`paymentState="Paid"`, `returnInfo=[…]`)."""
    record: dict[str, Any] = {
        "id": f"10000000-0000-4000-8000-{i:012d}",
        "version": version,
        "orderNumber": f"{500000 + i}",
        "customerEmail": (customer_record or {}).get("email") or f"guest{i}@example.com",
        "store": {"typeId": "store", "key": STORES[i % 2]},
        "totalPrice": {
            "type": "centPrecision",
            "currencyCode": "EUR",
            "centAmount": 1000 + i,
            "fractionDigits": 2,
        },
        "orderState": state,
        "paymentState": "Pending",
        "shipmentState": "Pending",
        "lineItems": [{"id": f"li-{i}", "quantity": 1}],
        "createdAt": stamp(i),
        "lastModifiedAt": stamp(i, 2 if state == "Cancelled" else 1),
    }
    if customer_record is not None:
        record["customerId"] = customer_record["id"]
    return record | changes


def customer_deleted(i: int, deleted_customer_id: str) -> dict[str, Any]:
    return {
        "id": f"20000000-0000-4000-8000-{i:012d}",
        "version": 1,
        "sequenceNumber": 2,
        "resource": {"typeId": "customer", "id": deleted_customer_id},
        "resourceVersion": 3,
        "type": "CustomerDeleted",
        "createdAt": stamp(i, 3),
        "lastModifiedAt": stamp(i, 3),
    }


def bad_customers(count: int, start: int = 900000) -> list[dict[str, Any]]:
    """Bad emails, phones, countries and missing ids, in turn."""
    records = []
    for n in range(count):
        i = start + n
        record = customer(i)
        kind = n % 4
        if kind == 0:
            record["email"] = f"not-an-email-{i}"
        elif kind == 1:
            record["addresses"][0]["phone"] = "12"
        elif kind == 2:
            record["addresses"][0]["country"] = "XX"
        else:
            del record["id"]
        records.append(record)
    return records


# --- Airbyte messages -----------------------------------------------------------------------


def record_message(stream: str, data: dict[str, Any]) -> AirbyteMessage:
    return AirbyteMessage(
        type=Type.RECORD,
        record=AirbyteRecordMessage(stream=stream, data=data, emitted_at=1767225600000),
    )


def state_message(stream: str, position: Any) -> AirbyteMessage:
    return AirbyteMessage(
        type=Type.STATE,
        state=AirbyteStateMessage(
            type=AirbyteStateType.STREAM,
            stream=AirbyteStreamState(
                stream_descriptor=StreamDescriptor(name=stream),
                stream_state=AirbyteStateBlob(position=position),
            ),
        ),
    )


def stream_messages(
    stream: str, records: Iterable[dict[str, Any]], every: int
) -> list[AirbyteMessage]:
    """The records of one stream with a STATE after every `every` records and at the end."""
    messages: list[AirbyteMessage] = []
    count = 0
    for count, data in enumerate(records, start=1):
        messages.append(record_message(stream, data))
        if count % every == 0:
            messages.append(state_message(stream, count))
    if count % every:
        messages.append(state_message(stream, count))
    return messages


def catalog(*streams: str) -> ConfiguredAirbyteCatalog:
    return ConfiguredAirbyteCatalogSerializer.load(catalog_json(*streams))


def catalog_json(*streams: str) -> dict[str, Any]:
    return {
        "streams": [
            {
                "stream": {
                    "name": name,
                    "json_schema": {"type": "object"},
                    "supported_sync_modes": ["full_refresh", "incremental"],
                },
                "sync_mode": "incremental",
                "destination_sync_mode": "append_dedup",
            }
            for name in streams
        ]
    }


def write_jsonl(path: Path, messages: Iterable[AirbyteMessage]) -> Path:
    with path.open("w") as handle:
        for message in messages:
            handle.write(json.dumps(AirbyteMessageSerializer.dump(message)) + "\n")
    return path


def state_position(message: AirbyteMessage) -> Any:
    assert message.state is not None and message.state.stream is not None
    blob = message.state.stream.stream_state
    return getattr(blob, "position", None) if blob is not None else None
