"""The journal's one schema and one set of SQL statements, for SQLite and PostgreSQL.

Statements are written once with `?` markers; a backend states its marker and the type of
its auto-increment key, nothing else. Timestamps are RFC 3339 UTC text with milliseconds
(`2026-11-26T18:40:00.123Z`, sortable as text); JSON columns are text (PostgreSQL users can
cast them: `response_body::jsonb -> 'errors'`). Every write commits before it returns.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors_common import secrets
from destination_crmone.crmone.calllog import CallRecord, now_text
from destination_crmone.journal import erase
from destination_crmone.journal.base import (
    PARKED,
    PENDING,
    QUEUE_STATUSES,
    STATUS_ALIASES,
    SUPERSEDED,
    JournalError,
    LedgerRow,
    QueueItem,
    QueuePolicy,
    keeps_payload,
)
from destination_crmone.journal.commerce import COMMERCE_SCHEMA, COMMERCE_TABLES, CommerceTables
from destination_crmone.journal.redact import (
    personal_values,
    redact,
    redact_error,
    redact_path,
)
from destination_crmone.journal.snapshots import SNAPSHOT_SCHEMA, SnapshotTables
from destination_crmone.timefmt import format_rfc3339, parse_rfc3339
from destination_crmone.versions import is_newer, version_key

SCHEMA_VERSION = 3

SCHEMA = """
CREATE TABLE IF NOT EXISTS journal_schema (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
  run_id TEXT PRIMARY KEY,
  started_at TEXT NOT NULL,
  ended_at TEXT,
  status TEXT NOT NULL,
  stats TEXT,
  config_summary TEXT);
CREATE TABLE IF NOT EXISTS sync_log (
  id {serial},
  run_id TEXT,
  method TEXT NOT NULL,
  path TEXT NOT NULL,
  status INTEGER,
  started_at TEXT NOT NULL,
  ended_at TEXT NOT NULL,
  duration_ms INTEGER,
  attempt INTEGER NOT NULL,
  correlation_id TEXT NOT NULL,
  request_id TEXT,
  idempotency_key TEXT,
  request_body TEXT,
  response_body TEXT,
  error TEXT);
CREATE INDEX IF NOT EXISTS sync_log_run ON sync_log (run_id);
CREATE INDEX IF NOT EXISTS sync_log_started ON sync_log (started_at);
CREATE TABLE IF NOT EXISTS retry_queue (
  id {serial},
  stream TEXT NOT NULL,
  record_key TEXT NOT NULL,
  record_version TEXT,
  payload TEXT NOT NULL,
  reason TEXT NOT NULL,
  code TEXT NOT NULL,
  kind TEXT NOT NULL,
  status TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  first_failed_at TEXT NOT NULL,
  last_failed_at TEXT NOT NULL,
  resolved_at TEXT,
  run_id TEXT,
  next_attempt_at TEXT,
  waiting_for TEXT);
CREATE INDEX IF NOT EXISTS retry_queue_record ON retry_queue (stream, record_key, status);
CREATE INDEX IF NOT EXISTS retry_queue_status ON retry_queue (status);
CREATE TABLE IF NOT EXISTS review (
  id {serial},
  run_id TEXT,
  kind TEXT NOT NULL,
  external_id TEXT,
  existing_id TEXT,
  detail TEXT,
  created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS identities (
  customer_id TEXT PRIMARY KEY,
  external_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS contact_digests (
  external_id TEXT PRIMARY KEY,
  digest TEXT NOT NULL,
  updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS field_ledger (
  contact_key TEXT NOT NULL,
  field TEXT NOT NULL,
  sent_digest TEXT,
  sent_at TEXT,
  seen_digest TEXT NOT NULL,
  first_seen_at TEXT,
  PRIMARY KEY (contact_key, field));
CREATE TABLE IF NOT EXISTS sent_versions (
  record_key TEXT PRIMARY KEY,
  version TEXT NOT NULL,
  mapping TEXT NOT NULL,
  contact_key TEXT NOT NULL,
  sent_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS mapping_config (
  part TEXT PRIMARY KEY,
  digest TEXT NOT NULL,
  updated_at TEXT NOT NULL)
"""
# Version 3 added field_ledger, sent_versions and mapping_config (created by SCHEMA): a
# destination that does not keep them must not write to this journal any more.
# Version 1 → 2: the queue got its back-off time and dependency; statuses were renamed.
MIGRATIONS = {
    2: (
        "ALTER TABLE retry_queue ADD COLUMN next_attempt_at TEXT",
        "ALTER TABLE retry_queue ADD COLUMN waiting_for TEXT",
        "UPDATE retry_queue SET status = 'resolved' WHERE status = 'sent'",
        "UPDATE retry_queue SET status = 'parked' WHERE status = 'failed_again'",
    ),
}

INSERT_CALL = (
    "INSERT INTO sync_log (run_id, method, path, status, started_at, ended_at, duration_ms,"
    " attempt, correlation_id, request_id, idempotency_key, request_body, response_body, error)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
QUEUE_COLUMNS = (
    "id, stream, record_key, record_version, payload, reason, code, kind, status, attempts,"
    " first_failed_at, last_failed_at, run_id, next_attempt_at, waiting_for"
)
OPEN_VERSIONS = (
    "SELECT id, record_version, attempts FROM retry_queue"
    " WHERE stream = ? AND record_key = ? AND status = 'pending'"
)
SUPERSEDE = "UPDATE retry_queue SET status = 'superseded', resolved_at = ? WHERE id = ?"
# Where an erase deletes or rewrites rows.
ERASED_TABLES = (
    "retry_queue",
    "identities",
    "contact_digests",
    "sync_log",
    "review",
    "runs",
    *COMMERCE_TABLES,
)
# Keys whose values never enter a journal row, whatever the caller passes.
_SECRET_KEY = re.compile(r"secret|password|passwd|token|dsn|authorization|api_?key", re.I)


def like_patterns(values: Iterable[str]) -> list[str]:
    """`LOWER(column) LIKE … ESCAPE '!'` patterns finding each value inside text or JSON
    text, whatever its case."""
    forms = {form.lower() for value in values if value for form in (value, json.dumps(value)[1:-1])}
    escaped = (f.replace("!", "!!").replace("%", "!%").replace("_", "!_") for f in forms)
    return [f"%{form}%" for form in sorted(escaped)]


def dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, default=str, separators=(",", ":"))


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def without_secrets(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: "***" if _SECRET_KEY.search(str(k)) and v else without_secrets(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [without_secrets(v) for v in value]
    return value


class SqlJournal(CommerceTables, SnapshotTables):
    """The journal over a DB-API connection; backends set `marker` and `serial`."""

    marker = "?"
    serial = "INTEGER PRIMARY KEY AUTOINCREMENT"

    def __init__(self, connection: Any, *, redact_pii: bool = True) -> None:
        self.connection = connection
        self.redact_pii = redact_pii
        self.queue_policy = QueuePolicy()
        self._lock = threading.RLock()
        # Ids and emails of customers erased during this run: kept out of what it still writes.
        self._forgotten: list[str] = []
        self._erased_tables: set[str] = set()  # where erased rows may still have bytes on disk
        with self._lock:
            rows = self._table_versions()
            for statement in (
                ";".join((SCHEMA, COMMERCE_SCHEMA, SNAPSHOT_SCHEMA))
                .format(serial=self.serial)
                .split(";")
            ):
                if statement.strip():
                    self._execute(statement)
            if not rows:
                self._execute("INSERT INTO journal_schema (version) VALUES (?)", (SCHEMA_VERSION,))
            elif max(r[0] for r in rows) > SCHEMA_VERSION:
                raise JournalError(
                    f"this journal has schema version {max(r[0] for r in rows)}, written by a "
                    f"newer destination-crmone (this one knows version {SCHEMA_VERSION})"
                )
            else:
                self._migrate(max(r[0] for r in rows))
            self.connection.commit()

    def _table_versions(self) -> list[tuple[int]]:
        """The stored schema versions, or [] for a new journal."""
        self._execute("CREATE TABLE IF NOT EXISTS journal_schema (version INTEGER NOT NULL)")
        return self._execute("SELECT version FROM journal_schema").fetchall()

    def _migrate(self, version: int) -> None:
        for target in range(version + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS.get(target, ()):
                self._execute(statement)
            self._execute("UPDATE journal_schema SET version = ?", (target,))

    # --- plumbing ------------------------------------------------------------------------

    def _sql(self, statement: str) -> str:
        if self.marker == "?":
            return statement
        return statement.replace("%", "%%").replace("?", self.marker)

    @staticmethod
    def _params(statement: str, params: tuple[Any, ...]) -> tuple[Any, ...]:
        """What a write stores, without any secret a server echoed (`connectors_common.secrets`):
        the one point every text passes on its way into the journal."""
        if statement.lstrip()[:6].upper() == "SELECT":
            return params
        if not secrets.any_in(value for value in params if isinstance(value, str)):
            return params
        return tuple(secrets.scrub(value) if isinstance(value, str) else value for value in params)

    def _execute(self, statement: str, params: tuple[Any, ...] = ()) -> Any:
        cursor = self.connection.cursor()
        cursor.execute(self._sql(statement), self._params(statement, params))
        return cursor

    def _write(self, statement: str, params: tuple[Any, ...] = ()) -> int:
        with self._lock:
            try:
                count = self._execute(statement, params).rowcount
                self.connection.commit()
            except Exception:
                self.connection.rollback()
                raise
            return count

    def _write_many(self, statement: str, rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        with self._lock:
            try:
                texts = (value for row in rows for value in row if isinstance(value, str))
                if secrets.any_in(texts):  # one scan for the batch; most hold no secret
                    rows = [self._params(statement, row) for row in rows]
                self.connection.cursor().executemany(self._sql(statement), rows)
                self.connection.commit()
            except Exception:
                self.connection.rollback()
                raise

    def query(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows of a read-only statement written with `?` markers."""
        with self._lock:
            try:
                return self._execute(statement, params).fetchall()
            finally:
                self.connection.rollback()  # end the read transaction (PostgreSQL)

    def close(self) -> None:
        with self._lock:
            if self._erased_tables:
                self._purge_erased(at_end=True)
            self.connection.close()

    # --- runs ----------------------------------------------------------------------------

    def start_run(self, run_id: str, meta: Mapping[str, Any]) -> None:
        self._write(
            "INSERT INTO runs (run_id, started_at, status, config_summary) VALUES (?, ?, ?, ?)",
            (run_id, now_text(), "running", dumps(without_secrets(dict(meta)))),
        )

    def end_run(self, run_id: str, status: str, stats: Mapping[str, Any]) -> None:
        shown = redact(dict(stats)) if self.redact_pii else dict(stats)
        shown = erase.without(shown, self._forgotten) if self._forgotten else shown
        self._write(
            "UPDATE runs SET ended_at = ?, status = ?, stats = ? WHERE run_id = ?",
            (now_text(), status, dumps(shown), run_id),
        )
        if self._erased_tables:
            self._purge_erased(at_end=True)

    def run_stats(self, run_id: str) -> dict[str, Any] | None:
        rows = self.query("SELECT stats FROM runs WHERE run_id = ?", (run_id,))
        return loads(rows[0][0]) if rows else None

    # --- sync log ------------------------------------------------------------------------

    def _call_row(self, run_id: str, call: CallRecord) -> tuple[Any, ...]:
        path, request, response = call.path, call.request_body, call.response_body
        error = call.error
        if self.redact_pii:  # what the request sent may come back quoted in the response
            known = personal_values(request)
            path, request, response = redact_path(path), redact(request), redact(response, known)
            error = redact_error(error, known)
        if self._forgotten:
            found = self._forgotten
            path, request, response = (erase.without(v, found) for v in (path, request, response))
        return (
            run_id,
            call.method,
            path,
            call.status,
            call.started_at,
            call.ended_at,
            call.duration_ms,
            call.attempt,
            call.correlation_id,
            call.request_id,
            call.idempotency_key,
            dumps(request),
            dumps(response),
            error,
        )

    def log_call(self, run_id: str, call: CallRecord) -> None:
        self._write(INSERT_CALL, self._call_row(run_id, call))

    def log_calls(self, run_id: str, calls: Iterable[CallRecord]) -> None:
        """Many attempts in one transaction."""
        self._write_many(INSERT_CALL, [self._call_row(run_id, call) for call in calls])

    # --- retry queue ---------------------------------------------------------------------

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
    ) -> int:
        """Queue a record; returns its item id.

        A pending item of the same record with the same version is updated (attempts + 1, the
        next attempt backed off further, parked once `queue_policy.max_attempts` is reached);
        pending items with an older version become `superseded`; if a pending item is already
        newer, this one is kept as `superseded` (visible, never re-sent). An item
        `waiting_for` a dependency (e.g. `ext:ct:42`) is re-sent when `wake` names it.
        """
        version, now = version_key(record_version), datetime.now(UTC)
        stamp = format_rfc3339(now)
        with self._lock:
            try:
                queued = self._execute(OPEN_VERSIONS, (stream, record_key)).fetchall()
                for item_id, queued_version, attempts in queued:
                    if queued_version == version:
                        attempts = int(attempts) + 1
                        status = self._status_after(attempts, waiting_for)
                        self._execute(
                            "UPDATE retry_queue SET attempts = ?, last_failed_at = ?, reason = ?,"
                            " code = ?, kind = ?, payload = ?, run_id = ?, status = ?,"
                            " resolved_at = ?, next_attempt_at = ?, waiting_for = ? WHERE id = ?",
                            (
                                attempts,
                                stamp,
                                reason,
                                code,
                                kind,
                                dumps(dict(payload)),
                                run_id,
                                status,
                                stamp if status == PARKED else None,
                                self._next_attempt(now, attempts, waiting_for),
                                waiting_for,
                                item_id,
                            ),
                        )
                        self.connection.commit()
                        return int(item_id)
                newer = [v for _, v, _ in queued if is_newer(v, version)]
                for item_id, queued_version, _ in queued:
                    if is_newer(version, queued_version):
                        self._execute(SUPERSEDE, (stamp, item_id))
                status = SUPERSEDED if newer else self._status_after(1, waiting_for)
                item_id = self._execute(
                    "INSERT INTO retry_queue (stream, record_key, record_version, payload,"
                    " reason, code, kind, status, attempts, first_failed_at, last_failed_at,"
                    " resolved_at, run_id, next_attempt_at, waiting_for)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?) RETURNING id",
                    (
                        stream,
                        record_key,
                        version,
                        dumps(dict(payload)),
                        reason,
                        code,
                        kind,
                        status,
                        stamp,
                        stamp,
                        None if status == PENDING else stamp,
                        run_id,
                        self._next_attempt(now, 1, waiting_for),
                        waiting_for,
                    ),
                ).fetchone()[0]
                self.connection.commit()
                return int(item_id)
            except Exception:
                self.connection.rollback()
                raise

    def _status_after(self, attempts: int, waiting_for: str | None) -> str:
        """Attempts park an item that is retried on a clock, not one waiting for its cause."""
        if waiting_for is None and attempts >= self.queue_policy.max_attempts:
            return PARKED
        return PENDING

    def _next_attempt(self, now: datetime, attempts: int, waiting_for: str | None) -> str | None:
        if waiting_for is not None:
            return None
        return format_rfc3339(now + self.queue_policy.backoff(attempts))

    def _items(self, where: str, params: tuple[Any, ...], limit: int | None) -> list[QueueItem]:
        statement = f"SELECT {QUEUE_COLUMNS} FROM retry_queue WHERE {where} ORDER BY id"
        if limit is not None:
            statement += " LIMIT ?"
            params = (*params, int(limit))
        return [
            QueueItem(
                id=int(r[0]),
                stream=r[1],
                record_key=r[2],
                record_version=r[3],
                payload=loads(r[4]),
                reason=r[5],
                code=r[6],
                kind=r[7],
                status=r[8],
                attempts=int(r[9]),
                first_failed_at=r[10],
                last_failed_at=r[11],
                run_id=r[12],
                next_attempt_at=r[13],
                waiting_for=r[14],
            )
            for r in self.query(statement, params)
        ]

    def pending(self, stream: str | None = None, limit: int | None = None) -> list[QueueItem]:
        """Pending items (due or not), oldest first."""
        where, params = "status = 'pending'", ()
        if stream is not None:
            where, params = where + " AND stream = ?", (stream,)
        return self._items(where, params, limit)

    def due(
        self, stream: str | None = None, now: str | None = None, *, woken_only: bool = False
    ) -> list[QueueItem]:
        """Pending items to re-send now: not waiting for anything, next attempt reached
        (`woken_only`: only those `wake` made due, which have no next attempt time)."""
        where = (
            "status = 'pending' AND waiting_for IS NULL"
            " AND (next_attempt_at IS NULL OR next_attempt_at <= ?)"
        )
        if woken_only:
            where += " AND next_attempt_at IS NULL"
        params: tuple[Any, ...] = (version_key(now) or now_text(),)
        if stream is not None:
            where, params = where + " AND stream = ?", (*params, stream)
        return self._items(where, params, None)

    def wake(self, keys: Iterable[str]) -> int:
        """What these items waited for has been written: they are due now."""
        wanted = list(dict.fromkeys(keys))
        woken = 0
        with self._lock:
            try:
                for start in range(0, len(wanted), 500):
                    part = wanted[start : start + 500]
                    marks = ", ".join("?" * len(part))
                    woken += self._execute(
                        "UPDATE retry_queue SET waiting_for = NULL, next_attempt_at = NULL"
                        f" WHERE status = 'pending' AND waiting_for IN ({marks})",
                        tuple(part),
                    ).rowcount
                self.connection.commit()
                return woken
            except Exception:
                self.connection.rollback()
                raise

    def park_expired(self, now: str | None = None) -> int:
        """Park pending items first queued more than `queue_policy.max_days` ago."""
        moment = parse_rfc3339(version_key(now)) if now else datetime.now(UTC)
        cutoff = format_rfc3339(moment - timedelta(days=self.queue_policy.max_days))
        return self._write(
            "UPDATE retry_queue SET status = 'parked', resolved_at = ?"
            " WHERE status = 'pending' AND first_failed_at < ?",
            (format_rfc3339(moment), cutoff),
        )

    def queue_counts(self) -> dict[str, int]:
        """Retry-queue items per status (every status present, 0 when none)."""
        counts = dict.fromkeys(sorted(QUEUE_STATUSES), 0)
        rows = self.query("SELECT status, COUNT(*) FROM retry_queue GROUP BY status")
        counts.update({status: int(count) for status, count in rows})
        return counts

    def pending_keys(self, stream: str) -> dict[str, str | None]:
        """record_key → version of every pending item of a stream."""
        rows = self.query(
            "SELECT record_key, record_version FROM retry_queue"
            " WHERE stream = ? AND status = 'pending' ORDER BY id",
            (stream,),
        )
        return {key: version for key, version in rows}

    def mark(self, item_id: int, status: str, reason: str | None = None) -> None:
        status = STATUS_ALIASES.get(status, status)
        if status not in QUEUE_STATUSES:
            raise ValueError(f"unknown retry-queue status {status!r}")
        resolved = None if status == PENDING else now_text()
        if reason is None:
            self._write(
                "UPDATE retry_queue SET status = ?, resolved_at = ? WHERE id = ?",
                (status, resolved, item_id),
            )
        else:
            self._write(
                "UPDATE retry_queue SET status = ?, resolved_at = ?, reason = ? WHERE id = ?",
                (status, resolved, reason, item_id),
            )

    def supersede_older(self, stream: str, record_key: str, version: str | None) -> int:
        """A newer version of a record arrived: its older pending items are superseded."""
        newest, stamp = version_key(version), now_text()
        with self._lock:
            try:
                queued = self._execute(OPEN_VERSIONS, (stream, record_key)).fetchall()
                older = [item_id for item_id, v, _ in queued if is_newer(newest, v)]
                for item_id in older:
                    self._execute(SUPERSEDE, (stamp, item_id))
                self.connection.commit()
                return len(older)
            except Exception:
                self.connection.rollback()
                raise

    # --- review and identities -----------------------------------------------------------

    def add_review(
        self,
        run_id: str,
        kind: str,
        external_id: str | None,
        existing_id: str | None,
        detail: Any,
    ) -> None:
        shown = redact(detail) if self.redact_pii else detail
        self._write(
            "INSERT INTO review (run_id, kind, external_id, existing_id, detail, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (run_id, kind, external_id, existing_id, dumps(shown), now_text()),
        )

    def remember_identities(self, pairs: Mapping[str, str]) -> None:
        """customer id → contact external_id, for identities not built from the customer id."""
        if not pairs:
            return
        with self._lock:
            try:
                cursor = self.connection.cursor()
                cursor.executemany(
                    self._sql("DELETE FROM identities WHERE customer_id = ?"),
                    [(k,) for k in pairs],
                )
                cursor.executemany(
                    self._sql("INSERT INTO identities (customer_id, external_id) VALUES (?, ?)"),
                    list(pairs.items()),
                )
                self.connection.commit()
            except Exception:
                self.connection.rollback()
                raise

    def identity(self, customer_id: str) -> str | None:
        rows = self.query(
            "SELECT external_id FROM identities WHERE customer_id = ?", (customer_id,)
        )
        return rows[0][0] if rows else None

    # --- erasure -------------------------------------------------------------------------

    def forget_customer(
        self, customer_id: str, external_id: str | None, how: str
    ) -> dict[str, int]:
        """Settle what the journal holds about a customer whose CustomerDeleted was handled.

        Either way the customer leaves `customers_written` and `snapshot_ids`. `archive`:
        their pending queue items are superseded (a re-send would restore the contact).
        `erase`: their queue items are deleted (payloads and reasons), the identities row and
        review items go, and sync-log rows and run stats keep no trace of them (the objects
        naming them become `{"erased": true}`, their ids and emails "[erased]").
        Returns the number of rows touched per table.
        """
        with self._lock:
            try:
                items = self._customer_items(customer_id)
                # no longer a written customer: an id reconciliation has nothing to do for it
                self._execute(
                    "DELETE FROM customers_written WHERE customer_id = ?"
                    + (" OR external_id = ?" if external_id else ""),
                    (customer_id, external_id) if external_id else (customer_id,),
                )
                self._execute("DELETE FROM snapshot_ids WHERE record_id = ?", (customer_id,))
                if how == "archive":
                    pending = [item_id for item_id, status, _ in items if status == PENDING]
                    for item_id in pending:
                        self._execute(
                            "UPDATE retry_queue SET status = 'superseded', resolved_at = ?,"
                            " reason = ? WHERE id = ?",
                            (now_text(), "superseded: the customer was archived", item_id),
                        )
                    self.connection.commit()
                    return {"retry_queue": len(pending)}
                touched = self._erase(customer_id, external_id, items)
                self.connection.commit()
            except Exception:
                self.connection.rollback()
                raise
            self._erased(ERASED_TABLES)
            return touched

    def _rows_like(self, table: str, columns: str, searched: list[str], values: list[str]) -> list:
        patterns = like_patterns(values)
        if not patterns:
            return []
        where = " OR ".join(
            f"LOWER({column}) LIKE ? ESCAPE '!'" for column in searched for _ in patterns
        )
        params = tuple(pattern for _ in searched for pattern in patterns)
        return self._execute(f"SELECT {columns} FROM {table} WHERE {where}", params).fetchall()

    def _customer_items(self, customer_id: str) -> list[tuple[int, str, Any]]:
        """(id, status, payload) of the queue items about the customer: by id first, then
        guest rows carrying one of the emails those items hold."""
        found: dict[int, tuple[int, str, Any]] = {}
        emails: set[str] = set()
        for values in ([customer_id], None):
            if values is None:
                values = sorted(emails)
            rows = self._rows_like(
                "retry_queue", "id, record_key, status, payload", ["record_key", "payload"], values
            )
            for item_id, key, status, text in rows:
                payload = loads(text)
                if item_id not in found and erase.is_about(payload, key, customer_id, emails):
                    found[item_id] = (item_id, status, payload)
                    emails |= erase.emails_in(payload)
        return list(found.values())

    def _sync_log_rows(self, found: list[str]) -> tuple[list[tuple[Any, ...]], list[str]]:
        """Sync-log rows naming the customer, and every identifier they were found by: a
        second pass only for emails the first rows revealed (none when redact_pii is on)."""
        columns = ["path", "request_body", "response_body", "error"]
        select = "id, " + ", ".join(columns)
        rows = {row[0]: row for row in self._rows_like("sync_log", select, columns, found)}
        naming = [erase.matching(loads(row[k]), found) for row in rows.values() for k in (2, 3)]
        more = [n for n in erase.needles(erase.emails_in(naming)) if n not in found]
        if more:
            rows |= {row[0]: row for row in self._rows_like("sync_log", select, columns, more)}
        return list(rows.values()), sorted({*found, *more}, key=len, reverse=True)

    def _erase(
        self, customer_id: str, external_id: str | None, items: list[tuple[int, str, Any]]
    ) -> dict[str, int]:
        for item_id, _, _ in items:
            self._execute("DELETE FROM retry_queue WHERE id = ?", (item_id,))
        identities = self._execute(
            "DELETE FROM identities WHERE customer_id = ?", (customer_id,)
        ).rowcount
        contact_keys = {external_id} if external_id else set()
        contact_keys |= {
            row[0]
            for row in self._execute(
                "SELECT contact_key FROM sent_versions WHERE record_key = ?", (customer_id,)
            ).fetchall()
        }
        self._execute("DELETE FROM sent_versions WHERE record_key = ?", (customer_id,))
        for key in contact_keys:
            self._execute("DELETE FROM contact_digests WHERE external_id = ?", (key,))
            self._execute("DELETE FROM field_ledger WHERE contact_key = ?", (key,))
        ids = [value for value in (customer_id, external_id) if value]
        emails = set().union(*(erase.emails_in(payload) for _, _, payload in items))
        # Carts, orders, routed stores under the contact's keys: cleared here too, so an erase
        # of a contact CRM One no longer has (`deletions_not_found`) leaves none of them.
        keys = [f"ext:{external_id}"] if external_id else []
        commerce = self._delete_commerce([*keys, *(f"email:{email}" for email in sorted(emails))])
        rows, found = self._sync_log_rows(erase.needles([*ids, *emails]))
        self._forgotten = erase.needles([*self._forgotten, *found])
        for item_id, path, request, response, error in rows:
            self._execute(
                "UPDATE sync_log SET path = ?, request_body = ?, response_body = ?, error = ?"
                " WHERE id = ?",
                (
                    erase.without(path, found),
                    dumps(erase.without(loads(request), found)),
                    dumps(erase.without(loads(response), found)),
                    erase.without(error, found),
                    item_id,
                ),
            )
        reviews = [r[0] for r in self._rows_like("review", "id", ["external_id", "detail"], found)]
        for review_id in reviews:
            self._execute("DELETE FROM review WHERE id = ?", (review_id,))
        runs = self._rows_like("runs", "run_id, stats", ["stats"], found)
        for run_id, stats in runs:
            self._execute(
                "UPDATE runs SET stats = ? WHERE run_id = ?",
                (dumps(erase.without(loads(stats), found)), run_id),
            )
        return {
            "retry_queue": len(items),
            "identities": identities,
            "sync_log": len(rows),
            "review": len(reviews),
            "runs": len(runs),
            "commerce": commerce,
        }

    # --- erasure on disk -------------------------------------------------------------------

    def _erased(self, tables: Iterable[str]) -> None:
        """Rows about a person were deleted or rewritten in these tables: their old bytes must
        leave the database's files too (`_purge_erased`, per backend)."""
        self._erased_tables.update(tables)
        self._purge_erased(at_end=False)

    def _purge_erased(self, at_end: bool) -> None:
        """Backends remove what erased rows left on disk; `at_end`: the run (or the
        connection) ends, the time for work too heavy to do after each erase."""
        self._erased_tables.clear()

    # --- what was last sent per contact ---------------------------------------------------

    def digests(self, external_ids: Iterable[str]) -> dict[str, str]:
        """external_id → digest of what was last written for that contact (known ones only)."""
        wanted = list(dict.fromkeys(external_ids))
        found: dict[str, str] = {}
        for start in range(0, len(wanted), 500):
            part = wanted[start : start + 500]
            marks = ", ".join("?" * len(part))
            rows = self.query(
                f"SELECT external_id, digest FROM contact_digests WHERE external_id IN ({marks})",
                tuple(part),
            )
            found.update({external_id: digest for external_id, digest in rows})
        return found

    def remember_digests(self, pairs: Mapping[str, str]) -> None:
        """Remember what was written for these contacts (external_id → digest)."""
        if not pairs:
            return
        stamp = now_text()
        self._write_many(
            "INSERT INTO contact_digests (external_id, digest, updated_at) VALUES (?, ?, ?)"
            " ON CONFLICT (external_id) DO UPDATE SET digest = excluded.digest,"
            " updated_at = excluded.updated_at",
            [(external_id, digest, stamp) for external_id, digest in pairs.items()],
        )

    # --- the field ledger: per contact and field, what was sent and seen -------------------

    def _in_parts(self, select: str, keys: Iterable[str]) -> list[tuple[Any, ...]]:
        """Rows of `select … IN ({marks})` over the keys, 500 at a time."""
        wanted = list(dict.fromkeys(keys))
        rows: list[tuple[Any, ...]] = []
        for start in range(0, len(wanted), 500):
            part = wanted[start : start + 500]
            rows += self.query(select.format(marks=", ".join("?" * len(part))), tuple(part))
        return rows

    def ledger(self, contact_keys: Iterable[str]) -> dict[str, dict[str, LedgerRow]]:
        """contact_key → field → its ledger row (contacts without rows are absent)."""
        found: dict[str, dict[str, LedgerRow]] = {}
        select = (
            "SELECT contact_key, field, sent_digest, sent_at, seen_digest, first_seen_at"
            " FROM field_ledger WHERE contact_key IN ({marks})"
        )
        for row in self._in_parts(select, contact_keys):
            found.setdefault(row[0], {})[row[1]] = LedgerRow(*row)
        return found

    def remember_ledger(self, rows: Iterable[LedgerRow]) -> None:
        self._write_many(
            "INSERT INTO field_ledger (contact_key, field, sent_digest, sent_at, seen_digest,"
            " first_seen_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (contact_key, field) DO"
            " UPDATE SET sent_digest = excluded.sent_digest, sent_at = excluded.sent_at,"
            " seen_digest = excluded.seen_digest, first_seen_at = excluded.first_seen_at",
            [
                (r.contact_key, r.field, r.sent_digest, r.sent_at, r.seen_digest, r.first_seen_at)
                for r in rows
            ],
        )

    def sent_versions(self, record_keys: Iterable[str], mapping: str) -> dict[str, str]:
        """record_key → the newest version fully sent under this mapping (digest of the
        mapping config and tenant); records sent under another mapping are absent."""
        select = (
            "SELECT record_key, version, mapping FROM sent_versions WHERE record_key IN ({marks})"
        )
        return {key: v for key, v, used in self._in_parts(select, record_keys) if used == mapping}

    def remember_sent_versions(self, versions: Mapping[str, tuple[str, str]], mapping: str) -> None:
        """record_key → (version, contact_key) of records fully sent under `mapping`."""
        stamp = now_text()
        self._write_many(
            "INSERT INTO sent_versions (record_key, version, mapping, contact_key, sent_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (record_key) DO UPDATE SET"
            " version = excluded.version, mapping = excluded.mapping,"
            " contact_key = excluded.contact_key, sent_at = excluded.sent_at",
            [
                (key, version, mapping, contact, stamp)
                for key, (version, contact) in versions.items()
            ],
        )

    def mapping_digests(self) -> dict[str, str]:
        """part of the mapping config → its digest, as the last `write` used it."""
        return dict(self.query("SELECT part, digest FROM mapping_config"))

    def remember_mapping(self, parts: Mapping[str, str]) -> None:
        stamp = now_text()
        with self._lock:
            try:
                self._execute("DELETE FROM mapping_config")
                self.connection.cursor().executemany(
                    self._sql(
                        "INSERT INTO mapping_config (part, digest, updated_at) VALUES (?, ?, ?)"
                    ),
                    [(part, digest, stamp) for part, digest in parts.items()],
                )
                self.connection.commit()
            except Exception:
                self.connection.rollback()
                raise

    def has_written_contacts(self) -> bool:
        """Whether any contact was ever written through this journal."""
        for table in ("contact_digests", "field_ledger", "sent_versions"):
            if self.query(f"SELECT 1 FROM {table} LIMIT 1"):
                return True
        return False

    # --- retention -----------------------------------------------------------------------

    def prune(self, retention_days: int) -> dict[str, int]:
        """Delete sync-log rows and settled queue items older than `retention_days`, and end
        pending items that old which can no longer be sent (no payload: they waited for a
        newer version of their record that never came).

        Pending items that may still be sent, runs and review items are kept.
        """
        cutoff = format_rfc3339(datetime.now(UTC) - timedelta(days=retention_days))
        with self._lock:
            try:
                calls = self._execute("DELETE FROM sync_log WHERE started_at < ?", (cutoff,))
                items = self._execute(
                    "DELETE FROM retry_queue WHERE status <> 'pending'"
                    " AND COALESCE(resolved_at, last_failed_at) < ?",
                    (cutoff,),
                )
                removed = {"sync_log": calls.rowcount, "retry_queue": items.rowcount}
                stale = self._execute(
                    "SELECT id, kind, code FROM retry_queue"
                    " WHERE status = 'pending' AND last_failed_at < ?",
                    (cutoff,),
                ).fetchall()
                for item_id, kind, code in stale:
                    if not keeps_payload(kind, code):
                        self._execute("DELETE FROM retry_queue WHERE id = ?", (item_id,))
                        removed["retry_queue"] += 1
                self.connection.commit()
                return removed
            except Exception:
                self.connection.rollback()
                raise
