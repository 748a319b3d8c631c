"""Pages of one or more key-set slices, fetched ahead of the consumer on a few threads.

Each slice is paged strictly in `(cursor, id)` order by one worker at a time; several slices
are fetched at once (at most `concurrency` requests in flight), and a bounded queue keeps the
workers at most a few pages ahead of the consumer, so memory stays flat. A single slice is
still fetched one page ahead: the next request overlaps the emission of the current page.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from source_commercetools.cursor import KeySetCursor, page_params, position_of

Fetch = Callable[[dict[str, Any]], list[dict[str, Any]]]


class NoPosition(ValueError):
    """A full page without a record that has both the cursor field and an id."""


@dataclass
class Page:
    slice_index: int
    records: list[dict[str, Any]]
    last: bool  # the slice has no more pages


def read_pages(
    slices: Sequence[KeySetCursor], fetch: Fetch, page_size: int, concurrency: int
) -> Iterator[Page]:
    """Every page of every slice not done yet; a slice's pages in order, slices interleaved."""
    pending = [i for i, cursor in enumerate(slices) if not cursor.done]
    if not pending:
        return
    pages: queue.Queue[Page | BaseException] = queue.Queue(maxsize=max(2, concurrency + 1))
    stop = threading.Event()

    def put(item: Page | BaseException) -> bool:
        while not stop.is_set():
            try:
                pages.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work(index: int) -> None:
        cursor = slices[index]
        after = cursor.position
        try:
            while not stop.is_set():
                params = page_params(cursor.field, cursor.start, after, cursor.end, page_size)
                records = fetch(params)
                last = len(records) < page_size
                if not put(Page(index, records, last)) or last:
                    return
                after = _last_position(records, cursor.field)
        except BaseException as error:  # handed to the consumer, which raises it
            put(error)

    workers = ThreadPoolExecutor(max_workers=min(concurrency, len(pending)))
    try:
        for index in pending:
            workers.submit(work, index)
        remaining = len(pending)
        while remaining:
            item = pages.get()
            if isinstance(item, BaseException):
                raise item
            if item.last:
                remaining -= 1
            yield item
    finally:
        stop.set()
        workers.shutdown(wait=False, cancel_futures=True)


def _last_position(records: list[dict[str, Any]], field: str) -> tuple[str, str]:
    for record in reversed(records):
        position = position_of(record, field)
        if position:
            return position
    raise NoPosition(f"a full page without {field} and id; cannot page further")
