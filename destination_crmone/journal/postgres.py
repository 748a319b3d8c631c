"""The PostgreSQL journal, for teams that already run one (psycopg 3).

The DSN may name a schema: `postgresql://…/db?options=-csearch_path%3Dcrmone`.

A server restart (or a failover) drops the connection. Every journal operation is one
transaction; when the connection is lost, the operation reconnects with backoff and runs
again (about 30 s in all). An operation that still fails raises `JournalError`, which fails the
sync as transient: a journal row is never silently lost. Running an operation again after a
commit whose answer was lost can at worst repeat a sync-log row; a retry-queue write finds its
own row and counts one more attempt.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Callable
from typing import Any

import psycopg

from destination_crmone.journal import hide_password
from destination_crmone.journal.base import JournalError
from destination_crmone.journal.commerce import CommerceTables
from destination_crmone.journal.sql import SqlJournal

logger = logging.getLogger("airbyte")

RECONNECT_DELAYS = (0.2, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0)
LOST = (psycopg.OperationalError, psycopg.InterfaceError)


class PostgresJournal(SqlJournal):
    marker = "%s"
    serial = "BIGSERIAL PRIMARY KEY"
    reconnect_delays: tuple[float, ...] = RECONNECT_DELAYS

    def __init__(self, dsn: str, *, redact_pii: bool = True) -> None:
        self._dsn = dsn
        connection = psycopg.connect(dsn, connect_timeout=10)
        try:
            super().__init__(connection, redact_pii=redact_pii)
        except Exception:
            connection.close()
            raise

    def _reconnecting(self, operation: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        last: Exception | None = None
        for delay in (0.0, *self.reconnect_delays):
            if delay:
                time.sleep(delay)
            with self._lock:
                try:
                    if self.connection.closed or self.connection.broken:
                        self.connection = psycopg.connect(self._dsn, connect_timeout=10)
                        logger.info("The PostgreSQL journal reconnected.")
                    return operation(self, *args, **kwargs)
                except LOST as error:
                    last = error
                    with contextlib.suppress(Exception):  # already gone
                        self.connection.close()  # marks it closed: the next try reconnects
        raise JournalError(
            "the PostgreSQL journal is unreachable "
            f"(tried for {sum(self.reconnect_delays):.0f} s): "
            + hide_password(str(last).strip(), self._dsn)
        ) from None

    def _purge_erased(self, at_end: bool) -> None:
        """PostgreSQL keeps a deleted or updated row's old version in its table's pages until
        VACUUM reclaims it. At the end of a run that erased someone, `VACUUM` each table the
        erase touched (outside a transaction, as VACUUM must be); a role that may not is told
        what to run. VACUUM FULL (which rewrites the files) and the WAL archive are the
        operator's: docs/destination-crmone.md, "Privacy"."""
        if not at_end:
            return
        tables = sorted(self._erased_tables)
        with self._lock:
            try:
                self.connection.commit()
                self.connection.autocommit = True
                for table in tables:
                    self.connection.execute(f"VACUUM {table}")
            except psycopg.Error as error:
                logger.warning(
                    "The PostgreSQL journal could not VACUUM the tables an erase touched (%s): "
                    "%s. Run VACUUM on them (VACUUM FULL to rewrite their files).",
                    ", ".join(tables),
                    hide_password(str(error).strip(), self._dsn),
                )
            finally:
                with contextlib.suppress(psycopg.Error):
                    self.connection.autocommit = False
        super()._purge_erased(at_end)


def _reconnecting(operation: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(operation)
    def wrapper(self: PostgresJournal, *args: Any, **kwargs: Any) -> Any:
        return self._reconnecting(operation, *args, **kwargs)

    return wrapper


# Every public operation of the journal (those added later and the mixed-in commerce tables
# included) reconnects.
for _name, _operation in list({**vars(CommerceTables), **vars(SqlJournal)}.items()):
    if not _name.startswith("_") and _name != "close" and callable(_operation):
        setattr(PostgresJournal, _name, _reconnecting(_operation))
