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


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A DSN of a PostgreSQL server for this test session."""
    dsn = os.environ.get(PG_ENV)
    if dsn:
        yield dsn
        return
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found:
        _unavailable(f"{PG_ENV} is not set and no /usr/lib/postgresql/*/bin/pg_ctl exists")
    bin_dir = Path(found[-1]).parent
    work = Path(tempfile.mkdtemp(prefix="crmone-pg-"))
    data = work / "data"
    port = _free_port()
    try:
        if os.geteuid() == 0:
            shutil.chown(work, "postgres", "postgres")
        subprocess.run(
            _as_postgres(
                [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"]
            ),
            check=True,
            capture_output=True,
            timeout=120,
        )
        subprocess.run(
            _as_postgres(
                [
                    str(bin_dir / "pg_ctl"),
                    "-D",
                    str(data),
                    "-l",
                    str(work / "server.log"),
                    "-w",
                    "-t",
                    "60",
                    "-o",
                    f"-c listen_addresses=127.0.0.1 -p {port} -k {work} -c fsync=off",
                    "start",
                ]
            ),
            check=True,
            capture_output=True,
            timeout=90,
        )
    except (OSError, RuntimeError, subprocess.SubprocessError, KeyError, LookupError) as error:
        shutil.rmtree(work, ignore_errors=True)
        detail = getattr(error, "stderr", b"") or b""
        _unavailable(f"cannot start a local server: {error} {detail.decode(errors='replace')}")
    try:
        yield f"host=127.0.0.1 port={port} user=postgres dbname=postgres"
    finally:
        subprocess.run(
            _as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
            timeout=60,
            check=False,
        )
        shutil.rmtree(work, ignore_errors=True)


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
