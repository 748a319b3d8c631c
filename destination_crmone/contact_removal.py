"""Removing a contact per `deletions` (archive or erase), the one way both a `CustomerDeleted`
message and an id reconciliation do it.

`remove_contact` finds the contact by its external_id, archives or erases it (under `dry_run`:
a review item instead) and settles what the journal holds about the customer. It answers what
happened: `archived`, `erased`, `unchanged` (already archived), `not_found`, or
`dry_run_would_archive` / `dry_run_would_erase`. A failure that is not about this contact
raises (`stop_unless_record_level`); one that is (other than 404) raises its `CrmOneError`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from destination_crmone.client import CrmOneError

if TYPE_CHECKING:
    from destination_crmone.senders import WriteContext


def remove_contact(
    ctx: WriteContext, customer_id: str, external_id: str | None, action: str
) -> str:
    """Archive or erase the contact of `customer_id` (its `external_id` when known)."""
    from destination_crmone.senders import stop_unless_record_level  # the senders import us

    outcome = "not_found"
    try:
        contact = ctx.client.find_contact(external_id=external_id) if external_id else None
        if contact is None:
            outcome = "not_found"
        elif action == "archive" and contact.get("archived") is True:
            outcome = "unchanged"
        elif ctx.dry_run:
            detail = {"action": action, "contact_id": contact.get("id")}
            ctx.journal.add_review(ctx.run_id, "dry_run", external_id, None, detail)
            outcome = f"dry_run_would_{action}"
        elif action == "erase":
            ctx.client.erase_contact(str(contact["id"]))
            email = (contact.get("properties") or {}).get("email")
            keys = [f"ext:{external_id}", *([f"email:{email}"] if email else [])]
            ctx.journal.forget_contact_commerce(keys)  # carts, orders, stores of that person
            outcome = "erased"
        else:
            ctx.client.archive_contact(str(contact["id"]))
            outcome = "archived"
    except CrmOneError as error:
        stop_unless_record_level(error)
        if error.status != 404:
            raise
        outcome = "not_found"
    if not ctx.dry_run:  # what the journal holds about the customer goes too
        ctx.journal.forget_customer(customer_id, external_id, action)
    return outcome
