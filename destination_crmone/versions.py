"""Which version of a record is newer: the one rule every part of the destination uses.

A record's version is text that sorts in version order: its `lastModifiedAt` (messages:
`createdAt`) as RFC 3339 UTC with milliseconds, then `#` and the resource `version`
zero-padded. An unknown version (None) is older than any known one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from destination_crmone.timefmt import try_normalize_rfc3339


def record_version(record: Mapping[str, Any]) -> str | None:
    """The version text of one source record, or None when it carries no timestamp."""
    stamp = try_normalize_rfc3339(record.get("lastModifiedAt") or record.get("createdAt"))
    if stamp is None:
        return None
    version = record.get("version")
    if isinstance(version, int) and not isinstance(version, bool):
        return f"{stamp}#{version:012d}"
    return stamp


def version_key(version: object) -> str | None:
    """A stored version in the one form that compares correctly as text."""
    if version is None:
        return None
    text = str(version)
    stamp, hash_, rest = text.partition("#")
    normal = try_normalize_rfc3339(stamp)
    if normal is None:
        return text
    return f"{normal}#{rest}" if hash_ else normal


def is_newer(version: str | None, than: str | None) -> bool:
    """True when `version` is strictly newer than `than` (None is older than anything)."""
    if version is None:
        return False
    return than is None or version > than
