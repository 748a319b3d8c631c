"""Request pacing: a token bucket at the account's `requests_per_second`.

CRM One counts requests in a one-second window and answers `429` beyond its limit. A bucket of
one token refilled `rate` times a second spaces requests evenly, so a run stays under any
one-second window; `SAFETY` keeps a little room for requests arriving out of step.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

SAFETY = 0.95


class TokenBucket:
    """`wait()` blocks until the next request may start; thread-safe; 0 or None: no pacing."""

    def __init__(
        self,
        rate: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._next = 0.0
        self.interval = 0.0
        self.set_rate(rate)

    def set_rate(self, rate: float | None) -> None:
        with self._lock:
            self.interval = 1.0 / (rate * SAFETY) if rate and rate > 0 else 0.0

    def wait(self) -> None:
        with self._lock:
            if not self.interval:
                return
            now = self._clock()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            self._sleep(start - now)
