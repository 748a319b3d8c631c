"""Request pacing: a token bucket at the account's `requests_per_second`.

CRM One counts requests in a one-second window and answers `429` beyond its limit. A bucket of
one token refilled `rate * SAFETY` times a second spaces request starts evenly; as a thread can
wake late from its wait and start right next to the following one, actual starts are also
kept at `rate * SAFETY` or fewer in any second (a sliding window, like the server's). Requests
made before the rate is known (the token, `/v1/account`) count too.
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
        self._starts: deque[float] = deque()  # actual starts of the last second
        self.per_window = 0  # at most this many starts in any second (a sliding window)
        self.interval = 0.0
        self.set_rate(rate)

    def set_rate(self, rate: float | None) -> None:
        with self._lock:
            self.interval = 1.0 / (rate * SAFETY) if rate and rate > 0 else 0.0
            self.per_window = max(1, int(rate * SAFETY)) if rate and rate > 0 else 0
            now = self._clock()
            recent = sum(1 for start in self._starts if now - start < 1.0)
            self._next = max(self._next, now + self.interval * recent)

    def wait(self) -> None:
        """Evenly spaced starts (each caller reserves the next slot); and, since a thread may
        wake late from its wait and start right next to the following one, never more than
        `per_window` actual starts in the last second."""
        with self._lock:
            now = self._clock()
            if not self.interval:
                self._started(now)
                return
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            self._sleep(start - now)
        while True:
            with self._lock:
                now = self._clock()
                self._forget_before(now - 1.0)
                if len(self._starts) < self.per_window:
                    self._started(now)
                    return
                pause = self._starts[0] + 1.0 - now + 0.001
            self._sleep(pause)

    def _started(self, moment: float) -> None:
        self._forget_before(moment - 1.0)
        self._starts.append(moment)

    def _forget_before(self, moment: float) -> None:
        while self._starts and self._starts[0] <= moment:
            self._starts.popleft()
