"""`destination-crmone journal --config C (runs|failures|queue|calls|review)`: read the journal."""

from __future__ import annotations

import argparse
import json
from typing import Any

from destination_crmone.journal import JournalError, open_journal

QUERIES = {
    "runs": (
        "SELECT run_id, started_at, ended_at, status, stats FROM runs ORDER BY started_at DESC",
        ["run_id", "started_at", "ended_at", "status", "stats"],
    ),
    "queue": (
        "SELECT id, stream, record_key, kind, code, status, attempts, reason FROM retry_queue"
        " WHERE status = 'pending' ORDER BY id",
        ["id", "stream", "record_key", "kind", "code", "status", "attempts", "reason"],
    ),
    "failures": (
        "SELECT run_id, method, path, status, attempt, correlation_id, error FROM sync_log"
        " WHERE status IS NULL OR status >= 400 ORDER BY id DESC",
        ["run_id", "method", "path", "status", "attempt", "correlation_id", "error"],
    ),
    "calls": (
        "SELECT run_id, method, path, status, attempt, started_at, ended_at, correlation_id,"
        " idempotency_key FROM sync_log ORDER BY id DESC",
        [
            "run_id",
            "method",
            "path",
            "status",
            "attempt",
            "started_at",
            "ended_at",
            "correlation_id",
            "idempotency_key",
        ],
    ),
    "review": (
        "SELECT run_id, kind, external_id, existing_id, detail, created_at FROM review"
        " ORDER BY id DESC",
        ["run_id", "kind", "external_id", "existing_id", "detail", "created_at"],
    ),
}


def _rows(journal: Any, what: str, run: str | None, limit: int) -> tuple[list[str], list[tuple]]:
    statement, columns = QUERIES[what]
    params: tuple = ()
    if run and what != "queue":
        where = " WHERE run_id = ?" if " WHERE " not in statement else " AND run_id = ?"
        head, order = statement.split(" ORDER BY ")
        statement = f"{head}{where} ORDER BY {order}"
        params = (run,)
    return columns, journal.query(f"{statement} LIMIT {int(limit)}", params)


def _table(columns: list[str], rows: list[tuple]) -> str:
    cells = [[("" if v is None else str(v))[:60] for v in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))
    body = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join([line, "  ".join("-" * w for w in widths), *body])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="destination-crmone journal", description="Read the sync log and retry queue."
    )
    parser.add_argument("--config", required=True, help="the destination config JSON")
    parser.add_argument("what", choices=sorted(QUERIES))
    parser.add_argument("--run", help="only this run id")
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    args = parser.parse_args(argv)
    with open(args.config) as handle:
        config = json.load(handle)
    try:
        journal = open_journal(
            config.get("journal") or {"type": "sqlite"}, redact_pii=config.get("redact_pii", True)
        )
    except (JournalError, KeyError) as error:
        print(f"error: {error}")
        return 2
    try:
        columns, rows = _rows(journal, args.what, args.run, args.limit)
    finally:
        journal.close()
    if args.json:
        for row in rows:
            print(json.dumps(dict(zip(columns, row, strict=True)), default=str))
    else:
        print(_table(columns, rows))
    return 0
