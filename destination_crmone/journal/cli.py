"""`destination-crmone journal --config C.json (runs|failures|queue|calls|review)`.

Reads only `journal` and `redact_pii` from the config, so it works with any destination
config, even one the rest of the connector would refuse. Plain tables by default; `--json`
prints one JSON object per line (with the bodies and stats in full).

- runs      the runs, newest first, with their request and record counts
- failures  records that could not be written (retry-queue rows of any status), newest first
- queue     what later runs re-send (pending retry-queue rows: when, or what they wait for),
            oldest first; `queue --parked`: the rows given up on, for people to look at
- calls     the sync log: every CRM One call attempt, newest first
- review    items for people: email conflicts and dry-run changes, newest first
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connectors_common import secrets
from destination_crmone.journal import JournalError, hide_password, open_journal


@dataclass(frozen=True)
class View:
    table: str
    columns: tuple[str, ...]  # selected, and shown by --json
    where: str  # a fixed condition, or ""
    order: str
    table_columns: tuple[str, ...]  # shown in the plain table


VIEWS = {
    "runs": View(
        "runs",
        ("run_id", "started_at", "ended_at", "status", "stats", "config_summary"),
        "",
        "started_at DESC",
        ("run_id", "started_at", "ended_at", "status", "records", "requests", "retries"),
    ),
    "failures": View(
        "retry_queue",
        (
            "id",
            "run_id",
            "stream",
            "record_key",
            "record_version",
            "kind",
            "code",
            "status",
            "attempts",
            "first_failed_at",
            "last_failed_at",
            "reason",
        ),
        "",
        "last_failed_at DESC, id DESC",
        ("id", "run_id", "stream", "record_key", "kind", "code", "status", "attempts", "reason"),
    ),
    "queue": View(
        "retry_queue",
        (
            "id",
            "run_id",
            "stream",
            "record_key",
            "record_version",
            "kind",
            "code",
            "attempts",
            "first_failed_at",
            "last_failed_at",
            "next_attempt_at",
            "waiting_for",
            "reason",
        ),
        "status = 'pending'",
        "id",
        (
            "id",
            "stream",
            "record_key",
            "kind",
            "code",
            "attempts",
            "next_attempt_at",
            "waiting_for",
            "reason",
        ),
    ),
    "calls": View(
        "sync_log",
        (
            "id",
            "run_id",
            "started_at",
            "ended_at",
            "duration_ms",
            "method",
            "path",
            "status",
            "attempt",
            "correlation_id",
            "request_id",
            "idempotency_key",
            "error",
            "request_body",
            "response_body",
        ),
        "",
        "id DESC",
        (
            "started_at",
            "method",
            "path",
            "status",
            "attempt",
            "duration_ms",
            "correlation_id",
            "idempotency_key",
            "error",
        ),
    ),
    "review": View(
        "review",
        ("id", "run_id", "created_at", "kind", "external_id", "existing_id", "detail"),
        "",
        "id DESC",
        ("created_at", "run_id", "kind", "external_id", "existing_id", "detail"),
    ),
}
JSON_COLUMNS = frozenset({"stats", "config_summary", "request_body", "response_body", "detail"})
CELL_WIDTH = 72


PARKED_QUEUE = View(
    "retry_queue",
    VIEWS["queue"].columns,
    "status = 'parked'",
    "id",
    ("id", "stream", "record_key", "kind", "code", "attempts", "first_failed_at", "reason"),
)


def _statement(view: View, run: str | None) -> tuple[str, tuple[Any, ...]]:
    conditions = [c for c in (view.where, "run_id = ?" if run else "") if c]
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    select = f"SELECT {', '.join(view.columns)} FROM {view.table}"
    return f"{select}{where} ORDER BY {view.order} LIMIT ?", (run,) if run else ()


def _run_counts(stats: Any) -> dict[str, Any]:
    """records / requests / retries of a run, from its stats JSON (any missing part left out)."""
    if not isinstance(stats, dict):
        return {}
    counts: dict[str, Any] = {k: stats[k] for k in ("requests", "retries") if k in stats}
    streams = stats.get("streams")
    if isinstance(streams, dict):
        counts["records"] = sum(
            int((part.get("counts") or {}).get("received", 0))
            for part in streams.values()
            if isinstance(part, dict)
        )
    return counts


def _view(what: str, parked: bool = False) -> View:
    return PARKED_QUEUE if what == "queue" and parked else VIEWS[what]


def _rows(
    journal: Any, what: str, run: str | None, limit: int, parked: bool = False
) -> list[dict[str, Any]]:
    view = _view(what, parked)
    statement, params = _statement(view, run)
    columns = view.columns
    rows = []
    for values in journal.query(statement, (*params, limit)):
        row = dict(zip(columns, values, strict=True))
        for name in JSON_COLUMNS & row.keys():
            if isinstance(row[name], str):
                with contextlib.suppress(ValueError):
                    row[name] = json.loads(row[name])
        if what == "runs":
            row.update(_run_counts(row.get("stats")))
        rows.append(row)
    return rows


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    text = " ".join(text.split())
    return text if len(text) <= CELL_WIDTH else text[: CELL_WIDTH - 1] + "…"


def table(columns: tuple[str, ...], rows: list[dict[str, Any]]) -> str:
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)


def _journal_spec(config: dict[str, Any]) -> dict[str, Any]:
    spec = config.get("journal")
    if isinstance(spec, dict) and (spec.get("path") or spec.get("dsn")):
        return spec
    from destination_crmone.journal.placement import default_journal_path

    return {"type": "sqlite", "path": default_journal_path()}


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="destination-crmone journal",
        description="Read the CRM One destination's journal: runs, failures, the retry queue, "
        "the sync log and review items.",
    )
    parser.add_argument("--config", required=True, help="the destination config JSON file")
    parser.add_argument("what", choices=list(VIEWS), help="what to list")
    parser.add_argument("--run", help="only this run id")
    parser.add_argument("--limit", type=int, default=50, help="at most this many rows (50)")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument(
        "--parked", action="store_true", help="with queue: the parked rows (given up on)"
    )
    return parser


def say(text: str, *, error: bool = False) -> None:
    """Every line the command prints, without the config's secrets (`secrets.scrub`): rows
    written before the journal filtered them may still hold one."""
    print(secrets.scrub(text), file=sys.stderr if error else sys.stdout)


def remember_secrets(config: dict[str, Any]) -> None:
    """The config's secrets, as the connector knows them, so `say` can filter them."""
    client_id, client_secret = config.get("client_id"), config.get("client_secret")
    if isinstance(client_id, str) and isinstance(client_secret, str) and client_secret:
        secrets.remember_client(client_id, client_secret)
    journal = config.get("journal")
    if isinstance(journal, dict) and isinstance(journal.get("dsn"), str):
        secrets.remember_dsn(journal["dsn"])


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    try:
        config = json.loads(Path(args.config).read_text())
        if not isinstance(config, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as error:
        say(f"error: cannot read --config {args.config}: {error}", error=True)
        return 2
    remember_secrets(config)
    spec = _journal_spec(config)
    kind = spec.get("type") or ("postgres" if spec.get("dsn") else "sqlite")
    if kind == "sqlite" and not Path(str(spec.get("path"))).expanduser().exists():
        say(f"error: journal.path: no journal at {spec.get('path')} yet", error=True)
        return 2
    try:
        journal = open_journal(spec, redact_pii=bool(config.get("redact_pii", True)))
    except JournalError as error:
        say(f"error: {error}", error=True)
        return 2
    try:
        rows = _rows(journal, args.what, args.run, max(0, args.limit), args.parked)
    except Exception as error:
        say(f"error: reading the journal failed: {hide_password(str(error))}", error=True)
        return 2
    finally:
        journal.close()
    if args.json:
        for row in rows:
            say(json.dumps(row, default=str, ensure_ascii=False))
    elif rows:
        say(table(_view(args.what, args.parked).table_columns, rows))
    else:
        say(f"(no {'parked ' if args.parked else ''}{args.what})")
    return 0
