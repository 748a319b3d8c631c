"""RFC 3339 timestamps in the one form CRM One speaks: UTC, milliseconds, `Z`.

commercetools sends `2026-11-26T18:40:00.123Z`; CRM One wants `2026-11-26T18:40:00.123Z`
too. Anything else that is still RFC 3339 (an offset, more or fewer fraction digits, a
lower-case `t`/`z`) is accepted and normalised; anything without a time zone is refused,
because an instant without a zone is a guess.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from connectors_common.datetimes import format_datetime

_CANONICAL = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
_RFC3339 = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})[Tt ](?P<time>\d{2}:\d{2}:\d{2})"
    r"(?:\.(?P<fraction>\d+))?(?P<zone>[Zz]|[+-]\d{2}:\d{2})$"
)


def parse_rfc3339(value: str) -> datetime:
    """An aware UTC datetime from an RFC 3339 string; ValueError if it is not one."""
    if not isinstance(value, str):
        raise ValueError(f"expected an RFC 3339 string, got {type(value).__name__}")
    match = _RFC3339.match(value.strip())
    if match is None:
        raise ValueError(f"{value!r} is not an RFC 3339 date-time with a time zone")
    fraction = (match["fraction"] or "0")[:6].ljust(6, "0")
    zone = "+00:00" if match["zone"] in ("Z", "z") else match["zone"]
    parsed = datetime.fromisoformat(f"{match['date']}T{match['time']}.{fraction}{zone}")
    return parsed.astimezone(UTC)


def format_rfc3339(moment: datetime) -> str:
    """`YYYY-MM-DDTHH:MM:SS.mmmZ` for an aware datetime: the form both connectors share
    (`connectors_common.format_datetime`)."""
    return format_datetime(moment)


def normalize_rfc3339(value: str) -> str:
    """The canonical form of an RFC 3339 string; ValueError if it is not one."""
    if isinstance(value, str) and _CANONICAL.match(value) and _valid_date_time(value):
        return value  # commercetools' own form, the common case: nothing to convert
    return format_rfc3339(parse_rfc3339(value))


def _valid_date_time(value: str) -> bool:
    """Field ranges of a canonical-looking string; days 29-31 (they depend on the month)
    take the full parse."""
    month, day = int(value[5:7]), int(value[8:10])
    hour, minute, second = int(value[11:13]), int(value[14:16]), int(value[17:19])
    return 1 <= month <= 12 and 1 <= day <= 28 and hour < 24 and minute < 60 and second < 60


def try_normalize_rfc3339(value: object) -> str | None:
    """The canonical form, or None when `value` is absent or not an RFC 3339 string."""
    if not isinstance(value, str):
        return None
    try:
        return normalize_rfc3339(value)
    except ValueError:
        return None
