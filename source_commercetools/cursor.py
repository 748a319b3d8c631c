"""`KeySetCursor`: where one partition of a stream stands, as one small value.

A partition (a stream, or a stream in one store) is read in `(cursor field, id)` order. The
cursor knows:

- where to read next: `params()` gives the `where`/`sort`/`var.*` of the next page;
- what was emitted: `advance(record)` moves the position and says whether to emit the record;
- the look-back margin: an incremental run starts `lookback` before the saved position, and
  the records it re-reads there are emitted again only if their `(id, version)` is not
  remembered from the previous run (the state keeps the `(cursor, id, version)` of every record
  within `lookback` of the newest position, so an idle run emits nothing);
- its state is written and read by state.py.

Slices: the first read of a large partition can be split by cursor value into consecutive
ranges `[start, end)` read concurrently (`split`); `merged_state` writes their exact
progress, collapsed into one position as soon as every earlier slice is done.

Cursor values are commercetools' datetime form (`2026-11-26T18:40:00.123Z`), which compares
correctly as a string. Input variables are `var.t`, `var.id`, `var.end` (never empty).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from source_commercetools.config import format_datetime, parse_datetime

Position = tuple[str, str]  # (cursor value, resource id)
Remembered = tuple[str, str, Any]  # (cursor value, id, version) of a record in the margin


class OutOfOrder(ValueError):
    """The API returned a record before the position already reached: paging cannot be trusted."""


def cursor_value(value: str) -> str:
    """A datetime in commercetools' own form, so that positions compare as strings."""
    if len(value) == 24 and value[-1] == "Z" and value[19] == ".":
        return value
    return format_datetime(parse_datetime(value))


def shift(value: str, seconds: float) -> str:
    return format_datetime(parse_datetime(value) + timedelta(seconds=seconds))


@dataclass
class KeySetCursor:
    """The progress of one partition (or one slice of it) in `(field, id)` order."""

    field: str
    start: str | None  # inclusive lower bound of a fresh read; None: from the very first record
    end: str | None = None  # exclusive upper bound (slices); None: open
    position: Position | None = None  # the last record passed, this run or a resumed slice
    lookback_seconds: float = 0
    saved: Position | None = None  # where the previous run ended: the end of the margin
    known: dict[str, tuple[str, Any]] = field(default_factory=dict)  # id → (cursor, version)
    done: bool = False
    recent: deque[Remembered] = field(default_factory=deque)

    # --- construction --------------------------------------------------------------

    @classmethod
    def fresh(cls, field_name: str, start: str | None, lookback_seconds: float = 0) -> KeySetCursor:
        """Everything from `start` (None: from the first record, no `where` at all)."""
        return cls(field_name, cursor_value(start) if start else None, None, None, lookback_seconds)

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
                KeySetCursor(self.field, low, high, lookback_seconds=self.lookback_seconds)
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
        version = record.get("version")
        self.recent.append((position[0], position[1], version))
        if self.saved is not None and position <= self.saved:
            known = self.known.get(position[1])
            if known is not None and known[1] == version:
                return False
        return True

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

    def trim(self) -> str | None:
        """Forget the records behind the look-back of the newest position (call once a page:
        memory stays flat); returns the margin's lower bound, None without a margin."""
        newest = self.newest
        if not self.lookback_seconds or newest is None:
            self.recent.clear()
            return None
        floor = shift(newest[0], -self.lookback_seconds)
        while self.recent and self.recent[0][0] < floor:
            self.recent.popleft()
        return floor

    def margin(self) -> list[Remembered]:
        """The records within the look-back of the newest position, oldest first."""
        floor = self.trim()
        if floor is None:
            return []
        if not self.known:
            return list(self.recent)  # in key order already
        seen = {record_id for _, record_id, _ in self.recent}
        # remembered from the previous run and not met again yet (still ahead of this run)
        carried = [
            (cursor, record_id, version)
            for record_id, (cursor, version) in self.known.items()
            if record_id not in seen
            and cursor >= floor
            and (self.position is None or (cursor, record_id) > self.position)
        ]
        return sorted([*carried, *self.recent])


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
