"""The writer: batches records per stream, keeps up to `concurrency` batches in flight, and
releases each STATE as soon as every record received before it is settled (a watermark).

- Records are numbered by *epoch*: the count of STATE messages before them. A STATE closes
  its epoch; it is released once no record of its epoch (or an earlier one) is unsettled, and
  STATEs are released in the order they came. A record is settled when it is written, skipped
  with a counted reason, or in the retry queue with a reason a retry cannot fix.
- A stream's records are cut into batches of `batch_size` records, or fewer when their
  follow-up calls would carry more (`Sender.prepare`: 100 contacts with 110 consents would
  need two consent calls); a full batch goes to a worker
  thread at once, so reading and mapping go on while batches are in flight. At most
  `concurrency` batches are in flight (each makes its calls one after another), so memory holds
  at most `concurrency + 1` batches per stream.
- A STATE does not flush a half-full batch; the end of input does, a batch of another stream
  does (its records came first, or the other stream `follows` it: contacts before the orders
  that reference them), and so does a batch that has waited `flush_after` seconds while a
  STATE waits for it.
- Two batches never run at once when they touch the same record, nor when they belong to
  different streams (orders and deletions must see the contacts sent before them).
- A failure that is not about a record (`context.Transient`, `context.Fatal`, or any error)
  stops the writer: batches in flight finish, no new one starts, the STATEs their records
  complete are still released, and `finish`/`abort` raise it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from destination_crmone.delivery.context import Pending, Tally, WriteContext
from destination_crmone.delivery.sender import IgnoredSender, Sender
from destination_crmone.journal import QueueItem
from destination_crmone.versions import is_newer

logger = logging.getLogger("airbyte")

FLUSH_AFTER_SECONDS = 3.0


def stream_routes(
    streams: list[str], prefix: str | None, known: Iterable[str]
) -> dict[str, str | None]:
    """Catalog stream name → the stream it is (`customers`…), or None: no use in CRM One.

    A connection may prefix stream names (`ct_customers`): the configured `prefix` is stripped
    first; without one, a name that ends in `_<known stream>` is that stream.
    """
    known = tuple(known)
    routes: dict[str, str | None] = {}
    for name in dict.fromkeys(streams):
        if name in known:
            routes[name] = name
        elif prefix and name.startswith(prefix) and name[len(prefix) :] in known:
            routes[name] = name[len(prefix) :]
        else:
            routes[name] = next(
                (k for k in known if not prefix and name.endswith(f"_{k}")),
                None,
            )
    return routes


@dataclass
class WaitingState:
    epoch: int
    message: Any
    tallies: list[Tally]


@dataclass(eq=False)
class Batch:
    stream: str
    keys: frozenset[str]
    future: Future[None]


class Writer:
    def __init__(
        self,
        ctx: WriteContext,
        streams: list[str],
        *,
        prefix: str | None = None,
        senders: Mapping[str, type[Sender]],
        follows: Mapping[str, tuple[str, ...]] | None = None,
        flush_after: float | None = None,
    ) -> None:
        """`senders`: stream (without prefix) → its sender; `follows`: stream → the streams
        whose buffered records are sent before a batch of it (the stream table's)."""
        self.ctx = ctx
        ctx.settle = self._settle
        self._senders_by_kind = senders
        self._follows = dict(follows or {})
        self._prefix = prefix
        self.routes = stream_routes(streams, prefix, senders)
        self.ignored: list[str] = []
        self._senders: dict[str, Sender] = {}
        self._buffers: dict[str, list[Pending]] = {}
        self._buffered_at: dict[str, float] = {}
        self._weights: dict[str, int] = {}  # per buffer: records its largest call would carry
        self._flush_after = FLUSH_AFTER_SECONDS if flush_after is None else flush_after
        self._pool = ThreadPoolExecutor(max_workers=max(1, ctx.concurrency))
        self._in_flight: list[Batch] = []
        self._lock = threading.Lock()
        self._open: Counter[int] = Counter()
        self._epoch = 0
        self._states: deque[WaitingState] = deque()
        self._failure: BaseException | None = None
        self._queued: dict[str, dict[str, QueueItem]] = {}
        self.checkpointed = 0  # records covered by released STATEs
        for name in self.routes:
            self._sender(name)

    # --- streams -------------------------------------------------------------------------

    def _sender(self, name: str) -> Sender:
        sender = self._senders.get(name)
        if sender is None:
            if name not in self.routes:  # not in the catalog: Airbyte does not send these
                routes = stream_routes([name], self._prefix, self._senders_by_kind)
                self.routes[name] = routes[name]
            kind = self.routes[name]
            if kind is None:
                self.ignored.append(name)
                logger.warning("ignored stream %s: it has no use in CRM One", name)
                sender = IgnoredSender(name, self.ctx)
            else:
                sender = self._senders_by_kind[kind](name, self.ctx)
            self._senders[name] = sender
        return sender

    # --- input -----------------------------------------------------------------------------

    def resend_queue(self, *, woken_only: bool = False) -> None:
        """Due queue items of the catalog's streams go first, through the same senders (items
        past `retry_max_days` are parked first); those still pending afterwards wait for their
        next attempt, their contact, or a newer version of their record. At the end of a run
        (`woken_only`) the items whose contact this run wrote are re-sent."""
        journal = self.ctx.journal
        if not self.ctx.dry_run and not woken_only:
            self.ctx.stats.add_queue("parked", journal.park_expired())
        for name in list(self._senders):
            for queued in journal.due(name, woken_only=woken_only):
                if not queued.payload:
                    continue  # kept no payload: waits for a newer version of its record
                self.ctx.stats.add(name, "retried_from_queue")
                self._add(name, queued.payload, None, queued.id)
        self._flush_all()
        self._wait(lambda batch: True)
        self._raise_failure()
        self._queued = {
            name: {queued.record_key: queued for queued in journal.pending(name)}
            for name in self._senders
        }

    def add(self, stream: str, record: dict[str, Any], tally: Tally | None = None) -> None:
        self._raise_failure()
        self.ctx.stats.add(stream, "received")
        self._add(stream, record, tally, None)

    def _add(
        self, stream: str, record: dict[str, Any], tally: Tally | None, queue_id: int | None
    ) -> None:
        sender = self._sender(stream)
        item = Pending(stream, record, queue_id, self._epoch, tally)
        if queue_id is None:
            item.queue_id = self._takes_over(stream, item)
        with self._lock:
            self._open[item.epoch] += 1
        if isinstance(sender, IgnoredSender):
            sender.send([item])
            return
        weight, limit = sender.prepare(item), self.ctx.batch_size
        if self._buffers.get(stream) and self._weights[stream] + weight > limit:
            self._flush(stream)  # this record's follow-up would not fit the batch's call
        buffer = self._buffers.setdefault(stream, [])
        if not buffer:
            self._buffered_at[stream] = time.monotonic()
            self._weights[stream] = 0
        buffer.append(item)
        self._weights[stream] += weight
        if len(buffer) >= limit or self._weights[stream] >= limit:
            self._flush(stream)

    def _takes_over(self, stream: str, item: Pending) -> int | None:
        """A newer version supersedes a pending queue item of the same record; the same
        version takes the item over (written → sent, failing → attempts + 1)."""
        queued = self._queued.get(stream, {}).pop(item.key, None)
        if queued is None:
            return None
        if queued.record_version == item.version:
            return queued.id
        newer = is_newer(item.version, queued.record_version) or item.version is None
        if newer and not self.ctx.dry_run:
            count = self.ctx.journal.supersede_older(stream, queued.record_key, item.version)
            self.ctx.stats.add(stream, "superseded", count)
        return None

    def state(self, message: Any, tallies: list[Tally]) -> None:
        """A STATE: released once every record before it is settled."""
        with self._lock:
            self._states.append(WaitingState(self._epoch, message, tallies))
            self._epoch += 1

    # --- batches -----------------------------------------------------------------------------

    def _flush(self, stream: str) -> None:
        """Send `stream`'s batch, after the batches of the streams it follows (orders follow
        customers) and of the streams whose records came first."""
        follows = self._follows.get(self.routes.get(stream) or "", ())
        for name in list(self._buffers):
            if self.routes.get(name) in follows:
                self._submit(name)
        for name in list(self._buffers):  # in the order of their first records
            self._submit(name)
            if name == stream:
                return

    def _submit(self, stream: str) -> None:
        items = self._buffers.pop(stream, [])
        self._buffered_at.pop(stream, None)
        if not items:
            return
        sender = self._senders[stream]
        keys = frozenset(sender.key(item) for item in items)
        self._wait(lambda batch: batch.stream != stream or not batch.keys.isdisjoint(keys))
        while len(self._in_flight) >= max(1, self.ctx.concurrency):
            self._wait_one()
        if self._failure is not None:
            return  # nothing new starts after a failure; the records stay unsettled
        future = self._pool.submit(self._run, sender, items)
        self._in_flight.append(Batch(stream, keys, future))

    def _run(self, sender: Sender, items: list[Pending]) -> None:
        try:
            sender.send(items)
        except BaseException as error:  # handed to the main thread
            with self._lock:
                if self._failure is None:
                    self._failure = error

    def _wait_one(self) -> None:
        wait([batch.future for batch in self._in_flight], return_when=FIRST_COMPLETED)
        self._in_flight = [batch for batch in self._in_flight if not batch.future.done()]

    def _wait(self, blocks: Any) -> None:
        """Wait for every batch in flight for which `blocks(batch)` is true."""
        blocking = [batch.future for batch in self._in_flight if blocks(batch)]
        if blocking:
            wait(blocking)
            self._in_flight = [batch for batch in self._in_flight if not batch.future.done()]

    def _flush_all(self) -> None:
        for stream in list(self._buffers):
            self._flush(stream)

    def tick(self) -> None:
        """Flush batches that have waited `flush_after` seconds while a STATE waits."""
        if not self._states:
            return
        now = time.monotonic()
        for stream, since in list(self._buffered_at.items()):
            if now - since >= self._flush_after:
                self._flush(stream)

    # --- state release -----------------------------------------------------------------------

    def _settle(self, item: Pending, rejected: bool) -> None:
        with self._lock:
            self._open[item.epoch] -= 1
            if rejected and item.tally is not None:
                item.tally.rejected += 1

    def rejected_unread(self, tally: Tally) -> None:
        """A record refused before it could be read (an input limit): counted by `tally` as
        received and rejected, like one a sender queued."""
        with self._lock:
            tally.records += 1
            tally.rejected += 1

    def released(self) -> Iterator[tuple[Any, int, int]]:
        """(STATE message, records, rejected records) of every STATE that may go out now."""
        while True:
            with self._lock:
                if not self._states or self._open[self._states[0].epoch] > 0:
                    return
                waiting = self._states.popleft()
                del self._open[waiting.epoch]
            records = sum(t.records for t in waiting.tallies)
            rejected = sum(t.rejected for t in waiting.tallies)
            self.checkpointed += records
            yield waiting.message, records, rejected

    def finish(self) -> Iterator[tuple[Any, int, int]]:
        """End of input: flush everything, wait, release; raise a failure if one happened."""
        self._flush_all()
        self._wait(lambda batch: True)
        yield from self.released()
        self._raise_failure()

    def abort(self) -> Iterator[tuple[Any, int, int]]:
        """After a failure: let batches in flight finish and release what they complete."""
        self._wait(lambda batch: True)
        yield from self.released()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    @property
    def failure(self) -> BaseException | None:
        return self._failure

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure
