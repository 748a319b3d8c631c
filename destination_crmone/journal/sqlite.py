"""The default journal: one SQLite file in WAL mode (stdlib sqlite3)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from destination_crmone.journal.sql import SqlJournal


class SqliteJournal(SqlJournal):
    def __init__(self, path: str, *, redact_pii: bool = True) -> None:
        file = Path(path).expanduser()
        file.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(str(file), check_same_thread=False, timeout=30)
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL: a commit survives a crash of this process; an OS crash may lose
            # the last commits but never corrupts the file.
            connection.execute("PRAGMA synchronous=NORMAL")
            super().__init__(connection, redact_pii=redact_pii)
        except Exception:
            connection.close()
            raise
        self.path = str(file)
