"""What the demo prints: a progress line while a sync runs, a readable report per run after.

A run's report joins three views of one sync: what passed through the pipe (records per
stream, states), what the destination did (its journal's `runs.stats`, see
destination_crmone/stats.py), and how many requests each server answered (sandbox mode).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from demo.pipeline import Sync, SyncResult


def _group(label: str, prefix: str, *words: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return label, tuple((f"{prefix}{word}", word) for word in words)


# Destination counters shown per stream, grouped as a person reads them: label, (counter, word).
GROUPS = (
    _group("contacts", "contacts_", "created", "updated", "unchanged", "skipped", "attached"),
    _group("consents", "consents_", "applied", "stale", "unchanged"),
    _group("list members", "list_members_", "added", "removed"),
    _group("guest contacts", "guest_contacts_", "created", "existing"),
    _group("carts", "carts_", "open", "abandoned", "recovered", "skipped"),
    _group("activities", "activities_", "created", "updated", "unchanged"),
    _group("objects", "objects_", "created", "updated", "unchanged"),
    _group("orders", "orders_", "skipped"),
    ("payments", (("payments_without_order", "without a written order yet"),)),
    _group("order history", "order_history_", "created", "updated", "unchanged"),
    _group("deletions", "deletions_", "archived", "erased", "unchanged", "not_found", "ignored"),
    ("other messages", (("not_deletions", "acknowledged"),)),
    _group(
        "dry run, would",
        "dry_run_would_",
        "create",
        "update",
        "send_activities",
        "send_objects",
        "archive",
        "erase",
    ),
)
ALWAYS_SHOWN = frozenset({"contacts", "consents", "activities", "deletions"})
QUEUE_WORDS = {  # retry-queue counters, in a user's words
    "rejected": "rejected",
    "partial": "written without an invalid value",
    "failed": "failed after retries",
    "retried_from_queue": "re-sent from the queue",
    "waiting_for_contact": "waiting for their contact",
    "superseded": "superseded by a newer version",
}
EXAMPLE_CHARS = 110
FIRST_STREAMS = ("customers", "carts", "orders", "messages")
REASON_KINDS = ("rejected", "partial", "failed", "warnings")


@dataclass
class RunReport:
    """Everything known about one sync, as printed and as saved in summary.json."""

    title: str
    sync: SyncResult
    destination_run: dict[str, Any] | None = None
    requests: dict[str, int] | None = None  # per server, sandbox mode only
    changes: dict[str, list[str]] = field(default_factory=dict)  # the mutation before it

    @property
    def stats(self) -> dict[str, Any]:
        run = self.destination_run or {}
        return run.get("stats") or {}

    def as_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "ok": self.sync.ok,
            "sync": {**asdict(self.sync), "records": dict(self.sync.records)},
            "destination_run": self.destination_run,
            "requests": self.requests,
            "changes": self.changes,
        }


def number(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"


def progress_line(sync: Sync) -> str:
    result = sync.result
    read = " · ".join(f"{name} {number(n)}" for name, n in _ordered(result.records.items()))
    return (
        f"  [{result.label}] {sync.elapsed:6.1f} s  read: {read or '…'}  |  states: "
        f"{result.states_sent} sent, {result.states_echoed} echoed"
    )


def _ordered(items: Any) -> list[tuple[str, Any]]:
    rank = {name: i for i, name in enumerate(FIRST_STREAMS)}
    return sorted(items, key=lambda item: (rank.get(item[0], len(rank)), item[0]))


def render_run(report: RunReport) -> str:
    sync = report.sync
    outcome = "ok" if sync.ok else "FAILED"
    lines = [
        f"{report.title}: {outcome}, {sync.duration_seconds:.1f} s "
        f"(source exit {sync.source_exit}, destination exit {sync.destination_exit})"
    ]
    if report.changes:
        changed = ", ".join(
            f"{kind.replace('_', ' ')} {len(ids)}" for kind, ids in report.changes.items()
        )
        lines.append(f"  changed before this run: {changed}")
    lines.append(_requests_line(report))
    lines.append(
        f"  states: {sync.states_sent} sent by the source, {sync.states_echoed} echoed by the "
        "destination"
    )
    lines.append(f"  {'stream':<16}{'read':>8}  in CRM One")
    streams = report.stats.get("streams", {})
    names = dict.fromkeys([*sync.records, *streams])
    for name, _ in _ordered((name, None) for name in names):
        lines += _stream_lines(name, sync.records.get(name, 0), streams.get(name))
    lines += _reason_lines(streams)
    lines += _queue_lines(report.stats.get("queue") or {})
    if report.destination_run is None:
        lines.append("  (the destination recorded no run statistics)")
    elif report.destination_run.get("status") != "succeeded":
        lines.append(f"  destination run status: {report.destination_run.get('status')}")
    lines += [f"  error: {error}" for error in sync.errors]
    return "\n".join(lines)


def _requests_line(report: RunReport) -> str:
    stats = report.stats
    crm = stats.get("requests")
    if report.requests is not None:
        commercetools = number(report.requests.get("commercetools", 0))
        crm = report.requests.get("crmone", crm)
    else:
        commercetools = "n/a"
    retries = stats.get("retries")
    crm_text = "n/a" if crm is None else number(crm)
    retry_text = "" if retries is None else f" ({number(retries)} retries by the destination)"
    return f"  requests: commercetools {commercetools}, CRM One {crm_text}{retry_text}"


def _stream_lines(name: str, read: int, part: dict[str, Any] | None) -> list[str]:
    head = f"  {name:<16}{number(read):>8}  "
    if part is None:
        return [head + "(no destination statistics)"]
    counts: dict[str, int] = part.get("counts", {})
    details = []
    for label, counters in GROUPS:
        values = [(word, counts[counter]) for counter, word in counters if counter in counts]
        if values and (label in ALWAYS_SHOWN or any(value for _, value in values)):
            details.append(f"{label}: " + ", ".join(f"{number(v)} {w}" for w, v in values))
    queued = [
        f"{number(counts[key])} {words}" for key, words in QUEUE_WORDS.items() if counts.get(key)
    ]
    if queued:
        details.append("retry queue: " + ", ".join(queued))
    if not details:
        details.append("acknowledged (nothing to write)" if counts.get("ignored") else "nothing")
    pad = " " * len(head)
    return [head + details[0], *(pad + detail for detail in details[1:])]


def _queue_lines(queue: dict[str, int]) -> list[str]:
    """The retry queue after the run: what waits, what was given up on (parked)."""
    if not any(queue.values()):
        return []
    line = (
        f"  retry queue after the run: {number(queue.get('pending_total', 0))} pending, "
        f"{number(queue.get('parked_total', 0))} parked"
    )
    if queue.get("woken"):
        line += f"; {number(queue['woken'])} re-sent once their contact was written"
    if queue.get("parked_total"):
        line += " (destination-crmone journal --config … queue --parked)"
    return [line]


def _reason_lines(streams: dict[str, Any]) -> list[str]:
    lines = []
    for name, part in _ordered(streams.items()):
        for kind in REASON_KINDS:
            for code, count in sorted(part.get(f"{kind}_by_code", {}).items()):
                example = (part.get("examples", {}).get(f"{kind}:{code}") or [""])[0]
                if len(example) > EXAMPLE_CHARS:
                    example = example[: EXAMPLE_CHARS - 1] + "…"
                lines.append(
                    f"    {name} {kind} {code} x{count}" + (f": e.g. {example}" if example else "")
                )
    return ["  reasons (grouped by code):", *lines] if lines else []


def render(reports: list[RunReport]) -> str:
    rule = "─" * 78
    body = f"\n{rule}\n".join(render_run(report) for report in reports)
    return f"{rule}\n{body}\n{rule}"


def render_crm_totals(
    crm: dict[str, Any], commercetools: dict[str, Any], deleted: list[str]
) -> str:
    """The closing check of sandbox mode: is every commercetools customer a CRM One contact?"""
    contacts = crm.get("contacts", [])
    known = {contact["external_id"] for contact in contacts if contact.get("external_id")}
    customers = {customer["id"] for customer in commercetools.get("customers", [])} | set(deleted)
    missing = customers - known
    archived = sum(1 for contact in contacts if contact.get("archived"))
    consents = sum(len(items) for items in crm.get("consents", {}).values())
    members = sum(len(found.get("members", [])) for found in crm.get("lists", []))
    verdict = (
        f"every one of the {number(len(customers))} commercetools customers is a contact"
        if not missing
        else f"{number(len(missing))} of {number(len(customers))} commercetools customers are "
        "not contacts (rejected: see the reasons above and the journal's retry queue)"
    )
    guests = sum(1 for contact in contacts if not contact.get("external_id"))
    return (
        f"CRM One now holds {number(len(contacts))} contacts ({number(archived)} archived after "
        f"CustomerDeleted, {number(guests)} guest buyers by email), {number(consents)} consents, "
        f"{number(len(crm.get('activities', [])))} activities, {number(members)} list "
        f"memberships:\n  {verdict}.\n  activities: {_activity_types(crm)}"
    )


def _activity_types(crm: dict[str, Any]) -> str:
    """Activities per type, in the order a buyer meets them; recovered carts counted."""
    order = ("checkout_started", "cart_abandoned", "order_placed", "order_updated")
    order += ("order_returned", "order_cancelled")
    found = Counter(activity.get("type") for activity in crm.get("activities", []))
    recovered = sum(
        1
        for activity in crm.get("activities", [])
        if activity.get("type") == "cart_abandoned"
        and (activity.get("properties") or {}).get("recovered")
    )
    names = [*order, *sorted(name for name in found if name not in order)]
    text = ", ".join(f"{name} {number(found[name])}" for name in names if found[name])
    return (text or "none") + (
        f" ({number(recovered)} abandoned carts recovered)" if recovered else ""
    )
