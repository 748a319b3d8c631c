"""The journal, the same tests on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from typing import Any

import pytest

from destination_crmone.crmone.client import CallRecord
from destination_crmone.journal import JournalError, open_journal
from destination_crmone.journal.cli import main
from destination_crmone.journal.redact import REDACTED, redact

V1, V2, V3 = "2026-11-01T10:00:00.000Z", "2026-11-02T10:00:00.000Z", "2026-11-03T10:00:00.000Z"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def spec(request: pytest.FixtureRequest, tmp_path) -> dict[str, Any]:
    if request.param == "sqlite":
        return {"type": "sqlite", "path": str(tmp_path / "nested" / "journal.db")}
    return {"type": "postgres", "dsn": request.getfixturevalue("pg_dsn")}


@pytest.fixture
def journal(spec):
    opened = open_journal(spec)
    yield opened
    opened.close()


def call(**changes: Any) -> CallRecord:
    base = CallRecord(
        method="POST",
        path="/v1/contacts/batch/upsert",
        request_body={
            "id_property": "external_id",
            "records": [
                {
                    "external_id": "ct:1",
                    "properties": {
                        "email": "ana@example.com",
                        "first_name": "Ana",
                        "last_name": "Lima",
                        "phone": "+4915112345678",
                        "street": "Hauptstr. 1",
                        "postal_code": "10115",
                        "city": "Berlin",
                        "birth_date": "1990-01-02",
                        "country": "DE",
                        "store": "eu-web",
                    },
                }
            ],
        },
        response_body={
            "results": [],
            "errors": [
                {
                    "index": 0,
                    "external_id": "ct:1",
                    "code": "invalid_email",
                    "message": "ana@example.com is not deliverable; call +4915112345678",
                }
            ],
        },
        status=200,
        started_at="2026-11-26T18:40:00.000Z",
        ended_at="2026-11-26T18:40:00.120Z",
        attempt=1,
        correlation_id="c-1",
        request_id="r-1",
        idempotency_key="customers.contacts-0-abc",
        duration_ms=120,
    )
    return replace(base, **changes)


def sync_log(journal) -> list[dict[str, Any]]:
    columns = (
        "run_id, method, path, status, started_at, ended_at, duration_ms, attempt,"
        " correlation_id, request_id, idempotency_key, request_body, response_body, error"
    )
    names = [c.strip() for c in columns.split(",")]
    rows = journal.query(f"SELECT {columns} FROM sync_log ORDER BY id")
    return [dict(zip(names, row, strict=True)) for row in rows]


# --- runs and the sync log -------------------------------------------------------------


def test_runs_keep_meta_without_secrets_and_stats(journal):
    journal.start_run("run-1", {"base_url": "http://x", "client_secret": "s3cr3t", "dry_run": 0})
    journal.end_run("run-1", "succeeded", {"requests": 3, "retries": 1})
    (row,) = journal.query("SELECT run_id, status, started_at, ended_at, config_summary FROM runs")
    assert row[:2] == ("run-1", "succeeded")
    assert row[2] <= row[3]
    assert "s3cr3t" not in row[4]
    assert json.loads(row[4])["base_url"] == "http://x"
    assert journal.run_stats("run-1") == {"requests": 3, "retries": 1}


def test_sync_log_keeps_every_column_and_redacts_personal_values(journal):
    journal.log_call("run-1", call())
    (row,) = sync_log(journal)
    assert row["status"] == 200 and row["attempt"] == 1 and row["duration_ms"] == 120
    assert (row["correlation_id"], row["request_id"]) == ("c-1", "r-1")
    assert row["idempotency_key"] == "customers.contacts-0-abc"
    request = json.loads(row["request_body"])
    props = request["records"][0]["properties"]
    for key in ("email", "first_name", "last_name", "phone", "street", "postal_code", "city"):
        assert props[key] == REDACTED, key
    assert props["birth_date"] == REDACTED
    assert (props["country"], props["store"]) == ("DE", "eu-web")  # not personal: kept
    assert request["records"][0]["external_id"] == "ct:1"
    text = row["request_body"] + row["response_body"]
    assert "ana@example.com" not in text and "+4915112345678" not in text and "Lima" not in text
    assert json.loads(row["response_body"])["errors"][0]["code"] == "invalid_email"


def test_sync_log_redacts_query_strings(journal):
    journal.log_call("r", call(method="GET", path="/v1/contacts?email=ana%40example.com"))
    (row,) = sync_log(journal)
    assert "ana" not in row["path"] and row["path"].startswith("/v1/contacts?email=")


def test_redaction_off_keeps_values(spec):
    raw = open_journal(spec, redact_pii=False)
    try:
        raw.log_call("r", call())
        (row,) = sync_log(raw)
        assert "ana@example.com" in row["request_body"]
    finally:
        raw.close()


def test_log_calls_writes_many_in_one_go(journal):
    journal.log_calls("r", [call(attempt=n, status=503 if n < 3 else 200) for n in (1, 2, 3)])
    journal.log_calls("r", [])
    rows = sync_log(journal)
    assert [(r["attempt"], r["status"]) for r in rows] == [(1, 503), (2, 503), (3, 200)]


def test_logging_from_many_threads(journal):
    def log(n: int) -> None:
        for i in range(20):
            journal.log_call("r", call(correlation_id=f"c-{n}-{i}", request_body=None))

    threads = [threading.Thread(target=log, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert journal.query("SELECT COUNT(*) FROM sync_log")[0][0] == 80


def test_a_call_without_response(journal):
    journal.log_call("r", call(status=None, response_body=None, error="ConnectionError: reset"))
    (row,) = sync_log(journal)
    assert row["status"] is None and row["response_body"] is None
    assert row["error"] == "ConnectionError: reset"


# --- the retry queue -------------------------------------------------------------------


def enqueue(journal, key: str = "cust-1", version: str | None = V1, **changes: Any) -> int:
    args: dict[str, Any] = {
        "run_id": "run-1",
        "stream": "customers",
        "record_key": key,
        "record_version": version,
        "payload": {"id": key, "email": "ana@example.com", "lastModifiedAt": version},
        "reason": "email: 'ana@' is not an email address",
        "code": "invalid_email",
        "kind": "rejected",
    }
    return journal.enqueue(**{**args, **changes})


def statuses(journal) -> list[tuple[str, str, str]]:
    rows = journal.query("SELECT record_key, record_version, status FROM retry_queue ORDER BY id")
    return [tuple(r) for r in rows]


def test_queue_keeps_the_original_record_and_its_reason(journal):
    item_id = enqueue(journal)
    (item,) = journal.pending()
    assert item.id == item_id and item.attempts == 1 and item.status == "pending"
    assert item.payload["email"] == "ana@example.com"  # the record to re-send, not redacted
    assert (item.reason, item.code, item.kind) == (
        "email: 'ana@' is not an email address",
        "invalid_email",
        "rejected",
    )
    assert item.first_failed_at == item.last_failed_at and item.run_id == "run-1"


def test_same_version_again_counts_an_attempt(journal):
    first = enqueue(journal)
    again = enqueue(journal, run_id="run-2", reason="still bad", kind="failed", code="timeout")
    assert again == first
    (item,) = journal.pending()
    assert (item.attempts, item.reason, item.kind, item.run_id) == (
        2,
        "still bad",
        "failed",
        "run-2",
    )
    assert item.last_failed_at >= item.first_failed_at


def test_newer_version_supersedes_the_queued_one(journal):
    enqueue(journal, version=V1)
    enqueue(journal, version="2026-11-02T10:00:00Z")  # same instant as V2, other spelling
    assert statuses(journal) == [("cust-1", V1, "superseded"), ("cust-1", V2, "pending")]
    enqueue(journal, version=V1)  # an older copy arriving late is kept, but never re-sent
    assert statuses(journal)[-1] == ("cust-1", V1, "superseded")
    assert [i.record_version for i in journal.pending()] == [V2]


def test_supersede_older_when_a_newer_record_arrives(journal):
    enqueue(journal, key="a", version=V1)
    enqueue(journal, key="b", version=V2)
    enqueue(journal, key="c", version=None)
    assert journal.supersede_older("customers", "a", V2) == 1
    assert journal.supersede_older("customers", "b", V2) == 0  # the same version: kept
    assert journal.supersede_older("customers", "b", V1) == 0  # an older one: kept
    assert journal.supersede_older("orders", "c", V3) == 0  # another stream
    assert journal.supersede_older("customers", "c", V3) == 1  # unknown version is oldest
    assert journal.supersede_older("customers", "b", None) == 0
    assert [i.record_key for i in journal.pending()] == ["b"]
    assert journal.pending_keys("customers") == {"b": V2}


def test_pending_filters_and_limits(journal):
    for n in range(5):
        enqueue(journal, key=f"k{n}")
    enqueue(journal, key="o1", stream="orders")
    assert [i.record_key for i in journal.pending("customers", limit=3)] == ["k0", "k1", "k2"]
    assert [i.record_key for i in journal.pending("orders")] == ["o1"]
    assert len(journal.pending()) == 6


def test_mark_settles_an_item(journal):
    item_id = enqueue(journal)
    journal.mark(item_id, "sent")
    assert journal.pending() == []
    other = enqueue(journal, key="x")
    journal.mark(other, "failed_again", reason="given up after 5 runs")  # the former name
    assert journal.query("SELECT status, reason FROM retry_queue WHERE id = ?", (other,)) == [
        ("parked", "given up after 5 runs")
    ]
    with pytest.raises(ValueError, match="unknown retry-queue status"):
        journal.mark(item_id, "done")


# --- review, identities, retention -------------------------------------------------------


def test_review_items_are_redacted(journal):
    journal.add_review(
        "run-1", "email_conflict", "ct:1", "c_9", {"email": "ana@example.com", "code": "x"}
    )
    (row,) = journal.query("SELECT run_id, kind, external_id, existing_id, detail FROM review")
    assert row[:4] == ("run-1", "email_conflict", "ct:1", "c_9")
    assert json.loads(row[4]) == {"email": REDACTED, "code": "x"}


def test_identities(journal):
    journal.remember_identities({"cust-1": "ct:K1", "cust-2": "ct:K2"})
    journal.remember_identities({"cust-1": "ct:K1b"})
    assert (journal.identity("cust-1"), journal.identity("cust-2")) == ("ct:K1b", "ct:K2")
    assert journal.identity("nobody") is None


def test_prune_removes_old_calls_and_settled_items_only(journal):
    journal.log_call("old", call(started_at="2020-01-01T00:00:00.000Z"))
    journal.log_call("new", call())
    old_sent = enqueue(journal, key="old-sent")
    old_pending = enqueue(journal, key="old-pending", code="email_conflict")  # still sendable
    journal.mark(old_sent, "sent")
    age = "2020-01-01T00:00:00.000Z"  # as if both had been settled long ago
    journal._write("UPDATE retry_queue SET resolved_at = ?, last_failed_at = ?", (age, age))
    fresh = enqueue(journal, key="fresh")
    journal.mark(fresh, "sent")
    assert journal.prune(30) == {"sync_log": 1, "retry_queue": 1}
    assert [r["run_id"] for r in sync_log(journal)] == ["new"]
    kept = journal.query("SELECT id FROM retry_queue ORDER BY id")
    assert [r[0] for r in kept] == [old_pending, fresh]


def test_reopening_keeps_the_data(spec):
    first = open_journal(spec)
    enqueue(first)
    first.close()
    second = open_journal(spec)
    try:
        assert len(second.pending()) == 1
    finally:
        second.close()


# --- opening errors --------------------------------------------------------------------


def test_sqlite_path_that_cannot_be_opened(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(JournalError, match=r"^journal\.path: .*file/journal\.db"):
        open_journal({"type": "sqlite", "path": str(blocker / "journal.db")})


def test_unknown_type_and_missing_fields():
    with pytest.raises(JournalError, match=r"journal\.type"):
        open_journal({"type": "mysql"})
    with pytest.raises(JournalError, match=r"journal\.path"):
        open_journal({"type": "sqlite"})
    with pytest.raises(JournalError, match=r"journal\.dsn"):
        open_journal({"type": "postgres", "dsn": ""})


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://crm:Sup3rSecret@127.0.0.1:1/journal",
        "host=127.0.0.1 port=1 user=crm password=Sup3rSecret dbname=journal",
    ],
)
def test_postgres_error_names_the_dsn_without_its_password(dsn):
    with pytest.raises(JournalError) as caught:
        open_journal({"type": "postgres", "dsn": dsn})
    message = str(caught.value)
    assert message.startswith("journal.dsn: ") and "127.0.0.1" in message
    assert "Sup3rSecret" not in message


def test_redact_keeps_structure_and_empty_values():
    value = {"email": None, "firstName": "", "lastName": "X", "items": [{"mobile": "+491"}]}
    assert redact(value) == {
        "email": None,
        "firstName": "",
        "lastName": REDACTED,
        "items": [{"mobile": REDACTED}],
    }


# --- the CLI ---------------------------------------------------------------------------


@pytest.fixture
def filled(journal, spec, tmp_path):
    journal.start_run("run-1", {"base_url": "http://x"})
    journal.log_call("run-1", call(status=503, attempt=1, response_body=None))
    journal.log_call("run-1", call(attempt=2))
    enqueue(journal, key="bad-1")
    journal.add_review("run-1", "email_conflict", "ct:1", "c_9", {"email": "ana@example.com"})
    journal.end_run(
        "run-1",
        "succeeded",
        {"requests": 2, "retries": 1, "streams": {"customers": {"counts": {"received": 7}}}},
    )
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"base_url": "http://x", "journal": spec}))
    return str(config)


def test_cli_runs_table(filled, capsys):
    assert main(["--config", filled, "runs"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [
        "run_id",
        "started_at",
        "ended_at",
        "status",
        "records",
        "requests",
        "retries",
    ]
    assert lines[2].split()[0] == "run-1" and lines[2].split()[3:] == ["succeeded", "7", "2", "1"]


def test_cli_queue_failures_calls_review(filled, capsys):
    assert main(["--config", filled, "queue"]) == 0
    out = capsys.readouterr().out
    assert "bad-1" in out and "invalid_email" in out and "is not an email address" in out
    assert main(["--config", filled, "failures", "--run", "run-1"]) == 0
    assert "bad-1" in capsys.readouterr().out
    assert main(["--config", filled, "failures", "--run", "other"]) == 0
    assert capsys.readouterr().out.strip() == "(no failures)"
    assert main(["--config", filled, "calls", "--limit", "1", "--json"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    latest = json.loads(line)
    assert latest["attempt"] == 2 and latest["correlation_id"] == "c-1"
    assert latest["request_body"]["records"][0]["properties"]["email"] == REDACTED
    assert main(["--config", filled, "review"]) == 0
    out = capsys.readouterr().out
    assert "email_conflict" in out and "ana@example.com" not in out


def test_cli_errors_are_clear(tmp_path, capsys):
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"journal": {"type": "sqlite", "path": str(tmp_path / "no.db")}}))
    assert main(["--config", str(config), "runs"]) == 2
    assert "journal.path: no journal at" in capsys.readouterr().err
    assert not (tmp_path / "no.db").exists()
    config.write_text(
        json.dumps({"journal": {"type": "postgres", "dsn": "postgresql://u:PwD123@127.0.0.1:1/x"}})
    )
    assert main(["--config", str(config), "queue"]) == 2
    captured = capsys.readouterr()
    assert "journal.dsn" in captured.err and "PwD123" not in captured.err + captured.out
    assert main(["--config", str(tmp_path / "missing.json"), "runs"]) == 2
    assert "cannot read --config" in capsys.readouterr().err
