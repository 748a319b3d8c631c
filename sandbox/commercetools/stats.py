"""Request counts per `METHOD /path` and per status (admin calls are not counted), and the
`X-Correlation-ID` each request came with (the newest 10,000)."""

from __future__ import annotations

import threading
from collections import Counter, deque
from typing import Any


class RequestStats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: Counter[str] = Counter()
        self._statuses: Counter[int] = Counter()
        self._correlation_ids: deque[str | None] = deque(maxlen=10_000)

    def record(
        self, method: str, path: str, status: int, correlation_id: str | None = None
    ) -> None:
        with self._lock:
            self._requests[f"{method} {path}"] += 1
            self._statuses[status] += 1
            self._correlation_ids.append(correlation_id)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": dict(self._requests),
                "statuses": {str(k): v for k, v in sorted(self._statuses.items())},
                "total": sum(self._requests.values()),
                "correlation_ids": list(self._correlation_ids),
            }

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()
            self._statuses.clear()
            self._correlation_ids.clear()
