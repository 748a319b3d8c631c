"""What the sync log keeps of one HTTP attempt, and the one timestamp form the journal uses.

Shared by the client (which produces `CallRecord`s) and the journal (which stores them), so
that neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from connectors_common.datetimes import format_datetime


def now_text() -> str:
    """Now as RFC 3339 UTC with milliseconds (the form every journal timestamp has)."""
    return format_datetime(datetime.now(UTC))


@dataclass(frozen=True)
class CallRecord:
    """One HTTP attempt, as the sync log keeps it. Never holds a secret or a token."""

    method: str
    path: str  # relative to base_url, with the query string if any
    request_body: Any
    response_body: Any
    status: int | None  # None: no response (dropped connection, timeout)
    started_at: str
    ended_at: str
    attempt: int  # 1 for the first try of a logical call
    correlation_id: str
    request_id: str | None
    idempotency_key: str | None
    error: str | None = None
    duration_ms: int = 0
