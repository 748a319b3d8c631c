"""The journal: runs, sync log, retry queue and review items (SQLite or PostgreSQL).

`open_journal({"type": "sqlite", "path": …} | {"type": "postgres", "dsn": …})`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from destination_crmone.journal.base import (
    FAILED_AGAIN,
    PARKED,
    PENDING,
    RESOLVED,
    SENT,
    SUPERSEDED,
    Journal,
    JournalError,
    LedgerRow,
    QueueItem,
    QueuePolicy,
    keeps_payload,
)
from destination_crmone.journal.redact import redact


def hide_password(text: str, dsn: str = "") -> str:
    """A DSN (or a message quoting one) with its password replaced by `***`.

    Every reading of the password is hidden: libpq's (up to the first `@`), the URL's
    userinfo up to the *last* `@` (an unencoded `@` in a password puts its tail into libpq's
    host name, which connection errors quote), and each `@`-separated piece of it.
    """
    for password in sorted(_dsn_passwords(dsn), key=len, reverse=True) if dsn else ():
        text = text.replace(password, "***")
    text = re.sub(r"(://[^:/@\s]*:)\S*@", r"\1***@", text)
    return re.sub(r"(password\s*=\s*)('[^']*'|\S+)", r"\1***", text, flags=re.I)


def _dsn_passwords(dsn: str) -> set[str]:
    found: set[str] = set()
    try:
        from psycopg.conninfo import conninfo_to_dict

        password = conninfo_to_dict(dsn).get("password")
        if password:
            found.add(str(password))
    except Exception:
        pass
    userinfo = re.match(r"[a-z]+://[^:/@\s]*:(\S*)@", dsn)
    if userinfo:
        raw = userinfo.group(1)
        found |= {raw, *re.split(r"[@/:]", raw)}
    # Shorter strings would blank out ordinary words; the patterns above cover where they sit.
    return {password for password in found if len(password) >= 3}


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
        try:
            return PostgresJournal(dsn, redact_pii=redact_pii)
        except Exception as error:  # psycopg.Error, JournalError
            shown = hide_password(dsn, dsn)
            reason = hide_password(str(error).strip(), dsn)
            raise JournalError(
                f"journal.dsn: cannot open the PostgreSQL journal {shown}: {reason}"
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
    "LedgerRow",
    "QueueItem",
    "QueuePolicy",
    "hide_password",
    "keeps_payload",
    "open_journal",
    "redact",
]
