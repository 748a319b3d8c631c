"""The default journal: one SQLite file in WAL mode (stdlib sqlite3), readable by its owner
only (directories it creates 0700, the file and its -wal/-shm 0600)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from connectors_common.files import NotOurs, private_dir, private_file
from destination_crmone.journal.sql import SqlJournal


def journal_file(path: str) -> Path:
    """The journal's file, ours: its directory resolved (`..`, links) and created `0700` where
    missing, the file created `0600` or accepted only as a regular file of this user
    (`connectors_common.files`); `NotOurs` for anything else at the path."""
    given = Path(path).expanduser()
    if given.name in ("", ".", ".."):
        raise NotOurs("is a directory; give the path of a file inside it (e.g. …/journal.db)")
    file = private_dir(given.parent) / given.name
    private_file(file)  # SQLite gives -wal and -shm the mode of the database file
    for companion in (f"{file}-wal", f"{file}-shm"):  # of a journal made before
        if os.path.lexists(companion):
            private_file(companion)
    return file


class SqliteJournal(SqlJournal):
    def __init__(self, path: str, *, redact_pii: bool = True) -> None:
        file = journal_file(path)
        connection = sqlite3.connect(str(file), check_same_thread=False, timeout=30)
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL: a commit survives a crash of this process; an OS crash may lose
            # the last commits but never corrupts the file.
            connection.execute("PRAGMA synchronous=NORMAL")
            # Deleted or rewritten content is overwritten with zeros, whatever the default of
            # the platform's SQLite build: an erased person's values leave the file's pages.
            connection.execute("PRAGMA secure_delete=ON")
            super().__init__(connection, redact_pii=redact_pii)
        except Exception:
            connection.close()
            raise
        self.path = str(file)

    def _purge_erased(self, at_end: bool) -> None:
        """After an erase: the write-ahead log still holds earlier images of the pages that
        carried the erased values. A TRUNCATE checkpoint copies the zeroed pages into the
        database and empties the log file."""
        with self._lock:
            self.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        super()._purge_erased(at_end)
