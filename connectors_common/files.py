"""Files that hold secrets or personal data (the journal, configs, logs of a sync): readable by
their owner only — directories we create `0700`, files `0600`, whatever the umask.

Only what is ours changes mode: a path's `..` and symbolic links are resolved before anything
is created, a directory that already exists is never touched (it may be shared, like /tmp),
and an existing file is accepted only when it is a regular file owned by this user. A
directory, a device (`/dev/null`), a FIFO, a socket or a symbolic link where a file should be
is refused (`NotOurs`), as is another user's file: narrowing their mode would change what we
do not own, writing through them would put the data somewhere else.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


class NotOurs(ValueError):
    """A path where a private file should be, holding something the connector may not use."""


def resolved(path: str | os.PathLike[str]) -> Path:
    """The absolute path with `~`, `..` and the symbolic links of its existing part resolved:
    `a/new/../b` is `a/b` before `a/new` could be created (or `a` chmodded)."""
    return Path(path).expanduser().resolve(strict=False)


def private_dir(path: str | os.PathLike[str]) -> Path:
    """The directory (resolved), with every missing one on the way created `0700`. A directory
    that already exists is left as it is."""
    directory = resolved(path)
    missing = [d for d in (directory, *directory.parents) if not d.exists()]
    for created in reversed(missing):
        try:
            os.mkdir(created, PRIVATE_DIR)
        except FileExistsError:
            continue  # made meanwhile by someone else: not ours to chmod
        os.chmod(created, PRIVATE_DIR)  # mkdir's mode is filtered by the umask
    return directory


def what_is_at(info: os.stat_result) -> str | None:
    """Why a path holding this cannot be a private file of ours, or None for a regular file
    owned by this user."""
    mode = info.st_mode
    if stat.S_ISLNK(mode):
        return "is a symbolic link; give the path of the file itself"
    if stat.S_ISDIR(mode):
        return "is a directory; give the path of a file inside it (e.g. …/journal.db)"
    if not stat.S_ISREG(mode):
        return "is a device, FIFO or socket, not a regular file"
    if info.st_uid != os.geteuid():
        return f"is a file of another user (uid {info.st_uid}); it is not changed nor used"
    return None


def private_file(path: str | os.PathLike[str]) -> Path:
    """Create the file `0600` if absent; accept an existing one only if it is a regular file
    of ours (narrowed to `0600` then); `NotOurs` otherwise. Never follows a symbolic link."""
    file = Path(path)
    try:
        descriptor = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        pass
    else:
        os.fchmod(descriptor, PRIVATE_FILE)
        os.close(descriptor)
        return file
    problem = what_is_at(os.lstat(file))
    if problem:
        raise NotOurs(problem)
    # Opened without following a link and without blocking (a FIFO swapped in meanwhile), then
    # checked again through the descriptor: the mode changes on what was checked.
    descriptor = os.open(file, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        problem = what_is_at(os.fstat(descriptor))
        if problem:
            raise NotOurs(problem)
        if stat.S_IMODE(os.fstat(descriptor).st_mode) != PRIVATE_FILE:
            os.fchmod(descriptor, PRIVATE_FILE)
    finally:
        os.close(descriptor)
    return file


def private_opener(path: str, flags: int) -> int:
    """An `open(..., opener=private_opener)` that creates the file `0600`, or narrows an
    existing regular file of ours to `0600` (anything else: `NotOurs`)."""
    descriptor = os.open(path, flags | os.O_NOFOLLOW, PRIVATE_FILE)
    problem = what_is_at(os.fstat(descriptor))
    if problem:
        os.close(descriptor)
        raise NotOurs(problem)
    os.fchmod(descriptor, PRIVATE_FILE)
    return descriptor
