"""The journal: sync log, retry queue, runs and review items (SQLite or PostgreSQL)."""

from __future__ import annotations

import re
from typing import Any

from destination_crmone.journal.base import Journal, QueueItem, redact


class JournalError(Exception):
    """The journal cannot be opened; the message names the config field."""


def hide_password(dsn: str) -> str:
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", re.sub(r"password=\S+", "password=***", dsn))


def open_journal(spec: dict[str, Any], *, redact_pii: bool = True) -> Journal:
    kind = spec.get("type", "sqlite")
    if kind == "sqlite":
        from destination_crmone.journal.sqlite import SqliteJournal

        try:
            return SqliteJournal(spec["path"], redact_pii=redact_pii)
        except (OSError, Exception) as error:  # sqlite3.Error and file-system errors
            raise JournalError(f"journal.path: cannot open {spec.get('path')!r}: {error}") from None
    if kind == "postgres":
        from destination_crmone.journal.postgres import PostgresJournal

        dsn = spec["dsn"]
        try:
            return PostgresJournal(dsn, redact_pii=redact_pii)
        except Exception as error:
            message = hide_password(str(error)).replace(dsn, hide_password(dsn))
            raise JournalError(
                f"journal.dsn: cannot connect to {hide_password(dsn)}: {message}"
            ) from None
    raise JournalError(f"journal.type: unknown journal type {kind!r} (sqlite or postgres)")


__all__ = ["Journal", "JournalError", "QueueItem", "open_journal", "redact"]
