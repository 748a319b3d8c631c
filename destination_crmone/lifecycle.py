"""`lifecycle_stage`, CRM One's standard property, from what the journal knows of a contact:

- `repeat_customer`: two or more orders written (cancelled ones do not count);
- `customer`: one order;
- `subscriber`: no order, and a granted consent for the purpose `marketing`;
- `lead`: anything else.

It is sent like any mapped property (subject to `ownership`: a `crm_one`-owned stage is never
overwritten once CRM One has one); `lifecycle_stage: false` turns it off.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from destination_crmone.config import DestinationConfig
from destination_crmone.crmone.validate import ContactSchema

LIFECYCLE_PROPERTY = "lifecycle_stage"
LIFECYCLE_STAGES = ("subscriber", "lead", "customer", "repeat_customer")
MARKETING = "marketing"


def lifecycle_stage(order_count: int, marketing_granted: bool) -> str:
    if order_count >= 2:
        return "repeat_customer"
    if order_count == 1:
        return "customer"
    return "subscriber" if marketing_granted else "lead"


def marketing_granted(consents: Iterable[Any]) -> bool:
    """Does any of these consents (`ConsentPayload`s) grant marketing?"""
    return any(c.purpose == MARKETING and c.status == "granted" for c in consents)


def writes_lifecycle(config: DestinationConfig, schema: ContactSchema) -> bool:
    """Is `lifecycle_stage` derived and written (on, and the tenant can take it)?"""
    definition = schema.get(LIFECYCLE_PROPERTY)
    return bool(config.lifecycle_stage) and definition is not None and not definition.read_only


def history_sets_lifecycle(config: DestinationConfig, schema: ContactSchema) -> bool:
    """Does the orders' history set the stage? Not when a field mapping or a routing rule
    names `lifecycle_stage` (their value is the contact's, whatever the orders say)."""
    named = {m.target for m in config.field_mappings}
    named.update(name for rule in config.routing_rules for name in rule.property_values)
    return writes_lifecycle(config, schema) and LIFECYCLE_PROPERTY not in named


def counted_orders(orders: Iterable[Any]) -> int:
    """The orders (`OrderFact`s) that count towards the stage: those not cancelled."""
    return sum(1 for order in orders if not order.cancelled)
