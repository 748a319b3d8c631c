"""What writing contacts does besides the contacts themselves: store routing both ways (leave
the lists of routed stores a customer left, clear the properties they set) and the retry
queue's dependencies (items waiting for a contact are due once it is written).

Called by the contact writer at three points: `plan_departures` before the upsert,
`leave_lists` after it, `remember_written` once the contacts are settled.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from destination_crmone.config import DestinationConfig, StoreRoute
from destination_crmone.crmone.client import CrmOneError
from destination_crmone.delivery.context import (
    Failure,
    WriteContext,
    chunks,
    stop_unless_record_level,
)
from destination_crmone.records import MappedContact, contact_key, customer_store_keys

# --- what leaving a routed store undoes (pure) ----------------------------------------------


@dataclass(frozen=True)
class StoreDeparture:
    """What leaving routed stores undoes: lists to leave, routed properties to clear."""

    remove_list_ids: tuple[str, ...] = ()
    clear_properties: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.remove_list_ids or self.clear_properties)


def route_property_names(route: StoreRoute) -> list[str]:
    """The property names a route sets (`properties` as a mapping or as `{property, value}`
    items)."""
    properties: Any = route.properties
    if isinstance(properties, Mapping):
        return list(properties)
    names = []
    for item in properties or []:
        name = item.get("property") if isinstance(item, Mapping) else item.property
        names.append(str(name))
    return names


def store_departure(
    previous_stores: Iterable[str], current_stores: Iterable[str], config: DestinationConfig
) -> StoreDeparture:
    """The customer was in `previous_stores` (as last written) and is now in
    `current_stores`: leave the lists of routed stores it left, and clear the properties those
    routes set, except what a route of a store it is still in adds or sets."""
    current = set(current_stores)
    left = [key for key in dict.fromkeys(previous_stores) if key not in current]
    if not left:
        return StoreDeparture()
    staying = [route for route in config.store_routing if route.store_key in current]
    leaving = [route for route in config.store_routing if route.store_key in left]
    kept_lists = {list_id for route in staying for list_id in route.list_ids}
    kept_properties = {name for route in staying for name in route_property_names(route)}
    lists = [i for route in leaving for i in route.list_ids if i not in kept_lists]
    names = [
        n for route in leaving for n in route_property_names(route) if n not in kept_properties
    ]
    return StoreDeparture(tuple(dict.fromkeys(lists)), tuple(dict.fromkeys(names)))


# --- the contact writer's hooks -------------------------------------------------------------


def wake(ctx: WriteContext, keys: Iterable[str]) -> None:
    """These contacts are written: queue items waiting for them are due now."""
    if not ctx.dry_run:
        ctx.stats.add_queue("woken", ctx.journal.wake(keys))


def plan_departures(
    ctx: WriteContext, contacts: Iterable[tuple[MappedContact, Mapping[str, Any]]]
) -> dict[str, StoreDeparture]:
    """external_id → what leaving routed stores undoes, for contacts whose stores (as last
    written) include a routed store they are no longer in. Cleared properties are set to
    None (null clears) in the contact's properties, unless the mapping sets them."""
    if not ctx.config.store_routing:
        return {}
    pairs = [(m, record) for m, record in contacts if m.external_id]
    known = ctx.journal.routed_stores(contact_key(m.external_id) for m, _ in pairs)
    departures: dict[str, StoreDeparture] = {}
    for mapped, record in pairs:
        previous = known.get(contact_key(mapped.external_id) or "")
        if previous is None:
            continue
        departure = store_departure(previous, customer_store_keys(record), ctx.config)
        if departure:
            for name in departure.clear_properties:
                if name not in mapped.properties and name in ctx.schema:
                    mapped.properties[name] = None
            departures[str(mapped.external_id)] = departure
    return departures


def leave_lists(
    ctx: WriteContext, stream: str, departures: Mapping[str, StoreDeparture], written: set[str]
) -> dict[str, Failure]:
    """Remove written contacts from the lists of the routed stores they left."""
    by_list: dict[str, list[str]] = {}
    for external_id, departure in departures.items():
        if external_id in written:
            for list_id in departure.remove_list_ids:
                by_list.setdefault(list_id, []).append(external_id)
    failures: dict[str, Failure] = {}
    for list_id, members in by_list.items():
        for part in chunks(members, ctx.batch_size):
            if ctx.dry_run:
                detail = {"action": "leave list", "list_id": list_id, "external_ids": part}
                ctx.journal.add_review(ctx.run_id, "dry_run", None, None, detail)
                continue
            try:
                response = ctx.client.list_members(
                    list_id,
                    [],
                    part,
                    idempotency_key=ctx.idempotency_key(stream, "leave", [list_id, *part]),
                )
            except CrmOneError as error:
                stop_unless_record_level(error)  # transient: the sync stops, nothing is queued
                for external_id in part:
                    failures[external_id] = ("failed", error.code, f"list {list_id}: {error}")
                continue
            ctx.stats.add(stream, "list_members_removed", int(response.get("removed") or 0))
    return failures


def remember_written(
    ctx: WriteContext, written: Iterable[tuple[MappedContact, Mapping[str, Any]]]
) -> None:
    """The stores of written contacts (for the next departure) and the queue items that
    waited for these contacts."""
    if ctx.dry_run:
        return
    pairs = [(m, record) for m, record in written if m.external_id]
    if ctx.config.store_routing:
        ctx.journal.remember_stores(
            {contact_key(m.external_id) or "": customer_store_keys(record) for m, record in pairs}
        )
    keys = [contact_key(external_id=m.external_id) for m, _ in pairs]
    keys += [contact_key(email=m.email) for m, _ in pairs if m.email]
    wake(ctx, [key for key in keys if key])
