"""commercetools datetimes: stored and returned as `2026-11-26T18:40:00.123Z` (ms, UTC, Z)."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta
from functools import lru_cache

# RFC 3339 date-time with a zone; commercetools also reads a date-time without fraction.
DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.(\d+))?(?:Z|[+-]\d{2}:?\d{2})$")


def format_instant(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@lru_cache(maxsize=1 << 18)
def parse_instant(text: str) -> datetime | None:
    """An aware UTC datetime for an RFC 3339 date-time string, None for anything else."""
    if not DATETIME.match(text):
        return None
    try:
        return datetime.fromisoformat(text).astimezone(UTC)
    except ValueError:
        return None


def canonical(text: str) -> str | None:
    """The stored form of a date-time, or None when it is not one or has sub-ms precision."""
    match = DATETIME.match(text)
    if not match or len(match.group(1) or "") > 3:
        return None
    moment = parse_instant(text)
    return format_instant(moment) if moment else None


class Clock:
    """Hands out strictly increasing millisecond timestamps for changes made after seeding.

    Real time when it is ahead, otherwise one millisecond after the last timestamp given, so
    changes never land before (or on) a seeded time even when the seed lies in the future.
    """

    def __init__(self, floor: datetime) -> None:
        self._last = floor
        self._lock = threading.Lock()
        self.offset = timedelta(0)  # the project's "now" is the real time plus this

    def set_offset(self, offset: timedelta) -> None:
        """Make later changes as if the real time were `offset` away (days back: changes made
        "in the past"); timestamps still never go back."""
        with self._lock:
            self.offset = offset

    def current(self) -> datetime:
        """The project's now, for retention and time-to-live (no timestamp is handed out)."""
        return max(self._last, datetime.now(UTC) + self.offset)

    def advance_to(self, moment: datetime) -> None:
        with self._lock:
            self._last = max(self._last, moment)

    def now(self) -> str:
        with self._lock:
            real = datetime.now(UTC) + self.offset
            real = real.replace(microsecond=real.microsecond // 1000 * 1000)
            self._last = max(self._last + timedelta(milliseconds=1), real)
            return format_instant(self._last)
