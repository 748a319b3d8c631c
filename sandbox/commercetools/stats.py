"""Request counts per `METHOD /path` and per status (admin calls are not counted)."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any


class RequestStats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: Counter[str] = Counter()
        self._statuses: Counter[int] = Counter()

    def record(self, method: str, path: str, status: int) -> None:
        with self._lock:
            self._requests[f"{method} {path}"] += 1
            self._statuses[status] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": dict(self._requests),
                "statuses": {str(k): v for k, v in sorted(self._statuses.items())},
                "total": sum(self._requests.values()),
            }

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()
            self._statuses.clear()
