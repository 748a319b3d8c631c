"""Injected failures: a seeded share of API reads answers 502/503/504/429 instead; and
`Hostility`, answers as unkind as a broken or hostile server (see also stalling.py)."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

DEFAULT_STATUSES = (502, 503, 504, 429)
CODES = {
    429: "TooManyRequests",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}


@dataclass(frozen=True)
class FaultSettings:
    rate: float = 0.0
    statuses: tuple[int, ...] = DEFAULT_STATUSES
    retry_after: int = 1  # seconds, sent with 429
    token: bool = False  # fault the token endpoint too

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"fault rate must be within [0, 1], got {self.rate}")
        if not self.statuses or any(not 400 <= s <= 599 for s in self.statuses):
            raise ValueError(f"fault statuses must be HTTP error codes, got {self.statuses}")
        if self.retry_after < 0:
            raise ValueError("retry_after must not be negative")


class FaultInjector:
    def __init__(self, seed: int, settings: FaultSettings) -> None:
        self.settings = settings
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def draw(self, token_endpoint: bool = False) -> int | None:
        """The status to fail this request with, or None to answer it normally."""
        settings = self.settings
        if settings.rate <= 0 or (token_endpoint and not settings.token):
            return None
        with self._lock:
            if self._rng.random() >= settings.rate:
                return None
            return self._rng.choice(settings.statuses)


@dataclass(frozen=True)
class Hostility:
    """Set through `/_sandbox/hostile` or `CommercetoolsSandbox.set_hostile`; all off by default."""

    flood_items: int = 0  # every query answers this many tiny results, whatever its limit
    token_padding_bytes: int = 0  # the token answer carries this much filler
    token_expires_in: str | None = None  # raw JSON put as the token's expires_in: 1e30, NaN, -5
    query_timeout_above: int | None = None  # a query asking more results: 400 QueryTimedOut

    def __post_init__(self) -> None:
        if self.flood_items < 0 or self.token_padding_bytes < 0:
            raise ValueError("flood_items and token_padding_bytes must not be negative")
        if self.query_timeout_above is not None and self.query_timeout_above < 0:
            raise ValueError("query_timeout_above must not be negative")
