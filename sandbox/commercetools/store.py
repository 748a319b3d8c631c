"""The project's data in memory: collections of immutable records with a key-set index.

Records are never changed in place: a change stores a new dict. A reader that picked records
under the lock can therefore serialise them after releasing it and still see one consistent
version of each.
"""

from __future__ import annotations

import bisect
import random
import threading
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sandbox.commercetools.timefmt import Clock, format_instant

Record = dict[str, Any]

# Endpoint name → the typeId of its resources (references, messages).
TYPE_IDS = {
    "customers": "customer",
    "orders": "order",
    "carts": "cart",
    "payments": "payment",
    "products": "product",
    "discount-codes": "discount-code",
    "stores": "store",
    "customer-groups": "customer-group",
    "types": "type",
    "messages": "message",
}
COLLECTIONS = tuple(TYPE_IDS)
IN_STORE = ("customers", "orders", "carts")


def cursor_field(collection: str) -> str:
    """The field the key-set index orders by: messages by creation, the rest by change."""
    return "createdAt" if collection == "messages" else "lastModifiedAt"


@dataclass
class Collection:
    """Records by id, plus an index of (cursor field, id) kept sorted for key-set reads."""

    order_field: str
    by_id: dict[str, Record] = field(default_factory=dict)
    _index: list[tuple[str, str]] = field(default_factory=list)
    _scrambled: list[str] | None = None
    _pending: dict[str, tuple[float, Record]] = field(default_factory=dict)  # not visible yet

    def __len__(self) -> int:
        return len(self.by_id)

    def load(self, records: Iterable[Record]) -> None:
        """Bulk insert (seeding): one sort instead of one insertion per record."""
        for record in records:
            self.by_id[record["id"]] = record
        self._index = sorted((r[self.order_field], r["id"]) for r in self.by_id.values())
        self._scrambled = None

    def put(self, record: Record, visible_at: float | None = None) -> None:
        """Store a record; with `visible_at` (time.monotonic()), queries see it only from
        then on (until then they see the version before, if any)."""
        if visible_at is not None:
            self._pending[record["id"]] = (visible_at, record)
            return
        self._pending.pop(record["id"], None)
        old = self.by_id.get(record["id"])
        if old is not None:
            self._unindex(old)
        self.by_id[record["id"]] = record
        bisect.insort(self._index, (record[self.order_field], record["id"]))
        self._scrambled = None

    def release(self, now: float) -> None:
        """Make every pending record that is due visible."""
        due = [record for at, record in self._pending.values() if at <= now]
        for record in due:
            self.put(record)

    def latest(self) -> dict[str, Record]:
        """Every record as last written, visible to queries yet or not."""
        if not self._pending:
            return self.by_id
        return {**self.by_id, **{i: record for i, (_, record) in self._pending.items()}}

    def remove(self, record_id: str) -> Record | None:
        pending = self._pending.pop(record_id, None)
        old = self.by_id.pop(record_id, None)
        if old is not None:
            self._unindex(old)
            self._scrambled = None
        return pending[1] if pending else old

    def _unindex(self, record: Record) -> None:
        key = (record[self.order_field], record["id"])
        at = bisect.bisect_left(self._index, key)
        if at < len(self._index) and self._index[at] == key:
            del self._index[at]

    def ordered_from(self, key: tuple[str, str], *, inclusive: bool) -> Iterator[Record]:
        """Records in (cursor field, id) order, starting at `key` (or just after it)."""
        index = self._index
        cut = bisect.bisect_left if inclusive else bisect.bisect_right
        for position in range(cut(index, key), len(index)):
            yield self.by_id[index[position][1]]

    def ordered_backward(self) -> Iterator[Record]:
        """Records in descending (cursor field, id) order."""
        index = self._index
        for position in range(len(index) - 1, -1, -1):
            yield self.by_id[index[position][1]]

    def count_from(self, key: tuple[str, str], *, inclusive: bool) -> int:
        cut = bisect.bisect_left if inclusive else bisect.bisect_right
        return len(self._index) - cut(self._index, key)

    def scrambled(self) -> list[Record]:
        """A fixed order unrelated to insertion or timestamps: what 'unspecified' looks like."""
        if self._scrambled is None:
            self._scrambled = sorted(self.by_id, key=lambda i: (zlib.crc32(i.encode()), i))
        return [self.by_id[i] for i in self._scrambled]


class Store:
    """All collections of one project, its lock, its clock and its project settings.

    `visibility_delay_s`: like the real API, a write becomes visible to queries only after a
    random delay of up to that many seconds, keeping the timestamps it was written with (so
    it can turn up behind a reader's cursor). 0: every write is visible at once.
    """

    def __init__(self, project_key: str, clock: Clock, messages_enabled: bool = True) -> None:
        self.project_key = project_key
        self.lock = threading.RLock()
        self.clock = clock
        self.messages_enabled = messages_enabled
        self.messages_retention_days = 15  # Project.messages.deleteDaysAfterCreation
        self.cart_ttl_days: int | None = None  # carts.deleteDaysAfterLastModification; see expire
        self.collections = {name: Collection(cursor_field(name)) for name in COLLECTIONS}
        self.visibility_delay_s = 0.0
        self._delays = random.Random(7)

    def write(self, collection: str, record: Record) -> None:
        """A change made after seeding, visible after the configured delay."""
        with self.lock:
            delay = self._delays.uniform(0, self.visibility_delay_s)
            visible_at = time.monotonic() + delay if delay > 0 else None
            self.collections[collection].put(record, visible_at)

    def release_due(self) -> None:
        """Call before answering a query: the writes whose delay is over become visible."""
        with self.lock:
            now = time.monotonic()
            for collection in self.collections.values():
                if collection._pending:
                    collection.release(now)

    def expire(self) -> dict[str, list[str]]:
        """What the platform deletes by itself, without a Message: Messages older than
        `messages_retention_days`, and carts not modified for `cart_ttl_days` (None: carts
        are kept; the seeded history lies in the past, so a 90-day default would delete every
        seeded cart at once). Called before answering a query; answers the ids removed."""
        with self.lock:
            now = self.clock.current()
            removed = {
                "messages": self._expire("messages", now, self.messages_retention_days),
                "carts": self._expire("carts", now, self.cart_ttl_days),
            }
        return removed

    def _expire(self, name: str, now: datetime, days: int | None) -> list[str]:
        if not days:
            return []
        cutoff = format_instant(now - timedelta(days=days))
        collection = self.collections[name]
        old = []
        for record in collection.ordered_from(("", ""), inclusive=True):  # oldest first
            if record[collection.order_field] >= cutoff:
                break
            old.append(record["id"])
        for record_id in old:
            collection.remove(record_id)
        return old

    def __getitem__(self, collection: str) -> Collection:
        return self.collections[collection]

    def snapshot(self, collection: str) -> list[Record]:
        """Every record as last written (including writes not visible to queries yet)."""
        with self.lock:
            return list(self.collections[collection].latest().values())

    def find(self, collection: str, id_or_key: str) -> Record | None:
        """By id, or by `key=...` as the API allows."""
        with self.lock:
            records = self.collections[collection].by_id
            if id_or_key.startswith("key="):
                wanted = id_or_key.removeprefix("key=")
                return next((r for r in records.values() if r.get("key") == wanted), None)
            return records.get(id_or_key)

    def store_keys(self) -> set[str]:
        with self.lock:
            return {r["key"] for r in self.collections["stores"].by_id.values() if "key" in r}
