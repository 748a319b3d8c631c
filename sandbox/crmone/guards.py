"""What stands between a request and the data: rate limit, faults, idempotency, statistics."""

from __future__ import annotations

import hashlib
import math
import random
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any

IDEMPOTENCY_TTL_SECONDS = 24 * 3600
IDEMPOTENCY_KEY_MAX = 128
DEFAULT_FAULT_STATUSES = (502, 503, 504, 429)


@dataclass(frozen=True)
class Admission:
    allowed: bool
    limit: int
    remaining: int
    reset_epoch: int
    retry_after: int

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_epoch),
        }


class RateLimiter:
    """A sliding one-second window of admitted requests; rejected ones do not count.

    O(1) amortised per request (a deque of admission times), so raising the limit to
    thousands per second for benchmarks costs nothing.
    """

    def __init__(self, per_second: int) -> None:
        self.per_second = per_second
        self._admitted: deque[float] = deque()
        self._last = 0.0  # admission times never go backwards (the window stays sorted)
        self._lock = threading.Lock()

    def admit(self, consume: bool = True, at: float | None = None) -> Admission:
        """Admit one request (or, with consume=False, only report the window). `at`: when it
        arrived (`time.monotonic()`), as a real service counts it at its edge; default now."""
        with self._lock:
            moment = max(time.monotonic() if at is None else at, self._last)
            self._last = moment
            while self._admitted and moment - self._admitted[0] >= 1.0:
                self._admitted.popleft()
            allowed = len(self._admitted) < self.per_second
            if allowed and consume:
                self._admitted.append(moment)
            free_in = 1.0 - (moment - self._admitted[0]) if self._admitted else 0.0
            return Admission(
                allowed=allowed,
                limit=self.per_second,
                remaining=max(0, self.per_second - len(self._admitted)),
                reset_epoch=math.ceil(time.time() + free_in),
                retry_after=max(1, math.ceil(free_in)),
            )


class Faults:
    """Injected transient failures from a seeded RNG (repeatable runs).

    `rate`: share of API requests answered with one of `statuses` before anything is
    applied. `drop_rate`: share of requests whose connection is closed without a response
    AFTER the request was applied (a lost response: only an Idempotency-Key makes the
    retry safe). `latency_ms` is added to every API request.
    """

    def __init__(self, rate: float = 0.0, latency_ms: int = 0, seed: int = 11) -> None:
        self.rate = rate
        self.statuses: tuple[int, ...] = DEFAULT_FAULT_STATUSES
        self.drop_rate = 0.0
        self.latency_ms = latency_ms
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def configure(
        self,
        rate: float | None = None,
        statuses: tuple[int, ...] | None = None,
        latency_ms: int | None = None,
        drop_rate: float | None = None,
    ) -> None:
        for name, value in (("rate", rate), ("drop_rate", drop_rate)):
            if value is not None and not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        if statuses is not None and (
            not statuses or any(not 400 <= int(s) <= 599 for s in statuses)
        ):
            raise ValueError("statuses must be HTTP error statuses")
        if latency_ms is not None and latency_ms < 0:
            raise ValueError("latency_ms must be ≥ 0")
        with self._lock:
            self.rate = self.rate if rate is None else rate
            self.statuses = self.statuses if statuses is None else tuple(int(s) for s in statuses)
            self.latency_ms = self.latency_ms if latency_ms is None else latency_ms
            self.drop_rate = self.drop_rate if drop_rate is None else drop_rate

    def status(self) -> int | None:
        """The status of an injected fault for this request, or None."""
        with self._lock:
            if self.rate and self._rng.random() < self.rate:
                return self._rng.choice(self.statuses)
        return None

    def drop(self) -> bool:
        with self._lock:
            return bool(self.drop_rate) and self._rng.random() < self.drop_rate

    def settings(self) -> dict[str, Any]:
        return {
            "rate": self.rate,
            "statuses": list(self.statuses),
            "latency_ms": self.latency_ms,
            "drop_rate": self.drop_rate,
        }


class Outage:
    """CRM One going down: after `after` more API requests (token calls included) every
    request is answered `status` (503 by default; None drops the connection) until `end()`.
    Nothing is applied while down, as in a real outage behind a load balancer."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._left: int | None = None  # requests still served; None: no outage planned
        self.status: int | None = 503

    def start(self, after: int = 0, status: int | None = 503) -> None:
        if after < 0:
            raise ValueError("after must be ≥ 0")
        with self._lock:
            self._left, self.status = after, status

    def end(self) -> None:
        with self._lock:
            self._left = None

    def down(self) -> bool:
        """Count one request; True when it meets the outage."""
        with self._lock:
            if self._left is None:
                return False
            if self._left > 0:
                self._left -= 1
                return False
            return True

    def settings(self) -> dict[str, Any]:
        with self._lock:
            return {"requests_left": self._left, "status": self.status}


@dataclass(frozen=True)
class StoredResponse:
    digest: str
    stored_at: float
    status: int
    body: bytes


class IdempotencyCache:
    """First responses by Idempotency-Key for 24 h. The caller holds the data lock."""

    def __init__(self, ttl_seconds: float = IDEMPOTENCY_TTL_SECONDS) -> None:
        self.ttl = ttl_seconds
        self._entries: dict[str, StoredResponse] = {}
        self._since_sweep = 0

    @staticmethod
    def digest(method: str, path: str, body: bytes) -> str:
        return hashlib.sha256(f"{method} {path}\n".encode() + body).hexdigest()

    def get(self, key: str) -> StoredResponse | None:
        entry = self._entries.get(key)
        if entry is not None and time.time() - entry.stored_at >= self.ttl:
            del self._entries[key]
            return None
        return entry

    def put(self, key: str, digest: str, status: int, body: bytes) -> None:
        self._entries[key] = StoredResponse(digest, time.time(), status, body)
        self._since_sweep += 1
        if self._since_sweep >= 1000:
            self._since_sweep = 0
            cutoff = time.time() - self.ttl
            for stale in [k for k, e in self._entries.items() if e.stored_at < cutoff]:
                del self._entries[stale]


class Stats:
    """Counters for tests and benchmarks: per method+route, per status, and the guards."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.requests: Counter[str] = Counter()
            self.statuses: Counter[int] = Counter()
            self.events: Counter[str] = Counter()
            self.max_in_flight = 0

    def count(self, route: str, status: int) -> None:
        with self._lock:
            self.requests[route] += 1
            self.statuses[status] += 1

    def event(self, name: str) -> None:
        with self._lock:
            self.events[name] += 1

    def in_flight(self, observed: int) -> None:
        with self._lock:
            self.max_in_flight = max(self.max_in_flight, observed)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "total": sum(self.requests.values()),
                "requests": dict(self.requests),
                "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
                "max_in_flight": self.max_in_flight,
                "concurrency_429": self.events["concurrency_429"],
                "rate_limit_429": self.events["rate_limit_429"],
                "faults_injected": self.events["faults_injected"],
                "connections_dropped": self.events["connections_dropped"],
                "idempotent_replays": self.events["idempotent_replays"],
                "tokens_issued": self.events["tokens_issued"],
                "outage_answers": self.events["outage_answers"],
            }
