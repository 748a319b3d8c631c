"""The PostgreSQL journal, for teams that already run one (psycopg 3).

The DSN may name a schema: `postgresql://…/db?options=-csearch_path%3Dcrmone`.
"""

from __future__ import annotations

import psycopg

from destination_crmone.journal.sql import SqlJournal


class PostgresJournal(SqlJournal):
    marker = "%s"
    serial = "BIGSERIAL PRIMARY KEY"

    def __init__(self, dsn: str, *, redact_pii: bool = True) -> None:
        connection = psycopg.connect(dsn, connect_timeout=10)
        try:
            super().__init__(connection, redact_pii=redact_pii)
        except Exception:
            connection.close()
            raise
