"""Issue #11, finding 3: a CustomerDeleted handled as `erase` leaves nothing of that
customer in the journal (queue items, identities, review items, sync log, run stats) and
nothing is re-sent; as `archive` their pending items are superseded; `prune` ends items that
can no longer be sent."""

from __future__ import annotations

from pathlib import Path

import pytest

from destination_crmone.journal import open_journal
from integration_tests.destination.airbyte_input import (
    customer,
    customer_deleted,
    order,
    record_message,
    state_message,
)
from sandbox.crmone import CrmOneSandbox
from unit_tests.security.conftest import Destination, found_in

pytestmark = pytest.mark.security

IDENTITY = {"source_field": "customerNumber", "prefix": "ct:"}


def erased_person() -> dict:
    return customer(
        1,
        email="Zora.Quillfeather@erase.example",
        firstName="Zora",
        lastName="Quillfeather",
    )


def history(destination: Destination, sandbox: CrmOneSandbox) -> dict:
    """Three runs that leave the person everywhere in the journal: the sync log, the retry
    queue (an order that waited for its contact, then was sent; a newer version in
    email_conflict, pending), the review table and the identities table."""
    person, other = erased_person(), customer(2)
    early_order = order(1, person)
    destination.write([record_message("orders", early_order), state_message("orders", 1)])
    destination.write([record_message("customers", c) for c in (person, other)])
    conflicting = customer(
        1, version=2, day=2, email=other["email"], firstName="Zora", lastName="Quillfeather"
    )
    destination.write([record_message("customers", conflicting)])
    queued = destination.query("SELECT stream, status FROM retry_queue ORDER BY id")
    assert queued == [("orders", "resolved"), ("customers", "pending")]  # both hold payloads
    assert sandbox.contact("ct:C100001") is not None
    return person


PERSONAL = ["Zora.Quillfeather@erase.example", "Quillfeather", "ct:C100001"]


@pytest.mark.parametrize("redact_pii", [True, False])
def test_erase_leaves_nothing_of_the_customer_in_the_journal(
    destination: Destination, sandbox: CrmOneSandbox, redact_pii: bool
) -> None:
    destination.overrides = {"identity": IDENTITY, "redact_pii": redact_pii}
    person = history(destination, sandbox)
    before = found_in([*PERSONAL, person["id"]], destination.journal_text())
    assert set(before) == {*PERSONAL, person["id"]}  # the journal did hold them

    deleted = customer_deleted(1, person["id"])
    destination.write([record_message("messages", deleted)], deletions="erase")
    destination.write([])  # a later run re-sends nothing of them

    assert sandbox.contact("ct:C100001") is None
    assert found_in([*PERSONAL, person["id"]], destination.journal_text()) == {}
    assert destination.query("SELECT COUNT(*) FROM identities") == [(1,)]  # the other one
    assert destination.query("SELECT COUNT(*) FROM retry_queue") == [(0,)]
    assert sandbox.contact("ct:C100001") is None  # not re-created by a queued record


def test_archive_supersedes_the_customers_pending_items(
    destination: Destination, sandbox: CrmOneSandbox
) -> None:
    destination.overrides = {"identity": IDENTITY}
    person = history(destination, sandbox)
    deleted = customer_deleted(1, person["id"])
    destination.write([record_message("messages", deleted)], deletions="archive")
    queued = destination.query("SELECT stream, status FROM retry_queue ORDER BY id")
    assert queued == [("orders", "resolved"), ("customers", "superseded")]
    destination.write([])
    assert sandbox.contact("ct:C100001")["archived"] is True  # nothing re-sent restored it


def test_prune_ends_old_items_that_can_no_longer_be_sent(tmp_path: Path) -> None:
    journal = open_journal({"type": "sqlite", "path": str(tmp_path / "j.db")})
    try:
        args = ("run-1", "customers")
        journal.enqueue(
            *args, "rejected-1", None, {}, "email: not valid", "invalid_email", "rejected"
        )
        journal.enqueue(*args, "partial-1", None, {}, "phone: left out", "invalid_phone", "partial")
        journal.enqueue(
            *args, "conflict-1", None, {"id": "c"}, "conflict", "email_conflict", "rejected"
        )
        journal.enqueue(
            *args, "failed-1", None, {"id": "f"}, "503", "service_unavailable", "failed"
        )
        age = "2020-01-01T00:00:00.000Z"
        journal._write("UPDATE retry_queue SET first_failed_at = ?, last_failed_at = ?", (age, age))
        assert journal.prune(30)["retry_queue"] == 2
        kept = journal.query("SELECT record_key FROM retry_queue ORDER BY id")
        assert [row[0] for row in kept] == ["conflict-1", "failed-1"]
    finally:
        journal.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def journal_spec(request: pytest.FixtureRequest, tmp_path: Path) -> dict:
    if request.param == "sqlite":
        return {"type": "sqlite", "path": str(tmp_path / "j.db")}
    return {"type": "postgres", "dsn": request.getfixturevalue("pg_dsn")}


def test_forget_customer_on_both_backends(journal_spec: dict) -> None:
    from destination_crmone.crmone.client import CallRecord

    journal = open_journal(journal_spec, redact_pii=False)
    try:
        guest = {"id": "o2", "customerEmail": "Z_Q%@Erase.example"}  # LIKE's own characters
        journal.enqueue(
            "r",
            "customers",
            "c-1",
            None,
            {"id": "c-1", "email": "z_q%@erase.example"},
            "x",
            "email_conflict",
            "rejected",
        )
        journal.enqueue(
            "r",
            "orders",
            "o1",
            None,
            {"id": "o1", "customerId": "c-1"},
            "x",
            "contact_not_found",
            "rejected",
        )
        journal.enqueue("r", "orders", "o2", None, guest, "x", "contact_not_found", "rejected")
        journal.enqueue(
            "r",
            "orders",
            "o3",
            None,
            {"id": "o3", "customerId": "c-2"},
            "x",
            "contact_not_found",
            "rejected",
        )
        journal.remember_identities({"c-1": "ct:1", "c-2": "ct:2"})
        body = {
            "records": [
                {"external_id": "ct:1", "properties": {"email": "z_q%@erase.example"}},
                {"external_id": "ct:2"},
            ]
        }
        journal.log_call(
            "r",
            CallRecord(
                "POST", "/v1/contacts/batch/upsert", body, None, 200, "t", "t", 1, "c", None, None
            ),
        )
        journal.log_call(
            "r",
            CallRecord(
                "GET",
                "/v1/contacts?email=z_q%25%40erase.example",
                None,
                None,
                200,
                "t",
                "t",
                1,
                "c",
                None,
                None,
            ),
        )
        assert journal.forget_customer("c-1", "ct:1", "erase")["retry_queue"] == 3
        assert [r[0] for r in journal.query("SELECT record_key FROM retry_queue")] == ["o3"]
        assert journal.query("SELECT customer_id FROM identities") == [("c-2",)]
        text = str(journal.query("SELECT path, request_body FROM sync_log"))
        assert "z_q" not in text and "ct:1" not in text and "ct:2" in text
    finally:
        journal.close()
