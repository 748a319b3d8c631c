"""Run statistics: the one place where a write run counts what happened.

Sinks count outcomes per stream (`add`, `reject`, `warn`); the client's call observer counts
requests and retries (`observe_call`). `as_dict` is the JSON kept in the journal's `runs.stats`
column (its shape is documented in docs/internals.md, "Run statistics"); `summary_text` is the
readable summary logged once at the end of a run.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from typing import Any

from destination_crmone.crmone.calllog import CallRecord

EXAMPLES_PER_CODE = 3

# Every stream starts with these counters at zero, so readers can rely on the keys.
COMMON_COUNTERS = (
    "received",  # records read from the input
    "retried_from_queue",  # retry-queue items re-sent at the start of the run
    "superseded",  # queue items replaced by a newer version of the same record
    "deduplicated",  # older copies of a record dropped inside one batch
    "queued",  # records put in (or kept in) the retry queue, for any reason below
    "rejected",  # refused: by validation or by CRM One per record (see rejected_by_code)
    "failed",  # the request still failed after the client's retries
    "partial",  # written without invalid optional values (and queued with their reasons)
)
STREAM_COUNTERS: dict[str, tuple[str, ...]] = {
    "customers": (
        "contacts_created",
        "contacts_updated",
        "contacts_unchanged",
        "contacts_skipped",  # nothing to change after the ownership rules: not sent
        "contacts_attached",  # a contact known only by email got its external_id
        "consents_skipped",  # unchanged since they were last written: not sent
        "consents_applied",
        "consents_stale",
        "consents_unchanged",
        "list_members_added",
        "list_members_removed",  # left the lists of rules it no longer matches
        "filtered",  # customers the filters do not take: not written, not rejected
        "contacts_archived",  # archived on leaving the filters (`on_leave: archive`)
    ),
    "orders": (
        "activities_created",
        "activities_updated",
        "activities_unchanged",
        "objects_created",
        "objects_updated",
        "objects_unchanged",
        "orders_skipped",
        "filtered",  # their customer (or, for a guest, the order) is not taken
    ),
    "carts": (
        "activities_created",  # checkout_started (and cart_recovered) activities
        "activities_updated",
        "activities_unchanged",
        "carts_skipped",  # emptied, or a guest's under `guest_orders: skip`
        "carts_open",  # remembered open: the end of a run may find them abandoned
        "carts_recovered",  # an abandoned cart later ordered
        "carts_abandoned",  # cart_abandoned written at the end of the run
        "waiting_for_contact",  # queued until their contact is written
        "filtered",  # their customer (or, for a guest, the cart) is not taken
    ),
    "stores": (
        "stores_remembered",  # languages kept for localized values
        "stores_without_key",
    ),
    "payments": (
        "objects_created",  # order objects given the payment properties
        "objects_updated",
        "objects_unchanged",
        "payments_without_order",  # remembered until an order names them
    ),
    "messages": (
        "deletions_archived",
        "deletions_erased",
        "deletions_unchanged",  # already archived
        "deletions_not_found",
        "deletions_ignored",
        "not_deletions",  # other message types: acknowledged, nothing to do
    ),
}


class RunStats:
    """Thread-safe counters per stream, plus request counts from the call observer."""

    def __init__(self, *, dry_run: bool = False) -> None:
        self.dry_run = dry_run
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self.counts: dict[str, Counter[str]] = {}
        self.by_code: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
        self.examples: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        self.requests = 0
        self.retries = 0
        self.queue: Counter[str] = Counter()  # the retry queue: woken, parked, pending, …
        self.ignored_streams: list[str] = []

    def stream(self, name: str) -> Counter[str]:
        """The counters of one stream, created with its known keys at zero."""
        with self._lock:
            return self._stream(name)

    def _stream(self, name: str) -> Counter[str]:
        if name not in self.counts:
            keys = COMMON_COUNTERS + STREAM_COUNTERS.get(name, ("ignored",))
            self.counts[name] = Counter(dict.fromkeys(keys, 0))
        return self.counts[name]

    def add(self, stream: str, key: str, count: int = 1) -> None:
        with self._lock:
            self._stream(stream)[key] += count

    def reject(self, stream: str, kind: str, code: str, example: str) -> None:
        """One record into the retry queue: `kind` is rejected, failed or partial."""
        with self._lock:
            counts = self._stream(stream)
            counts[kind] += 1
            counts["queued"] += 1
            self._example(stream, kind, code, example)

    def warn(self, stream: str, code: str, example: str) -> None:
        """A record written with a warning that does not queue it."""
        with self._lock:
            self._stream(stream)
            self._example(stream, "warnings", code, example)

    def _example(self, stream: str, kind: str, code: str, example: str) -> None:
        self.by_code[stream][kind][code] += 1
        examples = self.examples[stream][f"{kind}:{code}"]
        if len(examples) < EXAMPLES_PER_CODE:
            examples.append(example[:300])

    def add_queue(self, key: str, count: int = 1) -> None:
        with self._lock:
            self.queue[key] += count

    def observe_call(self, call: CallRecord) -> None:
        """The client's call observer: every attempt is a request; attempt > 1 is a retry."""
        with self._lock:
            self.requests += 1
            if call.attempt > 1:
                self.retries += 1

    def as_dict(self) -> dict[str, Any]:
        """The JSON kept in the journal's `runs.stats` (docs/internals.md, "Run statistics")."""
        with self._lock:
            streams = {}
            for name in sorted(self.counts):
                part: dict[str, Any] = {"counts": dict(self.counts[name])}
                for kind in ("rejected", "failed", "partial", "warnings"):
                    part[f"{kind}_by_code"] = dict(self.by_code[name].get(kind, {}))
                part["examples"] = {k: list(v) for k, v in self.examples[name].items()}
                streams[name] = part
            return {
                "dry_run": self.dry_run,
                "streams": streams,
                "requests": self.requests,
                "retries": self.retries,
                "queue": dict(self.queue),
                "ignored_streams": list(self.ignored_streams),
                "duration_seconds": round(time.monotonic() - self._started, 3),
            }


def summary_text(stats: dict[str, Any], run_id: str = "") -> str:
    """The readable end-of-run summary: one line per stream, then reasons by code."""
    head = "CRM One dry run" if stats.get("dry_run") else "CRM One sync"
    lines = [
        f"{head} {run_id}: {stats['requests']} requests, {stats['retries']} retries, "
        f"{stats['duration_seconds']} s".replace("  ", " ")
    ]
    for name in stats.get("ignored_streams") or []:
        lines.append(f"  ignored stream {name}: no use in CRM One; its records were acknowledged")
    for name, part in stats["streams"].items():
        counts = ", ".join(f"{k} {v}" for k, v in part["counts"].items() if v)
        lines.append(f"  {name}: {counts or 'nothing'}")
        received = part["counts"].get("received", 0)
        if received and part["counts"].get("rejected", 0) + part["counts"].get("failed", 0) >= (
            received
        ):
            lines.append(
                f"    every record of {name} was rejected: nothing of it reached CRM One; "
                "see the reasons below and `destination-crmone journal queue`"
            )
        for kind in ("rejected", "failed", "partial", "warnings"):
            for code, count in part[f"{kind}_by_code"].items():
                example = (part["examples"].get(f"{kind}:{code}") or [""])[0]
                lines.append(f"    {kind} {code} x{count}, e.g. {example}")
    queue = {k: v for k, v in (stats.get("queue") or {}).items() if v}
    if queue:
        counts = ", ".join(f"{k} {v}" for k, v in queue.items())
        parked = any(k.startswith("parked") for k in queue)
        hint = " (see destination-crmone journal queue --parked)" if parked else ""
        lines.append(f"  retry queue: {counts}{hint}")
    return "\n".join(lines)
