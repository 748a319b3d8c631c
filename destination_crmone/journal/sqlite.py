"""The default journal: one SQLite file (WAL), durable on every write."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from destination_crmone.journal.base import Journal


class SqliteJournal(Journal):
    def __init__(self, path: str, *, redact_pii: bool = True) -> None:
        Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(
            str(Path(path).expanduser()), check_same_thread=False, timeout=30
        )
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        super().__init__(connection, redact_pii=redact_pii)
