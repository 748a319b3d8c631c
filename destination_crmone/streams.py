"""THE stream table: every stream the destination writes, in one place.

For each stream (its name without a connection's prefix): the sender that writes it, the
streams whose buffered records go first (`follows`: orders reference contacts, so their
activities must not overtake them), whether the config writes it at all (`wanted`), and the
CRM One scopes and activity types it needs (`check` asks for them). The counters each stream
reports are `stats.STREAM_COUNTERS` (kept there: the statistics are read without a config);
`unit_tests/destination/test_streams.py` holds the two tables to the same streams.

A new stream plugs in here: a `Sender` subclass and one row.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from destination_crmone.commerce.sender import CartSender, CommerceOrderSender, PaymentSender
from destination_crmone.config import DestinationConfig
from destination_crmone.contacts.sender import ContactSender
from destination_crmone.customer_fields import CUSTOMER_LOCALE
from destination_crmone.deletions import DeletionSender
from destination_crmone.delivery.sender import Sender
from destination_crmone.segments import configured_lists
from destination_crmone.store_languages import StoreLanguageSender

ORDER_ACTIVITY_TYPES = ("order_placed", "order_cancelled", "order_updated", "order_returned")
CART_ACTIVITY_TYPES = ("checkout_started", "cart_abandoned")


def _always(config: DestinationConfig) -> bool:
    return True


@dataclass(frozen=True)
class Stream:
    """One row of the table."""

    sender: type[Sender]
    follows: tuple[str, ...] = ()
    # does this config write the stream? (else Airbyte need not send it: `used_streams`)
    wanted: Callable[[DestinationConfig], bool] = _always
    # CRM One scopes and activity types the stream needs under this config
    scopes: Callable[[DestinationConfig], tuple[str, ...]] = lambda config: ()
    activity_types: Callable[[DestinationConfig], tuple[str, ...]] = lambda config: ()


def _contact_scopes(config: DestinationConfig) -> tuple[str, ...]:
    return (
        "contacts:write",
        *(("consents:write",) if config.consents else ()),
        *(("lists:write",) if configured_lists(config) else ()),
    )


def _order_scopes(config: DestinationConfig) -> tuple[str, ...]:
    return (
        *(("activities:write",) if config.writes_order_activities else ()),
        *(("objects:write",) if config.writes_order_objects else ()),
    )


STREAMS: dict[str, Stream] = {
    "customers": Stream(ContactSender, scopes=_contact_scopes),
    "orders": Stream(
        CommerceOrderSender,
        follows=("customers", "carts"),
        scopes=_order_scopes,
        activity_types=lambda c: ORDER_ACTIVITY_TYPES if c.writes_order_activities else (),
    ),
    "messages": Stream(DeletionSender, follows=("customers",)),
    "carts": Stream(
        CartSender,
        follows=("customers",),
        scopes=lambda c: ("activities:write",) if c.carts_as == "activities" else (),
        activity_types=lambda c: CART_ACTIVITY_TYPES if c.carts_as == "activities" else (),
    ),
    # the stores' languages: only for localized values in the customer's language
    "stores": Stream(
        StoreLanguageSender,
        wanted=lambda c: any(m.locale == CUSTOMER_LOCALE for m in c.field_mappings),
    ),
    # payments set the payment properties of order objects: only when orders are objects
    "payments": Stream(
        PaymentSender,
        follows=("customers", "orders"),
        wanted=lambda c: c.writes_order_objects,
        scopes=lambda c: ("objects:write",),
    ),
}


def written_streams(config: DestinationConfig) -> dict[str, Stream]:
    """The rows of the streams this config writes."""
    return {name: stream for name, stream in STREAMS.items() if stream.wanted(config)}


def stream_senders(config: DestinationConfig) -> dict[str, type[Sender]]:
    """Stream name → sender for this config."""
    return {name: stream.sender for name, stream in written_streams(config).items()}


def stream_follows() -> dict[str, tuple[str, ...]]:
    """Stream name → the streams whose buffered records are sent before its batches."""
    return {name: stream.follows for name, stream in STREAMS.items()}


def used_streams(config: Mapping[str, Any]) -> tuple[str, ...]:
    """The source streams this (raw) destination config writes something for; a catalog needs
    no others (`payments` only when orders are written as objects)."""
    return tuple(written_streams(DestinationConfig.parse_config(dict(config))))


SCOPES = ("contacts:write", "consents:write", "lists:write", "activities:write", "objects:write")


def required_scopes(config: DestinationConfig) -> list[str]:
    """The CRM One scopes the streams this config writes need, each once, in `SCOPES` order."""
    needed = {
        scope for stream in written_streams(config).values() for scope in stream.scopes(config)
    }
    return [scope for scope in SCOPES if scope in needed]


def required_activity_types(config: DestinationConfig) -> list[str]:
    """The CRM One activity types the streams this config writes send."""
    types = [
        t for stream in written_streams(config).values() for t in stream.activity_types(config)
    ]
    return list(dict.fromkeys(types))
