"""What a journal is: runs, the sync log, the retry queue and review items.

`Journal` is the protocol the destination codes against; `sql.SqlJournal` implements it once
for both backends (`sqlite.SqliteJournal`, `postgres.PostgresJournal`).

Retry-queue statuses:
- `pending`: re-sent first by the next run;
- `sent`: re-sent and written;
- `superseded`: a newer version of the same record arrived, so this one is never re-sent;
- `failed_again`: given up (a caller's decision); kept for people to read, not re-sent.
Kinds: `rejected` (refused by validation or by CRM One for that record), `failed` (the call
still failed after the client's retries), `partial` (written without invalid optional values).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from destination_crmone.calllog import CallRecord

PENDING, SENT, SUPERSEDED, FAILED_AGAIN = "pending", "sent", "superseded", "failed_again"
QUEUE_STATUSES = frozenset({PENDING, SENT, SUPERSEDED, FAILED_AGAIN})


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


class Journal(Protocol):
    redact_pii: bool

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
    ) -> int: ...

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

    def prune(self, retention_days: int) -> dict[str, int]: ...

    def query(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]: ...

    def close(self) -> None: ...
