"""The sender base: one per stream, it turns a batch of records into CRM One calls and settles
every record exactly once:

- `done`: written (or nothing to do);
- `queue`: a record-level outcome a retry of the same bytes cannot fix (validation, CRM One's
  per-record errors, a whole batch refused with a 4xx): into the retry queue with its reason;
- `dropped_as_older`: a newer copy of the same record is in the same batch.

A transient failure (CRM One unreachable, 429/5xx past the retry budget, the journal
unwritable) is never queued: the sender raises `Transient` and leaves the rest of its batch
unsettled, so no STATE after those records is echoed. 401/403 raise `Fatal` (the
configuration is wrong, not the record).

Subclasses live with their stream (`contacts/`, `commerce/`, `deletions.py`) and are named in
the stream table (`streams.py`). Under `dry_run` nothing is written to CRM One and the retry
queue is left alone: what would change goes to the journal's review table (kind `dry_run`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from destination_crmone.crmone.client import CrmOneError
from destination_crmone.crmone.replies import error_text, read_reply
from destination_crmone.delivery.context import (
    Failure,
    Pending,
    WriteContext,
    stop_unless_record_level,
)
from destination_crmone.journal import keeps_payload
from destination_crmone.journal.redact import personal_values, scrub_text

UPSERT_STATUSES = ("created", "updated", "unchanged")  # of an upsert's per-record results


class Sender:
    """One stream's calls; subclasses implement `send`."""

    def __init__(self, stream: str, ctx: WriteContext) -> None:
        self.stream = stream
        self.ctx = ctx
        ctx.stats.stream(stream)

    def key(self, item: Pending) -> str:
        """What two records must not be sent concurrently for (the same CRM One object)."""
        return item.key

    def prepare(self, item: Pending) -> int:
        """Work done when the record arrives (on the reading thread); the number of records
        it adds to its follow-up call (consents of a contact), so that a batch fills that call
        once rather than spilling a few records into a second one."""
        return 0

    def send(self, items: list[Pending]) -> None:
        raise NotImplementedError

    # --- outcomes ------------------------------------------------------------------------

    def queue(self, item: Pending, kind: str, code: str, reason: str) -> None:
        """Into the retry queue with its reason (`kind`: rejected, failed or partial)."""
        ctx = self.ctx
        reason = self.shown_reason(item, reason)
        if ctx.dry_run:
            detail = {"action": f"queue_{kind}", "code": code, "reason": reason}
            ctx.journal.add_review(ctx.run_id, "dry_run", item.key, None, detail)
        else:
            payload = item.record if keeps_payload(kind, code) else {}
            ctx.journal.enqueue(
                ctx.run_id, self.stream, item.key, item.version, payload, reason, code, kind
            )
        ctx.stats.reject(self.stream, kind, code, f"{item.key}: {reason}")
        ctx.settle(item, kind != "partial")

    def shown_reason(self, item: Pending, reason: str) -> str:
        """The reason as journalled: under `redact_pii`, without the record's own values (CRM
        One's per-record messages may quote one)."""
        if self.ctx.config.redact_pii:
            return scrub_text(reason, personal_values(item.record))
        return reason

    def done(self, item: Pending) -> None:
        """Written (or nothing to do): the queue item it came from is settled."""
        if item.queue_id is not None and not self.ctx.dry_run:
            self.ctx.journal.mark(item.queue_id, "sent")
        self.ctx.settle(item, False)

    def dropped_as_older(self, item: Pending) -> None:
        """A newer copy of the same record is in the same batch."""
        self.ctx.stats.add(self.stream, "deduplicated")
        if item.queue_id is not None and not self.ctx.dry_run:
            self.ctx.journal.mark(item.queue_id, "superseded")
            self.ctx.stats.add(self.stream, "superseded")
        self.ctx.settle(item, False)

    def send_batch(
        self,
        batch: list[tuple[dict[str, Any], Pending]],
        call: Callable[[list[dict[str, Any]]], Any],
        kind: str,
        statuses: tuple[str, ...],
        where: Callable[[dict[str, Any]], str],
        failures: dict[Pending, Failure],
    ) -> None:
        """One batch call of (record, source item) pairs: counts `<kind>_<status>` per result;
        a per-record error (or a refused call) becomes the failure of that record's item."""
        try:
            response = call([record for record, _ in batch])
        except CrmOneError as error:
            stop_unless_record_level(error)
            for _, item in batch:
                failures.setdefault(item, ("failed", error.code, f"{kind}: {error}"))
            return
        reply = read_reply(response, len(batch))
        for status in reply.statuses:
            if status in statuses:
                self.ctx.stats.add(self.stream, f"{kind}_{status}")
        for index, error in reply.errors:
            record, item = batch[index]
            code, reason = error_text(error)
            failures.setdefault(item, ("rejected", code, f"{where(record)}: {reason}"))

    def refused(self, items: list[Pending], error: CrmOneError, what: str) -> None:
        """A whole call refused: stop on transient failures, else queue its records."""
        stop_unless_record_level(error)
        for item in items:
            self.queue(item, "failed", error.code, f"{what}: {error}")


class IgnoredSender(Sender):
    """A stream the destination has no use for: acknowledged and counted."""

    def send(self, items: list[Pending]) -> None:
        self.ctx.stats.add(self.stream, "ignored", len(items))
        for item in items:
            self.done(item)
