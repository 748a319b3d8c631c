"""Issue #11, finding 5: files holding personal data and secrets are readable by their owner
only: the SQLite journal (directory 0700; file, -wal and -shm 0600) and the demo's files."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from destination_crmone.journal import open_journal
from integration_tests.destination.airbyte_input import customer

pytestmark = pytest.mark.security


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    previous = os.umask(0o022)  # the common default: new files 0644, directories 0755
    yield
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_journal_is_private(tmp_path: Path) -> None:
    path = tmp_path / "crmone" / "state" / "journal.db"
    journal = open_journal({"type": "sqlite", "path": str(path)})
    try:
        journal.enqueue("r", "customers", "c1", None, customer(1), "x", "timeout", "failed")
        companions = [Path(f"{path}-wal"), Path(f"{path}-shm")]
        assert all(p.exists() for p in companions)
        assert [mode(p) for p in (path, *companions)] == [0o600, 0o600, 0o600]
    finally:
        journal.close()
    assert mode(path.parent) == 0o700 and mode(path.parent.parent) == 0o700


def test_an_existing_world_readable_journal_is_narrowed(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    first = open_journal({"type": "sqlite", "path": str(path)})
    first.enqueue("r", "customers", "c1", None, customer(1), "x", "timeout", "failed")
    for file in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        os.chmod(file, 0o644)
    second = open_journal({"type": "sqlite", "path": str(path)})
    try:
        assert [mode(p) for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm"))] == [0o600] * 3
    finally:
        first.close()
        second.close()
    before = mode(tmp_path)
    open_journal({"type": "sqlite", "path": str(tmp_path / "other.db")}).close()
    assert mode(tmp_path) == before  # an existing (maybe shared) directory is not changed


def test_demo_files_are_private(tmp_path: Path) -> None:
    from demo.pipeline import write_json

    config = tmp_path / ".demo" / "real" / "destination.json"
    write_json(config, {"client_secret": "s3cret"})
    write_json(config, {"client_secret": "s3cret-2"})  # rewritten: still private
    assert mode(config) == 0o600
    assert mode(config.parent) == 0o700
