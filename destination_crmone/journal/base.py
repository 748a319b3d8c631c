"""What a journal is: runs, the sync log, the retry queue and review items.

`Journal` is the protocol the destination codes against; `sql.SqlJournal` implements it once
for both backends (`sqlite.SqliteJournal`, `postgres.PostgresJournal`).

Retry-queue statuses:
- `pending`: re-sent when it is due: at `next_attempt_at` (back-off doubling across runs), or,
  for an item `waiting_for` something (e.g. the contact `ext:ct:42`), when that is written;
- `resolved`: re-sent and written (older journals said `sent`);
- `superseded`: a newer version of the same record arrived, so this one is never re-sent;
- `parked`: given up after `QueuePolicy.max_attempts` attempts or `max_days` days (older
  journals said `failed_again`); kept for people to read, not re-sent.
Kinds: `rejected` (refused by validation or by CRM One for that record), `failed` (the call
still failed after the client's retries), `partial` (written without invalid optional values).
A pending item without a payload (`keeps_payload`) is never re-sent: it waits for a newer
version of its record, and `prune` ends it once it is older than the retention.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from destination_crmone.crmone.calllog import CallRecord
from destination_crmone.journal.commerce import CartRow, OrderFact, OrderPayments, PaymentFact

PENDING, RESOLVED, SUPERSEDED, PARKED = "pending", "resolved", "superseded", "parked"
SENT, FAILED_AGAIN = RESOLVED, PARKED  # the statuses' former names
QUEUE_STATUSES = frozenset({PENDING, RESOLVED, SUPERSEDED, PARKED})
STATUS_ALIASES = {"sent": RESOLVED, "failed_again": PARKED}


@dataclass(frozen=True)
class QueuePolicy:
    """When a queued record is re-sent and when it is parked (config `retry_*`)."""

    max_attempts: int = 5
    max_days: float = 7
    backoff_hours: float = 1

    def backoff(self, attempts: int) -> timedelta:
        """The wait after the `attempts`-th failure: 1, 2, 4 … times `backoff_hours`."""
        return timedelta(hours=self.backoff_hours * 2 ** max(0, min(attempts - 1, 30)))


# Codes of a rejection that a re-send of the same record can still overcome: a person settles
# an email_conflict in CRM One; an order waits for its contact to exist or be known.
RESENDABLE_CODES = frozenset({"email_conflict", "contact_not_found", "contact_unresolved"})


def keeps_payload(kind: str, code: str) -> bool:
    """Whether a queued record keeps its payload: only while re-sending it could succeed (a
    call that failed, a rejection in RESENDABLE_CODES). A record our validation or CRM One
    refused, or one written without its invalid values, keeps none: only a newer version from
    the source can fix it, so its personal data has no reason to stay."""
    return kind == "failed" or (kind == "rejected" and code in RESENDABLE_CODES)


class JournalError(Exception):
    """The journal cannot be opened or used; the message names the config field."""


@dataclass(frozen=True)
class QueueItem:
    """One retry-queue row; `payload` is the original source record."""

    id: int
    stream: str
    record_key: str
    record_version: str | None
    payload: dict[str, Any]
    reason: str
    code: str
    kind: str
    status: str
    attempts: int
    first_failed_at: str
    last_failed_at: str
    run_id: str | None
    next_attempt_at: str | None = None
    waiting_for: str | None = None


class Journal(Protocol):
    redact_pii: bool
    queue_policy: QueuePolicy

    def start_run(self, run_id: str, meta: Mapping[str, Any]) -> None: ...

    def end_run(self, run_id: str, status: str, stats: Mapping[str, Any]) -> None: ...

    def run_stats(self, run_id: str) -> dict[str, Any] | None: ...

    def log_call(self, run_id: str, call: CallRecord) -> None: ...

    def log_calls(self, run_id: str, calls: Iterable[CallRecord]) -> None: ...

    def enqueue(
        self,
        run_id: str,
        stream: str,
        record_key: str,
        record_version: str | None,
        payload: Mapping[str, Any],
        reason: str,
        code: str,
        kind: str,
        *,
        waiting_for: str | None = None,
    ) -> int: ...

    def due(
        self, stream: str | None = None, now: str | None = None, *, woken_only: bool = False
    ) -> list[QueueItem]: ...

    def wake(self, keys: Iterable[str]) -> int: ...

    def park_expired(self, now: str | None = None) -> int: ...

    def queue_counts(self) -> dict[str, int]: ...

    def pending(self, stream: str | None = None, limit: int | None = None) -> list[QueueItem]: ...

    def pending_keys(self, stream: str) -> dict[str, str | None]: ...

    def mark(self, item_id: int, status: str, reason: str | None = None) -> None: ...

    def supersede_older(self, stream: str, record_key: str, version: str | None) -> int: ...

    def add_review(
        self,
        run_id: str,
        kind: str,
        external_id: str | None,
        existing_id: str | None,
        detail: Any,
    ) -> None: ...

    def remember_identities(self, pairs: Mapping[str, str]) -> None: ...

    def identity(self, customer_id: str) -> str | None: ...

    def digests(self, external_ids: Iterable[str]) -> dict[str, str]: ...

    def remember_digests(self, pairs: Mapping[str, str]) -> None: ...

    def forget_customer(
        self, customer_id: str, external_id: str | None, how: str
    ) -> dict[str, int]: ...

    def prune(self, retention_days: int) -> dict[str, int]: ...

    # --- commerce memory (`commerce.CommerceTables`): carts, orders, payments, stores ------

    def carts(self, cart_ids: Iterable[str]) -> dict[str, CartRow]: ...

    def save_carts(self, rows: Iterable[CartRow]) -> None: ...

    def idle_carts(self, last_modified_before: str, limit: int | None = None) -> list[CartRow]: ...

    def record_orders(self, facts: Mapping[str, Iterable[OrderFact]]) -> None: ...

    def orders_of(self, contact_keys: Iterable[str]) -> dict[str, list[OrderFact]]: ...

    def written_events(self, order_ids: Iterable[str]) -> set[str]: ...

    def remember_events(self, events: Iterable[tuple[str, str, str | None]]) -> None: ...

    def payment_facts(self, payment_ids: Iterable[str]) -> dict[str, PaymentFact]: ...

    def save_payment_facts(self, facts: Iterable[PaymentFact]) -> None: ...

    def link_payments(self, orders: Iterable[OrderPayments]) -> None: ...

    def orders_paid_by(self, payment_ids: Iterable[str]) -> list[OrderPayments]: ...

    def memberships(self, contact_keys: Iterable[str]) -> dict[str, Any]: ...

    def remember_memberships(self, memberships: Mapping[str, Any]) -> None: ...

    def store_languages(self, store_keys: Iterable[str] | None = None) -> dict[str, list[str]]: ...

    def remember_store_languages(self, languages: Mapping[str, Iterable[str]]) -> None: ...

    def forget_contact_commerce(self, contact_keys: Iterable[str]) -> int: ...

    def query(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]: ...

    def close(self) -> None: ...
