"""Pages of one or more key-set slices, fetched ahead of the consumer on a few threads.

Each slice is paged strictly in `(cursor, id)` order by one worker at a time; several slices
are fetched at once (at most `concurrency` requests in flight), and a bounded queue keeps the
workers at most a few pages ahead of the consumer, so memory stays flat. A single slice is
still fetched one page ahead: the next request overlaps the emission of the current page.

Time ranges hold unevenly many records. When a worker runs out of slices, the slice with the
widest range still ahead is split in two at its next page boundary: it keeps `[position, m)`
and a new slice `[m, end)` goes to the idle worker. The split happens between two pages of the
victim, so every record it has fetched lies before `m`: no record is read twice or skipped,
and every slice's state stays exact.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from source_commercetools.config import format_datetime, parse_datetime
from source_commercetools.cursor import KeySetCursor, Position, page_params, position_of
from source_commercetools.http import limit_of

Fetch = Callable[[dict[str, Any]], list[dict[str, Any]]]


class NoPosition(ValueError):
    """A full page without a record that has both the cursor field and an id."""


@dataclass
class Page:
    cursor: KeySetCursor  # the slice it belongs to
    records: list[dict[str, Any]]
    last: bool  # the slice has no more pages


class PageReader:
    """Iterate over it for the pages; `slices()` is the current list of slices, in key order
    (it grows when a slice is split)."""

    def __init__(
        self,
        slices: list[KeySetCursor],
        fetch: Fetch,
        page_size: int,
        concurrency: int,
        horizon: str | None = None,  # where the open-ended last slice is assumed to end
    ) -> None:
        self._slices = list(slices)
        self._fetch = fetch
        self._page_size = page_size
        self._concurrency = concurrency
        self._horizon = horizon
        self._lock = threading.Lock()
        self._pages: queue.Queue[Page | BaseException] = queue.Queue(maxsize=concurrency + 1)
        self._stop = threading.Event()
        self._ahead: dict[int, Position | None] = {}  # id(slice) → where its worker stands
        self._split_wanted: set[int] = set()
        self._waiting = 0  # slices submitted, not started by a worker yet
        self._open = 0  # slices whose last page the consumer has not had yet
        self._pool: ThreadPoolExecutor | None = None

    def slices(self) -> list[KeySetCursor]:
        with self._lock:
            return list(self._slices)

    def __iter__(self) -> Iterator[Page]:
        pending = [cursor for cursor in self._slices if not cursor.done]
        if not pending:
            return
        self._pool = ThreadPoolExecutor(max_workers=self._concurrency)
        try:
            with self._lock:
                for cursor in pending:
                    self._submit(cursor)
            while self._open:
                item = self._pages.get()
                if isinstance(item, BaseException):
                    raise item
                if item.last:
                    self._open -= 1
                yield item
        finally:
            self._stop.set()
            self._pool.shutdown(wait=False, cancel_futures=True)

    # --- workers -------------------------------------------------------------------

    def _submit(self, cursor: KeySetCursor) -> None:
        """Under the lock: a slice for the next free worker."""
        assert self._pool is not None
        self._open += 1
        self._waiting += 1
        self._ahead[id(cursor)] = cursor.position
        self._pool.submit(self._work, cursor)

    def _work(self, cursor: KeySetCursor) -> None:
        with self._lock:
            self._waiting -= 1
        after = cursor.position
        try:
            while not self._stop.is_set():
                with self._lock:
                    params = page_params(
                        cursor.field, cursor.start, after, cursor.end, self._page_size
                    )
                records = self._fetch(params)
                last = len(records) < limit_of(records, self._page_size)
                with self._lock:
                    if last:
                        self._ahead.pop(id(cursor), None)
                        self._split_wanted.discard(id(cursor))
                        self._ask_for_split()
                    else:
                        after = _last_position(records, cursor.field)
                        self._ahead[id(cursor)] = after
                        if id(cursor) in self._split_wanted:
                            self._split(cursor, after)
                if not self._put(Page(cursor, records, last)) or last:
                    return
        except BaseException as error:  # handed to the consumer, which raises it
            self._put(error)

    def _put(self, item: Page | BaseException) -> bool:
        while not self._stop.is_set():
            try:
                self._pages.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    # --- splitting -----------------------------------------------------------------

    def _ask_for_split(self) -> None:
        """Under the lock, when a worker is about to become idle: the widest slice still being
        read splits at its next page."""
        if self._waiting or self._concurrency < 2:
            return
        widest, width = None, 0.0
        for cursor in self._slices:
            key = id(cursor)
            if key not in self._ahead or key in self._split_wanted:
                continue
            span = self._span(cursor, self._ahead[key])
            if span > width:
                widest, width = cursor, span
        if widest is not None and width > 0.002:
            self._split_wanted.add(id(widest))

    def _span(self, cursor: KeySetCursor, after: Position | None) -> float:
        """Seconds of cursor range still ahead of a slice's worker."""
        low = after[0] if after else cursor.start
        high = cursor.end or self._horizon
        if not low or not high or high <= low:
            return 0.0
        return (parse_datetime(high) - parse_datetime(low)).total_seconds()

    def _split(self, cursor: KeySetCursor, after: Position) -> None:
        """Under the lock, between two pages of `cursor`: it keeps `[…, m)`, a new slice
        takes `[m, end)`. Every record fetched so far lies before `m`."""
        self._split_wanted.discard(id(cursor))
        high = cursor.end or self._horizon
        if not high or high <= after[0]:
            return
        low, top = parse_datetime(after[0]), parse_datetime(high)
        middle = format_datetime(low + (top - low) / 2)
        if middle <= after[0] or (cursor.end and middle >= cursor.end):
            return
        new = KeySetCursor(
            cursor.field,
            middle,
            cursor.end,
            lookback_seconds=cursor.lookback_seconds,
            memory_max=cursor.memory_max,
        )
        cursor.end = middle
        at = next(i for i, known in enumerate(self._slices) if known is cursor)
        self._slices.insert(at + 1, new)
        self._submit(new)


def _last_position(records: list[dict[str, Any]], field: str) -> Position:
    for record in reversed(records):
        position = position_of(record, field)
        if position:
            return position
    raise NoPosition(f"a full page without {field} and id; cannot page further")
