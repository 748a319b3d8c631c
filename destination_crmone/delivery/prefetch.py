"""Input read on a thread of its own, so the writer keeps working while the source is silent.

A source in a long back-off keeps its stdout (our stdin) open and writes nothing. Reading
stdin on the writer's thread would stop everything there: no batch would go after its
`flush_after`, no STATE would be echoed, until the next line came. `Prefetch` reads on a
daemon thread into a bounded queue; iterating it yields each item as it arrives, or None when
nothing arrived for `idle` seconds (the writer's chance to flush and release states).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

IDLE_SECONDS = 0.25
CAPACITY = 1000  # items read ahead at most: memory stays bounded when the writer is slower


class _End:
    """The input ended (normally, or with `error`)."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


class Prefetch(Generic[T]):
    def __init__(
        self, items: Iterable[T], *, idle: float = IDLE_SECONDS, capacity: int = CAPACITY
    ) -> None:
        self._items = items
        self._idle = idle
        self._queue: queue.Queue[T | _End] = queue.Queue(maxsize=capacity)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name="input-reader", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for item in self._items:
                if not self._put(item):
                    return
        except BaseException as error:  # handed to the consuming thread
            self._put(_End(error))
            return
        self._put(_End())

    def _put(self, item: T | _End) -> bool:
        """Queue one item, waiting while the queue is full; False once closed."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=self._idle)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[T | None]:
        """Each item in input order, None after `idle` seconds without one; the reader's
        exception is raised here."""
        while True:
            try:
                item = self._queue.get(timeout=self._idle)
            except queue.Empty:
                yield None
                continue
            if isinstance(item, _End):
                if item.error is not None:
                    raise item.error
                return
            yield item

    def close(self) -> None:
        """Stop reading ahead (a reader blocked inside the input itself ends with the
        process: it is a daemon thread)."""
        self._stop.set()
