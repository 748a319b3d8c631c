"""The PostgreSQL journal, for teams that already run one (psycopg 3)."""

from __future__ import annotations

import psycopg

from destination_crmone.journal.base import Journal


class PostgresJournal(Journal):
    marker = "%s"
    serial = "BIGSERIAL PRIMARY KEY"

    def __init__(self, dsn: str, *, redact_pii: bool = True) -> None:
        super().__init__(psycopg.connect(dsn, connect_timeout=10), redact_pii=redact_pii)
