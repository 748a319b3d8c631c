"""Where a SQLite journal lives, and whether that disk outlives the container.

The retry queue and the sync log are only useful if they survive the run. Inside a container
the journal's file may sit on

- the container's own filesystem (the overlay mounted at `/`): gone when the container is
  removed, and with it every rejected record's reason;
- an `emptyDir` volume of a Kubernetes pod (its mount source or root contains
  `kubernetes.io~empty-dir`): gone with the pod;
- a `tmpfs`: gone at once;
- anything else (a bind mount, a PersistentVolumeClaim, a laptop's disk): kept.

`/proc/self/mountinfo` tells which (man 5 proc: `id parent major:minor root mount_point
options [optional…] - fstype source super_options`). Inside a Kubernetes pod
(`KUBERNETES_SERVICE_HOST` is set — every current Airbyte deployment, `abctl` included) an
ephemeral journal is an error unless the user accepts it (`journal.allow_ephemeral`); elsewhere
(docker-compose, a laptop) it is a warning.

The default path of a SQLite journal is decided here too (`journal_path`), so the config
module stays a contract that probes no disk.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from destination_crmone.config import DestinationConfig, SqliteJournalConfig

LOCAL_MOUNT = Path("/local")
MOUNTINFO = "/proc/self/mountinfo"
OVERLAY_TYPES = frozenset({"overlay", "aufs", "fuse-overlayfs"})


@dataclass(frozen=True)
class Mount:
    mount_point: str
    root: str
    fstype: str
    source: str


@dataclass(frozen=True)
class Placement:
    """What `check` and `write` say about the journal's disk: an error, a warning, or nothing."""

    problem: str | None = None
    warning: str | None = None


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal (`\\040`)."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def parse_mountinfo(text: str) -> list[Mount]:
    mounts = []
    for line in text.splitlines():
        fields = line.split()
        if "-" not in fields:
            continue
        dash = fields.index("-")
        if dash < 5 or len(fields) < dash + 3:
            continue
        mounts.append(
            Mount(
                mount_point=_unescape(fields[4]),
                root=_unescape(fields[3]),
                fstype=fields[dash + 1],
                source=_unescape(fields[dash + 2]),
            )
        )
    return mounts


def read_mounts(path: str = MOUNTINFO) -> list[Mount] | None:
    try:
        return parse_mountinfo(Path(path).read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return None  # not Linux, or no /proc: nothing to tell


def mount_of(path: str, mounts: list[Mount]) -> Mount | None:
    """The mount holding `path` (the last-mounted of the longest matching mount point)."""
    target = os.path.abspath(path)
    best: Mount | None = None
    for mount in mounts:
        point = mount.mount_point.rstrip("/") or "/"
        inside = target == point or target.startswith(point if point == "/" else point + "/")
        if inside and (best is None or len(point) >= len(best.mount_point.rstrip("/") or "/")):
            best = mount
    return best


def is_mount_point(path: str, mounts: list[Mount] | None = None) -> bool:
    """True when `path` itself is a mount point (e.g. Airbyte's `/local` bind mount)."""
    found = read_mounts() if mounts is None else mounts
    target = os.path.abspath(path).rstrip("/") or "/"
    return bool(found) and any((m.mount_point.rstrip("/") or "/") == target for m in found)


def disk_kind(mount: Mount | None) -> str | None:
    """`container`, `emptyDir`, `tmpfs`, or None for a disk that outlives the container."""
    if mount is None:
        return None
    if "kubernetes.io~empty-dir" in mount.root or "kubernetes.io~empty-dir" in mount.source:
        return "emptyDir"
    if mount.fstype == "tmpfs":
        return "tmpfs"
    if (mount.mount_point.rstrip("/") or "/") == "/" and mount.fstype in OVERLAY_TYPES:
        return "container"
    return None


DISK_WORDS = {
    "container": "the container's own filesystem",
    "emptyDir": "an emptyDir volume",
    "tmpfs": "a tmpfs (memory) filesystem",
}


def check_journal_path(
    path: str,
    *,
    allow_ephemeral: bool = False,
    environ: Mapping[str, str] | None = None,
    mounts: list[Mount] | None = None,
) -> Placement:
    """An error (Kubernetes), a warning (elsewhere) or nothing for a SQLite journal at `path`."""
    environ = os.environ if environ is None else environ
    mounts = read_mounts() if mounts is None else mounts
    if not mounts:
        return Placement()
    kind = disk_kind(mount_of(path, mounts))
    if kind is None:
        return Placement()
    where = f"journal.path: {path} is on {DISK_WORDS[kind]}"
    if environ.get("KUBERNETES_SERVICE_HOST"):
        if allow_ephemeral:
            return Placement(
                warning=f"{where}, deleted with the pod: the retry queue and sync log will not "
                "survive it (accepted by journal.allow_ephemeral)."
            )
        return Placement(
            problem=f"{where}, which is deleted with the pod: the retry queue (records CRM One "
            "rejected, with their reasons) and the sync log would be lost after every sync. "
            "Fix: mount a persistent volume (a PersistentVolumeClaim) at the journal's "
            "directory, or use the PostgreSQL journal (journal.type postgres); or set "
            "journal.allow_ephemeral to true to accept losing them."
        )
    return Placement(
        warning=f"{where}: it is lost when the container is removed. Mount a volume there "
        "(docker-compose: a named volume or a bind mount) or use the PostgreSQL journal."
    )


def default_journal_path() -> str:
    """`/local/crmone/journal.db` when `/local` is a real mount (Airbyte's old local-file
    mount), else the user data directory. A `/local` that is only a directory of the image
    would vanish with the container (docs/destination-crmone.md, "Where the journal lives")."""
    if LOCAL_MOUNT.is_dir() and is_mount_point(str(LOCAL_MOUNT)):
        return str(LOCAL_MOUNT / "crmone" / "journal.db")
    return str(Path(platformdirs.user_data_dir("destination-crmone")) / "journal.db")


def journal_path(journal: SqliteJournalConfig) -> str:
    """The file of a SQLite journal: the configured path, else `default_journal_path`."""
    return journal.path or default_journal_path()


def journal_spec(config: DestinationConfig) -> dict[str, Any]:
    """The `open_journal` spec of a config: the path decided, the DSN's secret revealed."""
    spec = config.journal.model_dump()
    if isinstance(config.journal, SqliteJournalConfig):
        spec["path"] = journal_path(config.journal)
    else:
        spec["dsn"] = config.journal.dsn.get_secret_value()
    return spec


def journal_placement(config: DestinationConfig) -> Placement:
    """`check_journal_path` for a parsed config (PostgreSQL: nothing to say)."""
    journal = config.journal
    if not isinstance(journal, SqliteJournalConfig):
        return Placement()
    return check_journal_path(journal_path(journal), allow_ephemeral=journal.allow_ephemeral)
