"""stores → the journal's memory of each store's languages (no CRM One call): the second
choice, after the customer's own locale, of the language a localized value is read in
(`field_mappings` with `locale: customer`). Contacts written from the next sync on use them."""

from __future__ import annotations

from destination_crmone.customer_fields import store_languages
from destination_crmone.delivery.context import Pending
from destination_crmone.delivery.sender import Sender


class StoreLanguageSender(Sender):
    """Remembers the `languages` of each store record; a record without a key is counted."""

    def send(self, items: list[Pending]) -> None:
        ctx = self.ctx
        languages = {}
        for item in items:
            found = store_languages(item.record)
            if found is None:
                ctx.stats.add(self.stream, "stores_without_key")
            else:
                languages[found[0]] = found[1]
        if languages and not ctx.dry_run:
            ctx.journal.remember_store_languages(languages)
        ctx.stats.add(self.stream, "stores_remembered", len(languages))
        for item in items:
            self.done(item)
