"""What writing contacts does besides the contacts themselves: routing both ways (leave the
lists of rules a customer no longer matches, clear the properties they set; `segments` says
what), the journal's memory of each contact's membership, and the retry queue's dependencies
(items waiting for a contact are due once it is written).

Called by the contact writer at three points: `plan_departures` before the upsert,
`leave_lists` after it, `remember_written` once the contacts are settled.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from destination_crmone.crmone.client import CrmOneError
from destination_crmone.delivery.context import (
    Failure,
    WriteContext,
    chunks,
    stop_unless_record_level,
)
from destination_crmone.records import MappedContact, contact_key
from destination_crmone.segments import Departure, Membership, departure, leaving_scope, remembered

# --- the contact writer's hooks -------------------------------------------------------------


def wake(ctx: WriteContext, keys: Iterable[str]) -> None:
    """These contacts are written: queue items waiting for them are due now."""
    if not ctx.dry_run:
        ctx.stats.add_queue("woken", ctx.journal.wake(keys))


def plan_departures(ctx: WriteContext, contacts: Iterable[MappedContact]) -> dict[str, Departure]:
    """external_id → what leaving routing rules undoes, for contacts whose lists and routed
    properties (as last written) include some no rule gives them now. Cleared properties are
    set to None (null clears) in the contact's properties, unless the mapping sets them."""
    if not ctx.config.routes:
        return {}
    mapped = [m for m in contacts if m.external_id]
    known = ctx.journal.memberships(contact_key(m.external_id) for m in mapped)
    departures: dict[str, Departure] = {}
    for contact in mapped:
        previous = remembered(known.get(contact_key(contact.external_id) or ""), ctx.config)
        gone = departure(previous, contact.routed)
        if gone:
            for name in gone.clear_properties:
                if name not in contact.properties and name in ctx.schema:
                    contact.properties[name] = None
            departures[str(contact.external_id)] = gone
    return departures


def leave_lists(
    ctx: WriteContext, stream: str, departures: Mapping[str, Departure], written: set[str]
) -> dict[str, Failure]:
    """Remove written contacts from the lists of the rules they left."""
    by_list: dict[str, list[str]] = {}
    for external_id, gone in departures.items():
        if external_id in written:
            for list_id in gone.remove_list_ids:
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


def remember_written(ctx: WriteContext, written: Iterable[MappedContact]) -> None:
    """The memberships of written contacts (for the next departure, and the verdict orders
    follow) and the queue items that waited for these contacts."""
    if ctx.dry_run:
        return
    mapped = [m for m in written if m.external_id]
    if ctx.config.routes or ctx.config.filters:
        ctx.journal.remember_memberships(
            {
                contact_key(m.external_id) or "": Membership.of(True, m.routed).as_dict()
                for m in mapped
            }
        )
    keys = [contact_key(external_id=m.external_id) for m in mapped]
    keys += [contact_key(email=m.email) for m in mapped if m.email]
    wake(ctx, [key for key in keys if key])


def leave_scope(ctx: WriteContext, stream: str, external_ids: list[str]) -> dict[str, Failure]:
    """Customers the filters do not take: those written in scope before get `on_leave`
    (`keep`: nothing; `archive`: the contact is archived; `remove_from_lists`: it leaves the
    lists routing added it to) and will be written in full if they come back (their digest
    is forgotten); every one is remembered out of scope, which their orders and carts follow.
    Returns the failures (by external_id) of actions CRM One refused for good."""
    config = ctx.config
    keys = {external_id: contact_key(external_id) or "" for external_id in external_ids}
    known = ctx.journal.memberships(keys.values())
    previous = {ext: remembered(known.get(key), config) for ext, key in keys.items()}
    leaving = [ext for ext in external_ids if leaving_scope(previous[ext], False)]
    failures: dict[str, Failure] = {}
    if leaving and config.on_leave == "archive":
        failures = _archive(ctx, stream, leaving)
    elif leaving and config.on_leave == "remove_from_lists":
        lists = {ext: previous[ext].lists for ext in leaving}  # type: ignore[union-attr]
        failures = leave_lists(ctx, stream, {e: Departure(lists[e]) for e in leaving}, set(lists))
    if leaving:
        ctx.stats.add(stream, f"left_scope_{config.on_leave}", len(leaving) - len(failures))
    if ctx.dry_run:
        return failures
    ctx.journal.remember_digests({ext: "" for ext in leaving if ext not in failures})
    memberships = {}
    for ext, key in keys.items():
        if ext in failures:
            continue
        before = previous[ext] or Membership()
        removed = config.on_leave == "remove_from_lists" and ext in leaving
        kept = () if removed else before.lists
        memberships[key] = Membership(False, kept, before.properties).as_dict()
    ctx.journal.remember_memberships(memberships)
    return failures


def _archive(ctx: WriteContext, stream: str, external_ids: list[str]) -> dict[str, Failure]:
    failures: dict[str, Failure] = {}
    for external_id in external_ids:
        try:
            contact = ctx.client.find_contact(external_id=external_id)
            if contact is None or contact.get("archived") is True:
                continue
            if ctx.dry_run:
                detail = {"action": "archive (on_leave)", "contact_id": contact.get("id")}
                ctx.journal.add_review(ctx.run_id, "dry_run", external_id, None, detail)
                continue
            ctx.client.archive_contact(str(contact["id"]))
            ctx.stats.add(stream, "contacts_archived")
        except CrmOneError as error:
            stop_unless_record_level(error)  # transient: the sync stops, nothing is queued
            if error.status != 404:
                failures[external_id] = ("failed", error.code, f"archive on leave: {error}")
    return failures
