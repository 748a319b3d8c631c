"""Issue #17, finding 4: erasure reaches the disk, and the not-found path clears everything.

The SQLite journal zeroes what it deletes (`secure_delete`) and empties its write-ahead log
after an erase, so the database's files hold no byte of the erased person's name or phone.
An erase of a contact CRM One no longer has (`deletions_not_found`) clears the carts,
order_facts, order_events, contact_stores and order_payments rows under its keys, as the
docs promise. PostgreSQL: the rows go and the touched tables are vacuumed."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import requests

from destination_crmone.journal import open_journal
from destination_crmone.journal.commerce import CartRow, OrderFact, OrderPayments
from integration_tests.destination.airbyte_input import (
    customer,
    customer_deleted,
    order,
    record_message,
    state_message,
)
from sandbox.crmone import CrmOneSandbox
from unit_tests.security.conftest import Destination

pytestmark = pytest.mark.security

IDENTITY = {"source_field": "customerNumber", "prefix": "ct:"}
NAME, PHONE = "Quillfeatherstone", "+4915199887766"


def person() -> dict:
    record = customer(1, email="Zora.Quill@erase.example", lastName=NAME)
    record["addresses"][0]["phone"] = PHONE
    return record


def file_bytes(path: str) -> bytes:
    """Every byte of the SQLite journal's files (database, write-ahead log, shared memory)."""
    return b"".join(
        Path(name).read_bytes()
        for name in (path, f"{path}-wal", f"{path}-shm")
        if Path(name).exists()
    )


def on_disk(path: str, *values: str) -> list[str]:
    data = file_bytes(path)
    return [value for value in values if value.encode() in data]


def test_erased_values_leave_the_sqlite_files(destination: Destination) -> None:
    destination.overrides = {"identity": IDENTITY, "redact_pii": False}
    record = person()
    destination.write(
        [record_message("customers", record), record_message("customers", customer(2))]
    )
    destination.write([record_message("orders", order(1, record)), state_message("orders", 1)])
    assert on_disk(destination.journal_path, NAME, PHONE) == [NAME, PHONE]  # it was there
    destination.write(
        [record_message("messages", customer_deleted(1, record["id"]))], deletions="erase"
    )
    assert on_disk(destination.journal_path, NAME, PHONE, "Zora.Quill@erase.example") == []
    with sqlite3.connect(destination.journal_path) as connection:  # and the journal still works
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert "Example2" in str(destination.query("SELECT request_body FROM sync_log"))


def erase_in_crm_one(sandbox: CrmOneSandbox, external_id: str) -> None:
    """The contact goes from CRM One by another way (a person in its UI), before the
    CustomerDeleted arrives."""
    base = sandbox.url
    token = requests.post(
        f"{base}/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": sandbox.client_id,
            "client_secret": sandbox.client_secret,
        },
        timeout=10,
    ).json()["access_token"]
    contact_id = sandbox.contact(external_id)["id"]
    answer = requests.post(
        f"{base}/v1/contacts/{contact_id}/erase",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert answer.ok, answer.text
    assert sandbox.contact(external_id) is None


def commerce_rows(destination: Destination, key: str) -> dict[str, int]:
    tables = ("carts", "order_facts", "order_events", "contact_stores", "order_payments")
    return {
        table: destination.query(f"SELECT COUNT(*) FROM {table} WHERE contact_key = ?", (key,))[0][
            0
        ]
        for table in tables
    }


def test_not_found_erase_clears_every_commerce_row(
    destination: Destination, sandbox: CrmOneSandbox
) -> None:
    destination.overrides = {"identity": IDENTITY}
    record = person()
    destination.write([record_message("customers", record)])
    destination.write([record_message("orders", order(1, record)), state_message("orders", 1)])
    key = "ext:ct:C100001"
    journal = open_journal({"type": "sqlite", "path": destination.journal_path})
    try:  # what other streams leave under the same key (carts, stores, payments)
        journal.save_carts([CartRow("cart-1", "open", key, "2025-01-01T00:00:00.000Z", {})])
        journal.remember_memberships({key: ["eu-web"]})
        journal.link_payments([OrderPayments("o-9", key, ("p-1",))])
        journal.remember_events([("act-1", "o-9", key)])
        journal.record_orders({key: [OrderFact("o-9", "2025-01-01T00:00:00.000Z", "1", "EUR")]})
    finally:
        journal.close()
    assert all(commerce_rows(destination, key).values())
    erase_in_crm_one(sandbox, "ct:C100001")

    destination.write(
        [record_message("messages", customer_deleted(1, record["id"]))], deletions="erase"
    )
    stats = destination.query("SELECT stats FROM runs ORDER BY started_at DESC LIMIT 1")[0][0]
    assert "deletions_not_found" in stats
    assert commerce_rows(destination, key) == dict.fromkeys(commerce_rows(destination, key), 0)
    assert destination.query("SELECT COUNT(*) FROM identities") == [(0,)]


@pytest.mark.postgres
def test_postgres_erase_vacuums_the_touched_tables(pg_dsn: str) -> None:
    journal = open_journal({"type": "postgres", "dsn": pg_dsn}, redact_pii=False)
    try:
        journal.enqueue(
            "r", "customers", "c-1", None, {"id": "c-1", "lastName": NAME}, "x", "timeout", "failed"
        )
        journal.remember_memberships({"ext:ct:1": ["eu-web"]})
        journal.forget_customer("c-1", "ct:1", "erase")
        assert journal.query("SELECT COUNT(*) FROM contact_stores") == [(0,)]
        journal.end_run("r", "succeeded", {})
        vacuumed = journal.query(
            "SELECT relname FROM pg_stat_user_tables WHERE last_vacuum IS NOT NULL"
            " AND schemaname = current_schema()"
        )
        assert {"retry_queue", "sync_log", "contact_stores"} <= {row[0] for row in vacuumed}
    finally:
        journal.close()
