"""What writing contacts does besides the contacts themselves: store routing both ways (leave
the lists of routed stores a customer left, clear the properties they set) and the retry
queue's dependencies (items waiting for a contact are due once it is written).

Called by the contact writer at three points: `plan_departures` before the upsert,
`leave_lists` after it, `remember_written` once the contacts are settled.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from destination_crmone.client import CrmOneError
from destination_crmone.commerce_events import StoreDeparture, store_departure
from destination_crmone.mapping import MappedContact, customer_store_keys

if TYPE_CHECKING:
    from destination_crmone.senders import WriteContext

Failure = tuple[str, str, str]  # kind, code, reason


def _parts(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


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
    known = ctx.journal.routed_stores(f"ext:{m.external_id}" for m, _ in pairs)
    departures: dict[str, StoreDeparture] = {}
    for mapped, record in pairs:
        previous = known.get(f"ext:{mapped.external_id}")
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
        for part in _parts(members, ctx.batch_size):
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
    ctx.journal.remember_customers(  # what an id reconciliation compares with (reconcile.py)
        {
            m.source_id: (m.external_id, str(record.get("lastModifiedAt") or ""))
            for m, record in pairs
            if m.source_id and m.external_id
        }
    )
    if ctx.config.store_routing:
        ctx.journal.remember_stores(
            {f"ext:{m.external_id}": customer_store_keys(record) for m, record in pairs}
        )
    keys = [f"ext:{m.external_id}" for m, _ in pairs]
    wake(ctx, keys + [f"email:{m.email}" for m, _ in pairs if m.email])
