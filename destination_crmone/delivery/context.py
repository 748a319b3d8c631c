"""What one write run carries to every sender, and the words every sender settles records in.

- `WriteContext`: the run's config, CRM One client, journal, contact schema, limits, stats, and
  `settle` (the writer's callback: a record's outcome is final).
- `Pending`: a record on its way (its queue item, its STATE epoch, its tally); `Tally`: the
  records counted towards one echoed STATE.
- `Failure`: (kind, code, reason) of a record that goes to the retry queue.
- `Transient` / `Fatal`: failures that are not about a record; they stop the sync
  (`stop_unless_record_level` tells them from a record-level `CrmOneError`).

Knows no stream: nothing here is about contacts, orders or carts.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from destination_crmone.config import DestinationConfig
from destination_crmone.crmone.client import CrmOneClient, CrmOneError, batch_key
from destination_crmone.crmone.validate import ContactSchema
from destination_crmone.journal import Journal
from destination_crmone.stats import RunStats
from destination_crmone.versions import is_newer, record_version

Failure = tuple[str, str, str]  # kind (rejected, failed, partial), code, reason


class Transient(Exception):
    """A failure a later attempt may not meet: the sync stops here (TRACE transient_error)."""


class Fatal(Exception):
    """A failure no record can cause: CRM One refused the connector's credentials."""


def stop_unless_record_level(error: CrmOneError) -> None:
    """Raise for failures that are not about the records of the call."""
    if error.transient:
        raise Transient(str(error)) from error
    if error.status in (401, 403):
        raise Fatal(str(error)) from error


# --- the records of a batch -------------------------------------------------------------------


def record_key(record: Mapping[str, Any]) -> str:
    """The retry queue's key of a record: its `id`, else a digest of the record itself (so
    records without an id never collapse into one queue item)."""
    record_id = record.get("id")
    if isinstance(record_id, str) and record_id:
        return record_id
    body = json.dumps(record, sort_keys=True, default=str, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(body.encode()).hexdigest()[:32]


@dataclass
class Tally:
    """Records counted towards one echoed STATE, and how many of them were rejected."""

    records: int = 0
    rejected: int = 0


@dataclass(eq=False)
class Pending:
    """A record on its way: `queue_id` is the retry-queue item it settles when written;
    `epoch` and `tally` are the writer's (which STATE waits for it, which counts it)."""

    stream: str
    record: dict[str, Any]
    queue_id: int | None = None
    epoch: int = 0
    tally: Tally | None = None
    prepared: Any = None  # what the stream's sender worked out when the record arrived
    key: str = field(init=False)
    version: str | None = field(init=False)

    def __post_init__(self) -> None:
        self.key = record_key(self.record)
        self.version = record_version(self.record)


T = TypeVar("T")


def newest_only(items: Iterable[T], key: Callable[[T], str], version: Callable[[T], str | None]):
    """(kept, dropped): one item per key, the newest version; an equal version keeps the
    later item (it arrived last)."""
    newest: dict[str, T] = {}
    dropped: list[T] = []
    for item in items:
        held = newest.get(key(item))
        if held is None:
            newest[key(item)] = item
        elif is_newer(version(held), version(item)):
            dropped.append(item)
        else:
            dropped.append(held)
            newest[key(item)] = item
    return list(newest.values()), dropped


def chunks(items: list[T], size: int) -> Iterable[list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- the run --------------------------------------------------------------------------------


def _unsettled(item: Pending, rejected: bool) -> None:
    """`settle` until the writer takes over (a context used without a writer)."""


@dataclass
class WriteContext:
    """One write run: its config, CRM One client, journal, contact schema, limits and stats.

    `settle(item, rejected)` is the writer's: the `Writer` built on this context sets it."""

    config: DestinationConfig
    client: CrmOneClient
    journal: Journal
    schema: ContactSchema
    stats: RunStats
    run_id: str
    batch_size: int
    concurrency: int = 1
    dry_run: bool = False
    tenant: str = ""
    order_properties: frozenset[str] = frozenset()  # of the `orders` object type (objects)
    settle: Callable[[Pending, bool], None] = _unsettled
    _sequence: Iterator[int] = field(default_factory=itertools.count)

    def idempotency_key(self, stream: str, kind: str, body: Any) -> str:
        """One key per batch: run id + stream + batch sequence + body. The client sends the
        same key on every retry of that batch."""
        return batch_key(self.run_id, stream, kind, next(self._sequence), body)
