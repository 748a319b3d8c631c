"""CRM One's answer to a batch call, read in one place.

A batch reply holds `results` and `errors`, each naming the sent record it is about by its
`index` (docs: /work/shared/crmone-api/CONTRACT.md). Every sender reads replies through
`read_reply`, so the guards are the same everywhere: an entry that is not an object, or whose
index is not an int (a bool is not one) naming a sent record, names no record.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Entry = Mapping[str, Any]


def indexed(entries: Any, size: int) -> Iterable[tuple[int, Entry]]:
    """(index, entry) of a reply's `results` or `errors` whose index names a sent record."""
    for entry in entries or []:
        index = entry.get("index") if isinstance(entry, Mapping) else None
        if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < size:
            yield index, entry


def error_text(error: Entry) -> tuple[str, str]:
    """(code, reason) of one per-record error of a batch reply."""
    code = str(error.get("code") or "error")
    where = f" ({error['field']})" if error.get("field") else ""
    return code, f"{code}{where}: {error.get('message') or error.get('detail') or ''}".strip()


@dataclass
class BatchReply:
    """One batch reply of `size` sent records, read with the guards.

    `results`/`errors`: (index, entry) naming a sent record, in reply order; `statuses`: the
    `status` of every result entry; `every_error`: every error entry (some calls name records
    by another key, e.g. `external_id`)."""

    size: int
    results: list[tuple[int, Entry]] = field(default_factory=list)
    errors: list[tuple[int, Entry]] = field(default_factory=list)
    statuses: list[Any] = field(default_factory=list)
    every_error: list[Entry] = field(default_factory=list)

    def answers(self) -> dict[int, tuple[str, Entry]]:
        """index → ("result" | "error", entry): the first answer per record, results first."""
        first: dict[int, tuple[str, Entry]] = {}
        for index, result in self.results:
            first.setdefault(index, ("result", result))
        for index, error in self.errors:
            first.setdefault(index, ("error", error))
        return first

    def unanswered(self) -> list[int]:
        """Indexes of sent records the reply names neither in a result nor in an error."""
        answered = self.answers()
        return [index for index in range(self.size) if index not in answered]


def read_reply(response: Any, size: int) -> BatchReply:
    """The reply of a batch call that sent `size` records."""
    body = response if isinstance(response, Mapping) else {}
    results = body.get("results") if isinstance(body.get("results"), list) else []
    errors = body.get("errors") if isinstance(body.get("errors"), list) else []
    return BatchReply(
        size=size,
        results=list(indexed(results, size)),
        errors=list(indexed(errors, size)),
        statuses=[entry.get("status") for entry in results if isinstance(entry, Mapping)],
        every_error=[entry for entry in errors if isinstance(entry, Mapping)],
    )
