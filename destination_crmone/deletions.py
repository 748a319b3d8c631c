"""messages → deletions: `CustomerDeleted` archives, erases or ignores the contact, per the
config's `deletions`; the journal forgets what it held about the customer."""

from __future__ import annotations

from destination_crmone.crmone.client import CrmOneError
from destination_crmone.crmone.validate import issue_summary
from destination_crmone.delivery.context import Pending, stop_unless_record_level
from destination_crmone.delivery.sender import Sender
from destination_crmone.records import contact_key, map_message


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
            contact = ctx.client.find_contact(external_id=external_id) if external_id else None
            if contact is None:
                ctx.stats.add(self.stream, "deletions_not_found")
            elif deletion.action == "archive" and contact.get("archived") is True:
                ctx.stats.add(self.stream, "deletions_unchanged")
            elif ctx.dry_run:
                detail = {"action": deletion.action, "contact_id": contact.get("id")}
                ctx.journal.add_review(ctx.run_id, "dry_run", external_id, None, detail)
                ctx.stats.add(self.stream, f"dry_run_would_{deletion.action}")
            elif deletion.action == "erase":
                ctx.client.erase_contact(str(contact["id"]))
                email = (contact.get("properties") or {}).get("email")
                keys = [contact_key(external_id=external_id), contact_key(email=email)]
                keys = [key for key in keys if key]
                ctx.journal.forget_contact_commerce(keys)  # carts, orders, stores of that person
                ctx.stats.add(self.stream, "deletions_erased")
            else:
                ctx.client.archive_contact(str(contact["id"]))
                ctx.stats.add(self.stream, "deletions_archived")
        except CrmOneError as error:
            stop_unless_record_level(error)
            if error.status != 404:
                return self.queue(item, "failed", error.code, f"{deletion.action}: {error}")
            ctx.stats.add(self.stream, "deletions_not_found")
        if not ctx.dry_run:  # what the journal holds about the customer goes too
            if deletion.action == "erase" and external_id:  # a filtered one was never written
                ctx.journal.forget_contact_commerce([contact_key(external_id=external_id) or ""])
            ctx.journal.forget_customer(deletion.customer_id, external_id, deletion.action)
        return self.done(item)
