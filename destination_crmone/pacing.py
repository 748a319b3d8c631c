"""Request pacing: a token bucket at the account's `requests_per_second`.

CRM One counts requests in a one-second window and answers `429` beyond its limit. A bucket of
one token refilled `rate` times a second spaces requests evenly, so a run stays under any
one-second window; `SAFETY` keeps a little room for requests arriving out of step. Requests
made before the rate is known (the token, `/v1/account`) are remembered, so the first paced
ones wait for their share of the window too.
"""

from __future__ import annotations

import threading
import time
from collections import deque
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
        self._unpaced: deque[float] = deque()  # starts while no rate was set, last second
        self.interval = 0.0
        self.set_rate(rate)

    def set_rate(self, rate: float | None) -> None:
        with self._lock:
            self.interval = 1.0 / (rate * SAFETY) if rate and rate > 0 else 0.0
            now = self._clock()
            recent = sum(1 for start in self._unpaced if now - start < 1.0)
            self._next = max(self._next, now + self.interval * recent)

    def wait(self) -> None:
        with self._lock:
            now = self._clock()
            if not self.interval:
                self._unpaced.append(now)
                while self._unpaced and now - self._unpaced[0] >= 1.0:
                    self._unpaced.popleft()
                return
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            self._sleep(start - now)
