"""Files that hold secrets or personal data (the journal, configs, logs of a sync): readable by
their owner only — directories we create `0700`, files `0600`, whatever the umask."""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def private_dir(path: str | os.PathLike[str]) -> Path:
    """The directory, with every missing one on the way created `0700`. A directory that
    already exists is left as it is (it may be shared, like /tmp)."""
    directory = Path(path)
    missing = [d for d in (directory, *directory.parents) if not d.exists()]
    for created in reversed(missing):
        created.mkdir(mode=PRIVATE_DIR, exist_ok=True)
        os.chmod(created, PRIVATE_DIR)  # mkdir's mode is filtered by the umask
    return directory


def private_opener(path: str, flags: int) -> int:
    """An `open(..., opener=private_opener)` that creates (or narrows) the file to `0600`."""
    descriptor = os.open(path, flags, PRIVATE_FILE)
    os.fchmod(descriptor, PRIVATE_FILE)
    return descriptor


def private_file(path: str | os.PathLike[str]) -> None:
    """Create the file `0600` if absent; narrow an existing one of ours to `0600`."""
    file = Path(path)
    if not file.exists():
        os.close(os.open(file, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE))
    if file.stat().st_uid == os.geteuid():
        os.chmod(file, PRIVATE_FILE)
