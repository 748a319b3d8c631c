"""`KeySetCursor`: where one partition of a stream stands, as one small value.

A partition (a stream, or a stream in one store) is read in `(cursor field, id)` order. The
cursor knows:

- where to read next: `params()` gives the `where`/`sort`/`var.*` of the next page;
- what was emitted: `advance(record)` moves the position and says whether to emit the record;
- the look-back margin: an incremental run starts `lookback` before the saved position, and
  the records it re-reads there are emitted again only if their `(id, version)` is not
  remembered from the previous run (the state keeps a short hash of `(id, version)` and the
  cursor time of every record within `lookback` of the newest position, so an idle run emits
  nothing). The memory is bounded (`memory_max` entries): past it the newest entries are
  kept, and the older records of the window are emitted again by the next run (at least
  once, never lost); `dropped` counts what was forgotten;
- its state is written and read by state.py.

Slices: the first read of a large partition can be split by cursor value into consecutive
ranges `[start, end)` read concurrently (`split`); `merged_state` writes their exact
progress, collapsed into one position as soon as every earlier slice is done.

Cursor values are commercetools' datetime form (`2026-11-26T18:40:00.123Z`), which compares
correctly as a string. Input variables are `var.t`, `var.id`, `var.end` (never empty).
"""

from __future__ import annotations

import base64
import hashlib
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from source_commercetools.config import format_datetime, parse_datetime

Position = tuple[str, str]  # (cursor value, resource id)
Remembered = tuple[int, str]  # (cursor time in ms, entry_key) of a record in the margin
DEFAULT_MEMORY_MAX = 10_000
KEY_CHARS = 11  # 64 bits of blake2b, base64url without padding
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class OutOfOrder(ValueError):
    """The API returned a record before the position already reached: paging cannot be trusted."""


def cursor_value(value: str) -> str:
    """A datetime in commercetools' own form, so that positions compare as strings."""
    if len(value) == 24 and value[-1] == "Z" and value[19] == ".":
        return value
    return format_datetime(parse_datetime(value))


def shift(value: str, seconds: float) -> str:
    return format_datetime(parse_datetime(value) + timedelta(seconds=seconds))


def cursor_ms(value: str) -> int:
    """A cursor value (commercetools' form) as milliseconds since the epoch."""
    moment = datetime.fromisoformat(value)  # Python 3.11 reads the trailing Z
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def entry_key(record_id: str, version: Any) -> str:
    """What the margin remembers of a record: 64 bits of a hash of `(id, version)` (a false
    match needs two of them to collide among the few thousand of one margin: ~1e-11)."""
    digest = hashlib.blake2b(f"{record_id}\x00{version}".encode(), digest_size=8).digest()
    return base64.urlsafe_b64encode(digest)[:KEY_CHARS].decode()


@dataclass
class KeySetCursor:
    """The progress of one partition (or one slice of it) in `(field, id)` order."""

    field: str
    start: str | None  # inclusive lower bound of a fresh read; None: from the very first record
    end: str | None = None  # exclusive upper bound (slices); None: open
    position: Position | None = None  # the last record passed, this run or a resumed slice
    lookback_seconds: float = 0
    saved: Position | None = None  # where the previous run ended: the end of the margin
    known: dict[str, int] = field(default_factory=dict)  # entry_key → cursor ms (previous run)
    done: bool = False
    recent: deque[Remembered] = field(default_factory=deque)
    memory_max: int = DEFAULT_MEMORY_MAX  # entries of the margin at most
    dropped: int = 0  # margin entries forgotten past memory_max (re-emitted next run)

    # --- construction --------------------------------------------------------------

    @classmethod
    def fresh(
        cls,
        field_name: str,
        start: str | None,
        lookback_seconds: float = 0,
        memory_max: int = DEFAULT_MEMORY_MAX,
    ) -> KeySetCursor:
        """Everything from `start` (None: from the first record, no `where` at all)."""
        start = cursor_value(start) if start else None
        return cls(field_name, start, lookback_seconds=lookback_seconds, memory_max=memory_max)

    def split(self, boundaries: Iterable[str]) -> list[KeySetCursor]:
        """Consecutive slices `[…, b1) [b1, b2) … [bn, end)`: the first keeps this cursor's
        progress, the others start fresh at their lower bound."""
        floor = self.position[0] if self.position else (self.start or "")
        edges = [b for b in sorted(set(boundaries)) if floor < b and (not self.end or b < self.end)]
        if not edges:
            return [self]
        first = replace(self, end=edges[0], recent=deque(self.recent))
        highs: list[str | None] = [*edges[1:], self.end]
        return [
            first,
            *(
                KeySetCursor(
                    self.field,
                    low,
                    high,
                    lookback_seconds=self.lookback_seconds,
                    memory_max=self.memory_max,
                )
                for low, high in zip(edges, highs, strict=True)
            ),
        ]

    # --- the next page -------------------------------------------------------------

    def params(self, page_size: int) -> dict[str, Any]:
        """Query parameters of the next page after the current position."""
        return page_params(self.field, self.start, self.position, self.end, page_size)

    # --- records -------------------------------------------------------------------

    def advance(self, record: Mapping[str, Any]) -> bool:
        """Move past `record`; True when it is to be emitted.

        False for the record at the current position again (an index serving it twice) and
        for a margin record whose `(id, version)` the previous run already emitted. A record
        before the position raises OutOfOrder: skipping it could lose data."""
        position = parse_position(record.get(self.field), record.get("id"))
        if position is None:
            return True  # emitted; the position cannot move on a record without cursor or id
        if self.position is not None and position <= self.position:
            if position == self.position:
                return False
            raise OutOfOrder(f"{position} after {self.position}")
        self.position = position
        if not self.lookback_seconds:
            return True
        key = entry_key(position[1], record.get("version"))
        self.recent.append((cursor_ms(position[0]), key))
        return not (self.saved is not None and position <= self.saved and key in self.known)

    def finish(self) -> None:
        self.done = True

    # --- state ---------------------------------------------------------------------

    @property
    def newest(self) -> Position | None:
        """The position the state records: this run's, or the saved one while still in the
        margin behind it."""
        if self.saved is not None and (self.position is None or self.position < self.saved):
            return self.saved
        return self.position

    def trim(self) -> int | None:
        """Forget the records behind the look-back of the newest position, and the oldest
        past `memory_max` (call once a page: memory stays flat); returns the margin's lower
        bound in ms, None without a margin."""
        newest = self.newest
        if not self.lookback_seconds or newest is None:
            self.recent.clear()
            return None
        floor = cursor_ms(newest[0]) - round(self.lookback_seconds * 1000)
        recent = self.recent
        while recent and recent[0][0] < floor:
            recent.popleft()
        while len(recent) > self.memory_max:
            recent.popleft()
            self.dropped += 1
        return floor

    def margin(self) -> list[Remembered]:
        """The records within the look-back of the newest position, oldest first, at most
        `memory_max` (the newest)."""
        floor = self.trim()
        if floor is None:
            return []
        if not self.known:
            return list(self.recent)  # in key order already
        seen = {key for _, key in self.recent}
        ahead = cursor_ms(self.position[0]) if self.position is not None else floor
        # remembered from the previous run and not met again yet (still ahead of this run)
        carried = [
            (ms, key)
            for key, ms in self.known.items()
            if key not in seen and ms >= floor and ms >= ahead
        ]
        margin = sorted([*carried, *self.recent])
        if len(margin) > self.memory_max:
            self.dropped = max(self.dropped, len(margin) - self.memory_max)
            del margin[: len(margin) - self.memory_max]
        return margin


def page_params(
    field_name: str,
    start: str | None,
    after: Position | None,
    end: str | None,
    page_size: int,
) -> dict[str, Any]:
    """Sort, predicates and input variables of one key-set page.

    After a record: `field > :t or (field = :t and id > :id)`. A position without an id (the
    first page from a date): `field >= :t`, never an empty `var.id`. No start: no lower bound.
    """
    where: list[str] = []
    variables: dict[str, Any] = {}
    if after is not None:
        where.append(f"{field_name} > :t or ({field_name} = :t and id > :id)")
        variables = {"var.t": after[0], "var.id": after[1]}
    elif start:
        where.append(f"{field_name} >= :t")
        variables = {"var.t": start}
    if end:
        where.append(f"{field_name} < :end")
        variables["var.end"] = end
    params: dict[str, Any] = {"sort": [f"{field_name} asc", "id asc"]}
    if where:
        params["where"] = where
    params.update(variables)
    params["limit"] = page_size
    params["withTotal"] = "false"
    return params


def parse_position(cursor: Any, record_id: Any) -> Position | None:
    """THE reading of a position: a cursor value and a non-empty id, the cursor in
    commercetools' own form; None when either is missing or the cursor is not a datetime."""
    if type(cursor) is not str or type(record_id) is not str or not record_id:
        return None
    if len(cursor) == 24 and cursor[-1] == "Z" and cursor[19] == ".":
        return (cursor, record_id)
    try:
        return (cursor_value(cursor), record_id)
    except ValueError:
        return None


def position_of(record: Mapping[str, Any], field_name: str) -> Position | None:
    return parse_position(record.get(field_name), record.get("id"))
