"""commercetools' datetime form, which CRM One speaks too: RFC 3339, UTC, milliseconds, `Z`
(`2026-11-26T18:40:00.123Z`). Both connectors write instants with `format_datetime`."""

from __future__ import annotations

from datetime import UTC, datetime


def format_datetime(moment: datetime) -> str:
    """`YYYY-MM-DDTHH:MM:SS.mmmZ` of an aware datetime (milliseconds truncated); ValueError
    for a naive one (an instant without a zone is a guess)."""
    if moment.tzinfo is None:
        raise ValueError("a datetime without a time zone cannot be formatted as an instant")
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
