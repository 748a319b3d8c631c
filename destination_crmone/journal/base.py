"""The journal: runs, the sync log, the retry queue and review items, in one SQL schema.

Both backends (SQLite, PostgreSQL) share these statements; they differ only in how a
connection is opened, the parameter marker and the auto-increment column type.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from destination_crmone.client import CallRecord
from destination_crmone.timefmt import format_rfc3339

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
  run_id TEXT PRIMARY KEY, started_at TEXT NOT NULL, ended_at TEXT, status TEXT NOT NULL,
  stats TEXT, meta TEXT);
CREATE TABLE IF NOT EXISTS sync_log (
  id {serial}, run_id TEXT, method TEXT NOT NULL, path TEXT NOT NULL, status INTEGER,
  started_at TEXT NOT NULL, ended_at TEXT NOT NULL, attempt INTEGER NOT NULL,
  correlation_id TEXT NOT NULL, request_id TEXT, idempotency_key TEXT,
  request_body TEXT, response_body TEXT, error TEXT);
CREATE INDEX IF NOT EXISTS sync_log_run ON sync_log (run_id);
CREATE TABLE IF NOT EXISTS retry_queue (
  id {serial}, stream TEXT NOT NULL, record_key TEXT NOT NULL, record_version TEXT,
  payload TEXT NOT NULL, reason TEXT NOT NULL, code TEXT NOT NULL, kind TEXT NOT NULL,
  status TEXT NOT NULL, attempts INTEGER NOT NULL, first_failed_at TEXT NOT NULL,
  last_failed_at TEXT NOT NULL, run_id TEXT);
CREATE INDEX IF NOT EXISTS retry_queue_key ON retry_queue (stream, record_key, status);
CREATE TABLE IF NOT EXISTS review (
  id {serial}, run_id TEXT, kind TEXT NOT NULL, external_id TEXT, existing_id TEXT,
  detail TEXT, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS identities (
  customer_id TEXT PRIMARY KEY, external_id TEXT NOT NULL);
"""

PII_KEYS = frozenset(
    {
        "email",
        "first_name",
        "last_name",
        "phone",
        "mobile_phone",
        "street",
        "postal_code",
        "city",
        "birth_date",
        "vat_id",
        "contact_email",
        "customerEmail",
        "firstName",
        "lastName",
        "streetName",
        "streetNumber",
        "postalCode",
        "mobile",
        "dateOfBirth",
        "vatId",
    }
)
REDACTED = "[redacted]"


def redact(value: Any) -> Any:
    """The same JSON with personal values replaced; keys and structure kept."""
    if isinstance(value, dict):
        return {
            k: REDACTED if k in PII_KEYS and v not in (None, "") else redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def now_text() -> str:
    return format_rfc3339(datetime.now(UTC))


def dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, default=str, separators=(",", ":"))


@dataclass(frozen=True)
class QueueItem:
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


class Journal:
    """SQL shared by both backends; subclasses open the connection."""

    marker = "?"
    serial = "INTEGER PRIMARY KEY AUTOINCREMENT"

    def __init__(self, connection: Any, *, redact_pii: bool = True) -> None:
        self.connection = connection
        self.redact_pii = redact_pii
        self.lock = threading.RLock()
        for statement in SCHEMA.format(serial=self.serial).split(";"):
            if statement.strip():
                self._execute(statement)
        self.connection.commit()

    # --- plumbing ------------------------------------------------------------------

    def _sql(self, statement: str) -> str:
        return statement.replace("?", self.marker)

    def _execute(self, statement: str, params: tuple = ()) -> Any:
        cursor = self.connection.cursor()
        cursor.execute(self._sql(statement), params)
        return cursor

    def _write(self, statement: str, params: tuple = ()) -> None:
        with self.lock:
            self._execute(statement, params)
            self.connection.commit()

    def query(self, statement: str, params: tuple = ()) -> list[tuple]:
        with self.lock:
            rows = self._execute(statement, params).fetchall()
            self.connection.commit()
            return rows

    def close(self) -> None:
        with self.lock:
            self.connection.close()

    # --- runs ----------------------------------------------------------------------

    def start_run(self, run_id: str, meta: dict[str, Any]) -> None:
        self._write(
            "INSERT INTO runs (run_id, started_at, status, meta) VALUES (?, ?, ?, ?)",
            (run_id, now_text(), "running", dumps(meta)),
        )

    def end_run(self, run_id: str, status: str, stats: dict[str, Any]) -> None:
        self._write(
            "UPDATE runs SET ended_at = ?, status = ?, stats = ? WHERE run_id = ?",
            (now_text(), status, dumps(stats), run_id),
        )

    def run_stats(self, run_id: str) -> dict[str, Any] | None:
        rows = self.query("SELECT stats FROM runs WHERE run_id = ?", (run_id,))
        return json.loads(rows[0][0]) if rows and rows[0][0] else None

    # --- sync log ------------------------------------------------------------------

    def log_call(self, run_id: str, call: CallRecord) -> None:
        request, response = call.request_body, call.response_body
        if self.redact_pii:
            request, response = redact(request), redact(response)
        self._write(
            "INSERT INTO sync_log (run_id, method, path, status, started_at, ended_at, attempt,"
            " correlation_id, request_id, idempotency_key, request_body, response_body, error)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                run_id,
                call.method,
                call.path,
                call.status,
                call.started_at,
                call.ended_at,
                call.attempt,
                call.correlation_id,
                call.request_id,
                call.idempotency_key,
                dumps(request),
                dumps(response),
                call.error,
            ),
        )

    # --- retry queue ---------------------------------------------------------------

    def enqueue(
        self,
        run_id: str,
        stream: str,
        record_key: str,
        record_version: str | None,
        payload: dict[str, Any],
        reason: str,
        code: str,
        kind: str,
    ) -> None:
        """Queue a record; an older pending version of it is superseded, the same one updated."""
        stamp = now_text()
        with self.lock:
            rows = self._execute(
                "SELECT id, record_version FROM retry_queue WHERE stream = ? AND record_key = ?"
                " AND status = 'pending'",
                (stream, record_key),
            ).fetchall()
            for item_id, version in rows:
                if version == record_version:
                    self._execute(
                        "UPDATE retry_queue SET attempts = attempts + 1, last_failed_at = ?,"
                        " reason = ?, code = ?, kind = ?, payload = ?, run_id = ? WHERE id = ?",
                        (stamp, reason, code, kind, dumps(payload), run_id, item_id),
                    )
                    self.connection.commit()
                    return
                self._execute(
                    "UPDATE retry_queue SET status = 'superseded' WHERE id = ?", (item_id,)
                )
            self._execute(
                "INSERT INTO retry_queue (stream, record_key, record_version, payload, reason,"
                " code, kind, status, attempts, first_failed_at, last_failed_at, run_id)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', 1, ?, ?, ?)",
                (
                    stream,
                    record_key,
                    record_version,
                    dumps(payload),
                    reason,
                    code,
                    kind,
                    stamp,
                    stamp,
                    run_id,
                ),
            )
            self.connection.commit()

    def pending(self, stream: str | None = None, limit: int | None = None) -> list[QueueItem]:
        statement = (
            "SELECT id, stream, record_key, record_version, payload, reason, code, kind,"
            " status, attempts FROM retry_queue WHERE status = 'pending'"
        )
        params: tuple = ()
        if stream:
            statement += " AND stream = ?"
            params = (stream,)
        statement += " ORDER BY id"
        if limit:
            statement += f" LIMIT {int(limit)}"
        return [
            QueueItem(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5], r[6], r[7], r[8], r[9])
            for r in self.query(statement, params)
        ]

    def mark(self, item_id: int, status: str, reason: str | None = None) -> None:
        if reason is None:
            self._write("UPDATE retry_queue SET status = ? WHERE id = ?", (status, item_id))
        else:
            self._write(
                "UPDATE retry_queue SET status = ?, reason = ? WHERE id = ?",
                (status, reason, item_id),
            )

    def supersede_older(self, stream: str, record_key: str, version: str | None) -> int:
        """A newer version of the record arrived: pending older versions are superseded."""
        with self.lock:
            rows = self._execute(
                "SELECT id, record_version FROM retry_queue WHERE stream = ? AND record_key = ?"
                " AND status = 'pending'",
                (stream, record_key),
            ).fetchall()
            older = [r[0] for r in rows if version is None or (r[1] or "") < version]
            for item_id in older:
                self._execute(
                    "UPDATE retry_queue SET status = 'superseded' WHERE id = ?", (item_id,)
                )
            self.connection.commit()
            return len(older)

    def pending_keys(self, stream: str) -> dict[str, str | None]:
        rows = self.query(
            "SELECT record_key, record_version FROM retry_queue"
            " WHERE stream = ? AND status = 'pending'",
            (stream,),
        )
        return {r[0]: r[1] for r in rows}

    # --- review and identities -----------------------------------------------------

    def add_review(
        self,
        run_id: str,
        kind: str,
        external_id: str | None,
        existing_id: str | None,
        detail: dict[str, Any],
    ) -> None:
        if self.redact_pii:
            detail = redact(detail)
        self._write(
            "INSERT INTO review (run_id, kind, external_id, existing_id, detail,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (run_id, kind, external_id, existing_id, dumps(detail), now_text()),
        )

    def remember_identities(self, pairs: dict[str, str]) -> None:
        with self.lock:
            for customer_id, external_id in pairs.items():
                self._execute("DELETE FROM identities WHERE customer_id = ?", (customer_id,))
                self._execute(
                    "INSERT INTO identities (customer_id, external_id) VALUES (?, ?)",
                    (customer_id, external_id),
                )
            self.connection.commit()

    def identity(self, customer_id: str) -> str | None:
        rows = self.query(
            "SELECT external_id FROM identities WHERE customer_id = ?", (customer_id,)
        )
        return rows[0][0] if rows else None

    def prune(self, retention_days: int) -> int:
        cutoff = format_rfc3339(datetime.now(UTC) - timedelta(days=retention_days))
        with self.lock:
            removed = self._execute("DELETE FROM sync_log WHERE started_at < ?", (cutoff,)).rowcount
            self._execute(
                "DELETE FROM retry_queue WHERE status != 'pending' AND last_failed_at < ?",
                (cutoff,),
            )
            self.connection.commit()
            return removed
