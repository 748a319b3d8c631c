"""The journal: runs, sync log, retry queue and review items (SQLite or PostgreSQL).

`open_journal({"type": "sqlite", "path": …} | {"type": "postgres", "dsn": …})`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from connectors_common import secrets
from connectors_common.files import NotOurs
from destination_crmone.journal.base import (
    FAILED_AGAIN,
    PARKED,
    PENDING,
    RESOLVED,
    SENT,
    SUPERSEDED,
    Journal,
    JournalError,
    QueueItem,
    QueuePolicy,
    keeps_payload,
)
from destination_crmone.journal.redact import redact

DSN_UNREADABLE = (
    "libpq cannot read this connection string: quote a value that holds a space or a quote "
    "(password='…', with \\' for a quote inside), or use a postgresql:// URL with the password "
    "percent-encoded"
)


# `password=…` in key=value text: a quoted value (with `\'` escapes), or everything up to the
# next `keyword=` (libpq refuses an unquoted space, but a message may still quote the text).
_KEYWORD_PASSWORD = re.compile(
    r"(password\s*=\s*)('(?:[^'\\]|\\.)*'?|.*?)(?=\s+[A-Za-z_]+\s*=|$)", re.I | re.S
)
_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)\S*@")


def hide_password(text: str, dsn: str = "") -> str:
    """A text (a psycopg error) without any spelling of the DSN's password: the values libpq's
    parser reads (`secrets.dsn_passwords`) by value, and whatever follows `password=` or sits
    in a URL's userinfo by pattern (for a DSN libpq cannot parse)."""
    text = secrets.scrub(text, secrets.dsn_passwords(dsn) if dsn else ())
    text = _URL_PASSWORD.sub(r"\1***@", text)
    return _KEYWORD_PASSWORD.sub(r"\1***", text)


def open_journal(spec: Mapping[str, Any], *, redact_pii: bool = True) -> Journal:
    """Open (and create, with its parent directory or schema) the configured journal."""
    kind = spec.get("type") or ("postgres" if spec.get("dsn") else "sqlite")
    if kind == "sqlite":
        from destination_crmone.journal.sqlite import SqliteJournal

        path = spec.get("path")
        if not path:
            raise JournalError("journal.path: a SQLite journal needs a file path")
        try:
            return SqliteJournal(str(path), redact_pii=redact_pii)
        except NotOurs as problem:  # a directory, device, FIFO, link or another user's file
            raise JournalError(f"journal.path: {path} {problem}") from None
        except JournalError as error:
            raise JournalError(f"journal.path: {path}: {error}") from None
        except Exception as error:  # sqlite3.Error, OSError (permissions, a directory…)
            raise JournalError(
                f"journal.path: cannot open the SQLite journal {path}: {error}"
            ) from None
    if kind == "postgres":
        from destination_crmone.journal.postgres import PostgresJournal

        dsn = str(spec.get("dsn") or "")
        if not dsn:
            raise JournalError("journal.dsn: a PostgreSQL journal needs a DSN")
        if not secrets.dsn_parts(dsn):  # libpq's own message would quote the text
            raise JournalError(f"journal.dsn: {DSN_UNREADABLE}")
        secrets.remember_dsn(dsn)
        try:
            return PostgresJournal(dsn, redact_pii=redact_pii)
        except Exception as error:  # psycopg.Error, JournalError
            reason = hide_password(str(error).strip(), dsn)
            raise JournalError(
                "journal.dsn: cannot open the PostgreSQL journal "
                f"({secrets.describe_dsn(dsn)}): {reason}"
            ) from None
    raise JournalError(f"journal.type: {kind!r} is not a journal type (sqlite or postgres)")


__all__ = [
    "FAILED_AGAIN",
    "PARKED",
    "PENDING",
    "RESOLVED",
    "SENT",
    "SUPERSEDED",
    "Journal",
    "JournalError",
    "QueueItem",
    "QueuePolicy",
    "hide_password",
    "keeps_payload",
    "open_journal",
    "redact",
]
