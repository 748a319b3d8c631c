"""Fixtures for the destination's tests: a real PostgreSQL for the journal.

`pg_dsn` is a DSN whose `search_path` is a fresh schema, one per test. The server is
`CRMONE_TEST_PG_DSN` when set, otherwise a throwaway one started from the local binaries
(`/usr/lib/postgresql/*/bin`; as root through `runuser -u postgres`). Without either the
tests are skipped, except when `CI` is set: then they fail, because CI must test PostgreSQL.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

PG_ENV = "CRMONE_TEST_PG_DSN"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL is required in CI: {reason}")
    pytest.skip(f"no PostgreSQL: {reason}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _as_postgres(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    if not shutil.which("runuser"):
        raise RuntimeError("running as root without runuser")
    return ["runuser", "-u", "postgres", "--", *argv]


class ThrowawayPostgres:
    """A PostgreSQL server of its own, from the local binaries, on a free loopback port."""

    def __init__(self) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        if not found:
            _unavailable("no /usr/lib/postgresql/*/bin/pg_ctl exists")
        self.bin_dir = Path(found[-1]).parent
        self.work = Path(tempfile.mkdtemp(prefix="crmone-pg-"))
        self.data = self.work / "data"
        self.port = _free_port()
        self.dsn = f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"

    def _pg_ctl(self, *argv: str, check: bool = True) -> None:
        subprocess.run(
            _as_postgres([str(self.bin_dir / "pg_ctl"), "-D", str(self.data), *argv]),
            check=check,
            capture_output=True,
            timeout=90,
        )

    def _options(self) -> list[str]:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.work} -c fsync=off"
        return ["-l", str(self.work / "server.log"), "-w", "-t", "60", "-o", options]

    def start(self) -> None:
        try:
            if os.geteuid() == 0:
                shutil.chown(self.work, "postgres", "postgres")
            initdb = [str(self.bin_dir / "initdb"), "-D", str(self.data)]
            subprocess.run(
                _as_postgres([*initdb, "-U", "postgres", "-A", "trust"]),
                check=True,
                capture_output=True,
                timeout=120,
            )
            self._pg_ctl(*self._options(), "start")
        except (OSError, RuntimeError, subprocess.SubprocessError, KeyError, LookupError) as error:
            shutil.rmtree(self.work, ignore_errors=True)
            detail = getattr(error, "stderr", b"") or b""
            _unavailable(f"cannot start a local server: {error} {detail.decode(errors='replace')}")

    def restart(self) -> None:
        """A real restart: every connection is cut, the server comes back on the same port."""
        self._pg_ctl(*self._options(), "-m", "fast", "restart")

    def stop(self) -> None:
        self._pg_ctl("-m", "immediate", "stop", check=False)
        shutil.rmtree(self.work, ignore_errors=True)


@contextmanager
def throwaway_postgres() -> Iterator[ThrowawayPostgres]:
    server = ThrowawayPostgres()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A DSN of a PostgreSQL server for this test session."""
    dsn = os.environ.get(PG_ENV)
    if dsn:
        yield dsn
        return
    with throwaway_postgres() as server:
        yield server.dsn


@pytest.fixture
def pg_dsn(pg_server: str) -> Iterator[str]:
    """A DSN whose tables land in a schema of their own, dropped after the test."""
    import psycopg
    from psycopg.conninfo import make_conninfo

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield make_conninfo(pg_server, options=f"-c search_path={schema}")
    finally:
        with psycopg.connect(pg_server, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
