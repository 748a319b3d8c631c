"""Segmentation: which customers this destination takes (`filters`), which lists and routed
properties each gets (`routing`, with `store_routing` as its shorthand), and what leaving a
segment undoes. Pure functions over a `read(path)` of the record: no I/O.

- Conditions: `in` holds when the field's value (any of its values, for a list such as
  `stores`) is listed; `not_in` when none is (a missing value is not in any list); `exists`
  when the field has a value (true) or has none (false). Values compare as text without regard
  to case (`DE` = `de`; `true` = true; `1` = 1.0). A filter or a rule holds when all of its
  conditions do.
- Routing: the rules in order (`DestinationConfig.routing_rules`); `all_matches` applies every
  matching rule (the first of them wins a property two set), `first_match` only the first.
- Memory (`Membership`): per contact, whether it was in scope and the lists and routed
  properties last written; leaving a rule is the difference between that and now. The journal
  of earlier releases kept the contact's routed store keys instead: read as the lists and
  properties those stores' routes gave.
- Orders and carts without a known customer verdict (a guest, or a customer this destination
  has not seen): decided on the order itself when every filter condition names something an
  order carries (`ORDER_FIELDS`: its country, store, locale), else not taken (guests) or left
  to CRM One (a registered customer's order waits for its contact).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from destination_crmone.config import Condition, DestinationConfig, RoutingRule, condition_text

Read = Callable[[str], Any]


# --- conditions ----------------------------------------------------------------------------


def field_values(value: Any) -> list[str]:
    """A field's values as compared: a list's items, a reference's key, nothing when empty."""
    if value is None or value == "" or value == [] or value == {}:
        return []
    if isinstance(value, list | tuple | set):
        return [text for item in value for text in field_values(item)]
    if isinstance(value, Mapping):
        if "key" in value:
            return field_values(value["key"])
        return [text for item in value.values() for text in field_values(item)]
    return [condition_text(value)]


def holds(condition: Condition, value: Any) -> bool:
    values = field_values(value)
    if condition.exists is not None:
        return bool(values) == condition.exists
    if condition.in_ is not None:
        listed = {condition_text(option) for option in condition.in_}
        return any(v in listed for v in values)
    listed = {condition_text(option) for option in condition.not_in or ()}
    return not any(v in listed for v in values)


def all_hold(conditions: Iterable[Condition], read: Read) -> bool:
    return all(holds(condition, read(condition.field)) for condition in conditions)


# --- filters -------------------------------------------------------------------------------


def in_scope(config: DestinationConfig, read: Read) -> bool:
    """Does this destination take the customer? (No filters: every customer.)"""
    return all_hold(config.filters, read)


# What an order or a cart carries of the fields a filter may name (for a guest, or a customer
# this destination has no verdict for): the customer's country is the order's billing country,
# else its shipping country; its stores the order's store.
ORDER_FIELDS: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "country": lambda order: _order_country(order, "billingAddress", "shippingAddress"),
    "address.country": lambda order: _order_country(order, "billingAddress", "shippingAddress"),
    "address.billing.country": lambda order: _order_country(order, "billingAddress"),
    "address.shipping.country": lambda order: _order_country(order, "shippingAddress"),
    "stores": lambda order: _order_store(order),
    "locale": lambda order: order.get("locale"),
}


def _order_country(order: Mapping[str, Any], *addresses: str) -> Any:
    for name in addresses:
        address = order.get(name)
        if isinstance(address, Mapping) and address.get("country"):
            return address["country"]
    return None


def _order_store(order: Mapping[str, Any]) -> list[str]:
    store = order.get("store")
    key = store.get("key") if isinstance(store, Mapping) else None
    key = key or order.get("_ab_store_key")
    return [key] if isinstance(key, str) and key else []


def order_scope(config: DestinationConfig, order: Mapping[str, Any]) -> bool | None:
    """Is an order (or cart) in scope judged by itself? None when a filter names a field an
    order does not carry (then only its customer's verdict can say)."""
    if any(condition.field not in ORDER_FIELDS for condition in config.filters):
        return None
    return all_hold(config.filters, lambda path: ORDER_FIELDS[path](order))


def order_in_scope(
    config: DestinationConfig, order: Mapping[str, Any], customer: Membership | None
) -> bool:
    """Does this destination take an order or cart? It follows its customer's verdict when
    the journal has one; else it is judged by itself (`order_scope`); when it cannot be, a
    registered customer's order is taken (CRM One decides whether its contact exists here)
    and a guest's is not."""
    if customer is not None:
        return customer.in_scope
    judged = order_scope(config, order)
    if judged is not None:
        return judged
    return bool(order.get("customerId"))


# --- routing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Routed:
    """What routing gives a contact: lists to be in, properties to set (name → raw value)."""

    lists: tuple[str, ...] = ()
    properties: Mapping[str, Any] = field(default_factory=dict)


def matching_rules(config: DestinationConfig, read: Read) -> list[RoutingRule]:
    rules = [rule for rule in config.routing_rules if all_hold(rule.when, read)]
    return rules[:1] if config.routing.mode == "first_match" else rules


def route(config: DestinationConfig, read: Read) -> Routed:
    rules = matching_rules(config, read)
    properties: dict[str, Any] = {}
    for rule in rules:  # the first matching rule wins a property two of them set
        for name, value in rule.property_values.items():
            properties.setdefault(name, value)
    lists = tuple(dict.fromkeys(list_id for rule in rules for list_id in rule.lists))
    return Routed(lists, properties)


def configured_lists(config: DestinationConfig) -> list[str]:
    """Every list a rule may add contacts to (for `check`)."""
    return list(dict.fromkeys(i for rule in config.routing_rules for i in rule.lists))


def routed_property_names(config: DestinationConfig) -> list[str]:
    """Every property a rule may set (for `check`)."""
    return list(dict.fromkeys(n for rule in config.routing_rules for n in rule.property_values))


# --- memory and departures -----------------------------------------------------------------


@dataclass(frozen=True)
class Membership:
    """What the journal remembers of a contact: in scope or not, and the lists and routed
    properties last written for it."""

    in_scope: bool = True
    lists: tuple[str, ...] = ()
    properties: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """As the journal keeps it (JSON)."""
        return {
            "in_scope": self.in_scope,
            "lists": list(self.lists),
            "properties": list(self.properties),
        }

    @classmethod
    def of(cls, in_scope: bool, routed: Routed) -> Membership:
        return cls(in_scope, tuple(routed.lists), tuple(routed.properties))


def remembered(value: Any, config: DestinationConfig) -> Membership | None:
    """A journal value as a Membership: today's object, or the store keys of earlier releases
    (read as what those stores' routes gave)."""
    if isinstance(value, Mapping):
        return Membership(
            bool(value.get("in_scope", True)),
            tuple(str(i) for i in value.get("lists") or ()),
            tuple(str(n) for n in value.get("properties") or ()),
        )
    if isinstance(value, list):
        stores = [str(key) for key in value]
        rules = [route.as_rule() for route in config.store_routing]
        matched = [rule for rule in rules if all_hold(rule.when, lambda _path: stores)]
        lists = tuple(dict.fromkeys(i for rule in matched for i in rule.lists))
        names = tuple(dict.fromkeys(n for rule in matched for n in rule.property_values))
        return Membership(True, lists, names)
    return None


@dataclass(frozen=True)
class Departure:
    """What leaving rules (or the filters) undoes: lists to leave, properties to clear."""

    remove_list_ids: tuple[str, ...] = ()
    clear_properties: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.remove_list_ids or self.clear_properties)


def departure(previous: Membership | None, now: Routed) -> Departure:
    """Lists it was added to and is no longer routed to, properties routing set and no rule
    sets now."""
    if previous is None:
        return Departure()
    lists = tuple(i for i in previous.lists if i not in now.lists)
    names = tuple(n for n in previous.properties if n not in now.properties)
    return Departure(lists, names)


def leaving_scope(previous: Membership | None, now_in_scope: bool) -> bool:
    """Was the contact written in scope and is it out of scope now?"""
    return previous is not None and previous.in_scope and not now_in_scope
