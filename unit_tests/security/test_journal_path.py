"""Issue #17, finding 3: `journal.path` changes the mode of nothing it does not own.

A directory, a device-like FIFO, a symbolic link or another user's file at `journal.path` is a
config error naming `journal.path`, and its mode (and its target's) stays as it was; `..` is
resolved before anything is created, so no existing ancestor is ever chmodded. The modes of
everything around are compared before and after."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from destination_crmone.destination import DestinationCrmOne
from destination_crmone.journal import JournalError, open_journal

pytestmark = pytest.mark.security


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def modes(root: Path) -> dict[str, int]:
    """The mode of `root` and of everything under it (links not followed)."""
    found = {".": stat.S_IMODE(os.lstat(root).st_mode)}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = stat.S_IMODE(os.lstat(path).st_mode)
    return found


def refused(path: Path) -> str:
    with pytest.raises(JournalError) as raised:
        open_journal({"type": "sqlite", "path": str(path)})
    message = str(raised.value)
    assert message.startswith("journal.path: ")
    return message


def shared(tmp_path: Path) -> Path:
    """A world-readable directory holding a world-readable file (what a user may point at)."""
    root = tmp_path / "shared"
    root.mkdir()
    os.chmod(root, 0o755)
    (root / "notes.txt").write_text("mine")
    os.chmod(root / "notes.txt", 0o644)
    return root


def test_a_directory_at_journal_path_is_refused_and_unchanged(tmp_path: Path) -> None:
    root = shared(tmp_path)
    before = modes(root)
    assert "is a directory" in refused(root)
    assert modes(root) == before


def test_a_fifo_at_journal_path_is_refused_without_blocking(tmp_path: Path) -> None:
    root = shared(tmp_path)
    fifo = root / "journal.db"
    os.mkfifo(fifo, 0o644)
    before = modes(root)
    assert "not a regular file" in refused(fifo)
    assert modes(root) == before and stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_symlink_at_journal_path_is_refused_and_its_target_unchanged(tmp_path: Path) -> None:
    root = shared(tmp_path)
    link = root / "journal.db"
    link.symlink_to(root / "notes.txt")
    before = modes(root)
    assert "symbolic link" in refused(link)
    assert modes(root) == before
    assert (root / "notes.txt").read_text() == "mine"


def test_a_symlink_to_a_device_is_refused(tmp_path: Path) -> None:
    link = tmp_path / "journal.db"
    link.symlink_to("/dev/null")
    before = stat.S_IMODE(os.stat("/dev/null").st_mode)
    assert "symbolic link" in refused(link)
    assert stat.S_IMODE(os.stat("/dev/null").st_mode) == before


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another uid needs root")
def test_another_users_file_is_refused_and_unchanged(tmp_path: Path) -> None:
    root = shared(tmp_path)
    foreign = root / "journal.db"
    foreign.write_bytes(b"")
    os.chmod(foreign, 0o644)
    os.chown(foreign, 4242, 4242)
    before = modes(root)
    assert "another user" in refused(foreign)
    assert modes(root) == before and os.lstat(foreign).st_uid == 4242


def test_dot_dot_is_resolved_before_anything_is_created(tmp_path: Path) -> None:
    root = shared(tmp_path)
    before = modes(root)
    path = root / "new" / ".." / "journal.db"  # names root/journal.db
    open_journal({"type": "sqlite", "path": str(path)}).close()
    after = modes(root)
    assert not (root / "new").exists()  # never created on the way
    assert {k: v for k, v in after.items() if k in before} == before  # root itself: 0755
    assert after["journal.db"] == 0o600


def test_missing_directories_are_created_private_existing_ones_untouched(tmp_path: Path) -> None:
    root = shared(tmp_path)
    before = modes(root)
    path = root / "a" / "b" / ".." / "c" / "journal.db"
    open_journal({"type": "sqlite", "path": str(path)}).close()
    after = modes(root)
    assert after["a"] == after["a/c"] == 0o700 and "a/b" not in after
    assert after["a/c/journal.db"] == 0o600
    assert {k: v for k, v in after.items() if k in before} == before


def test_an_existing_journal_of_ours_is_still_narrowed(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    open_journal({"type": "sqlite", "path": str(path)}).close()
    os.chmod(path, 0o644)
    open_journal({"type": "sqlite", "path": str(path)}).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_check_reports_the_path_as_a_config_problem(tmp_path: Path) -> None:
    config = {
        "base_url": "http://127.0.0.1:9",
        "client_id": "cid",
        "client_secret": "cs",
        "journal": {"type": "sqlite", "path": str(tmp_path)},
    }
    status = DestinationCrmOne().check(logging.getLogger("airbyte"), config)
    assert status.status.name == "FAILED"
    assert "journal.path" in (status.message or "") and "is a directory" in status.message
