"""Deletions: `CustomerDeleted` messages archive, erase or ignore the contact, per the
config's `deletions`; the journal forgets what it held about the customer. `remove_contact`
is the one way a contact is removed, for a message and for an id reconciliation
(`reconcile.py`) alike."""

from __future__ import annotations

from destination_crmone.crmone.client import CrmOneError
from destination_crmone.crmone.validate import issue_summary
from destination_crmone.delivery.context import Pending, WriteContext, stop_unless_record_level
from destination_crmone.delivery.sender import Sender
from destination_crmone.records import contact_key, map_message


def remove_contact(
    ctx: WriteContext, customer_id: str, external_id: str | None, action: str
) -> str:
    """Archive or erase the contact of `customer_id` (found by its `external_id`; under
    `dry_run`, a review item instead) and settle what the journal holds about the customer.

    Answers what happened: `archived`, `erased`, `unchanged` (already archived), `not_found`,
    or `dry_run_would_archive` / `dry_run_would_erase`. A failure that is not about this
    contact stops the sync (`stop_unless_record_level`); one that is (other than 404)
    raises its `CrmOneError`, and the journal keeps the customer."""
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
            keys = [contact_key(external_id=external_id), contact_key(email=email)]
            keys = [key for key in keys if key]
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
        if action == "erase" and external_id:  # a filtered one was never written
            ctx.journal.forget_contact_commerce([contact_key(external_id=external_id) or ""])
        ctx.journal.forget_customer(customer_id, external_id, action)
    return outcome


class DeletionSender(Sender):
    """`CustomerDeleted` messages: archive, erase or ignore the contact, per `deletions`."""

    def send(self, items: list[Pending]) -> None:
        for item in items:
            self._delete(item)

    def _delete(self, item: Pending) -> None:
        ctx = self.ctx
        deletion = map_message(item.record, ctx.config)
        if deletion is None:
            ctx.stats.add(self.stream, "not_deletions")
            return self.done(item)
        if deletion.rejected:
            return self.queue(item, "rejected", *issue_summary(list(deletion.issues)))
        if deletion.action == "ignore":
            ctx.stats.add(self.stream, "deletions_ignored")
            return self.done(item)
        external_id = deletion.external_id or ctx.journal.identity(deletion.customer_id)
        try:
            outcome = remove_contact(ctx, deletion.customer_id, external_id, deletion.action)
        except CrmOneError as error:  # about this contact: it stays, and so does the message
            return self.queue(item, "failed", error.code, f"{deletion.action}: {error}")
        ctx.stats.add(
            self.stream, outcome if outcome.startswith("dry_run") else f"deletions_{outcome}"
        )
        return self.done(item)
