"""The retry queue that ends (back-off, parking, dependencies) and the commerce tables (carts,
order facts, routed stores), on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from destination_crmone.journal import QueuePolicy, open_journal
from destination_crmone.journal.cli import main
from destination_crmone.journal.commerce import CartRow, OrderFact
from destination_crmone.timefmt import format_rfc3339, parse_rfc3339
from unit_tests.destination.test_journal import enqueue, spec  # noqa: F401 (spec: a fixture)

HOUR = timedelta(hours=1)


@pytest.fixture
def journal(spec):  # noqa: F811
    opened = open_journal(spec)
    yield opened
    opened.close()


def later(hours: float) -> str:
    return format_rfc3339(datetime.now(UTC) + timedelta(hours=hours))


# --- the retry queue -----------------------------------------------------------------------


def test_backoff_doubles_across_attempts_and_parks_after_max_attempts(journal):
    journal.queue_policy = QueuePolicy(max_attempts=3, max_days=7, backoff_hours=1)
    item_id = enqueue(journal)
    (item,) = journal.pending()
    first_wait = parse_rfc3339(item.next_attempt_at) - parse_rfc3339(item.last_failed_at)
    assert first_wait == HOUR
    assert journal.due() == []  # not before its next attempt
    assert [i.id for i in journal.due(now=later(1.01))] == [item_id]
    enqueue(journal)
    (item,) = journal.pending()
    assert item.attempts == 2
    assert parse_rfc3339(item.next_attempt_at) - parse_rfc3339(item.last_failed_at) == 2 * HOUR
    enqueue(journal)  # the third failure: parked, kept for people, never due again
    assert journal.pending() == [] and journal.due(now=later(100)) == []
    assert journal.queue_counts() == {"parked": 1, "pending": 0, "resolved": 0, "superseded": 0}


def test_an_item_waiting_for_its_contact_is_due_only_when_woken(journal):
    journal.queue_policy = QueuePolicy(max_attempts=1)
    waiting = enqueue(journal, key="o1", stream="orders", waiting_for="ext:ct:42")
    enqueue(journal, key="o1", stream="orders", waiting_for="ext:ct:42")  # again: not parked
    (item,) = journal.pending("orders")
    assert (item.waiting_for, item.next_attempt_at, item.attempts) == ("ext:ct:42", None, 2)
    assert journal.due(now=later(1000)) == []
    assert journal.wake(["ext:ct:7"]) == 0
    assert journal.wake(["ext:ct:42", "ext:ct:42"]) == 1
    assert [i.id for i in journal.due()] == [waiting]
    assert journal.wake(["ext:ct:42"]) == 0  # already woken


def test_items_older_than_max_days_are_parked(journal):
    journal.queue_policy = QueuePolicy(max_days=2)
    enqueue(journal, key="old", waiting_for="email:guest@example.com")
    enqueue(journal, key="new")
    assert journal.park_expired(now=later(24)) == 0
    assert journal.park_expired(now=later(49)) == 2
    assert journal.pending() == [] and journal.queue_counts()["parked"] == 2


def test_a_version_1_journal_is_migrated(tmp_path):
    path = tmp_path / "v1.db"
    connection = sqlite3.connect(path)
    connection.executescript(
        """
        CREATE TABLE journal_schema (version INTEGER NOT NULL);
        INSERT INTO journal_schema VALUES (1);
        CREATE TABLE retry_queue (id INTEGER PRIMARY KEY AUTOINCREMENT, stream TEXT NOT NULL,
          record_key TEXT NOT NULL, record_version TEXT, payload TEXT NOT NULL,
          reason TEXT NOT NULL, code TEXT NOT NULL, kind TEXT NOT NULL, status TEXT NOT NULL,
          attempts INTEGER NOT NULL, first_failed_at TEXT NOT NULL,
          last_failed_at TEXT NOT NULL, resolved_at TEXT, run_id TEXT);
        INSERT INTO retry_queue VALUES
          (1, 'orders', 'a', NULL, '{}', 'r', 'c', 'rejected', 'pending', 4,
           '2026-11-01T00:00:00.000Z', '2026-11-01T00:00:00.000Z', NULL, 'run-1'),
          (2, 'orders', 'b', NULL, '{}', 'r', 'c', 'rejected', 'sent', 1,
           '2026-11-01T00:00:00.000Z', '2026-11-01T00:00:00.000Z', NULL, 'run-1'),
          (3, 'orders', 'c', NULL, '{}', 'r', 'c', 'rejected', 'failed_again', 1,
           '2026-11-01T00:00:00.000Z', '2026-11-01T00:00:00.000Z', NULL, 'run-1');
        """
    )
    connection.close()
    migrated = open_journal({"type": "sqlite", "path": str(path)})
    try:
        assert migrated.query("SELECT version FROM journal_schema") == [(2,)]
        assert [i.record_key for i in migrated.due()] == ["a"]  # no next attempt yet: due
        counts = migrated.queue_counts()
        assert (counts["pending"], counts["resolved"], counts["parked"]) == (1, 1, 1)
    finally:
        migrated.close()


# --- commerce tables -----------------------------------------------------------------------

ACTIVITY = {"external_id": "cart:1:abandoned", "type": "cart_abandoned", "properties": {}}


def test_carts_are_remembered_and_found_idle(journal):
    journal.save_carts(
        [
            CartRow("1", "open", "ext:ct:1", "2026-11-01T10:00:00.000Z", ACTIVITY),
            CartRow("2", "open", "email:g@example.com", "2026-11-02T10:00:00.000Z", ACTIVITY),
            CartRow("3", "closed", "ext:ct:3", "2026-11-01T09:00:00.000Z", ACTIVITY),
        ]
    )
    idle = journal.idle_carts("2026-11-01T12:00:00.000Z")
    assert [row.cart_id for row in idle] == ["1"] and idle[0].activity == ACTIVITY
    journal.save_carts([CartRow("1", "abandoned", "ext:ct:1", idle[0].last_modified_at, ACTIVITY)])
    assert journal.idle_carts("2026-12-01T00:00:00.000Z")[0].cart_id == "2"
    remembered = journal.carts(["1", "2", "9"])
    assert {k: v.state for k, v in remembered.items()} == {"1": "abandoned", "2": "open"}


def test_order_facts_per_contact(journal):
    placed = "2026-11-01T10:00:00.000Z"
    journal.record_orders(
        {
            "ext:ct:1": [OrderFact("o1", placed, "10.00", "EUR")],
            "email:g@example.com": [OrderFact("o2", placed, None, None, True)],
        }
    )
    journal.record_orders({"ext:ct:1": [OrderFact("o1", placed, "12.00", "EUR", True)]})
    assert journal.orders_of(["ext:ct:1", "ext:none"]) == {
        "ext:ct:1": [OrderFact("o1", placed, "12.00", "EUR", True)]
    }
    assert journal.orders_of(["email:g@example.com"])["email:g@example.com"][0].cancelled


def test_memberships_and_forgetting_a_contact(journal):
    first = {"in_scope": True, "lists": ["l_eu", "l_us"], "properties": ["region"]}
    journal.remember_memberships({"ext:ct:1": first, "ext:ct:2": {"in_scope": False}})
    journal.remember_memberships({"ext:ct:1": {**first, "lists": ["l_us"]}})
    assert journal.memberships(["ext:ct:1", "ext:ct:2", "ext:x"]) == {
        "ext:ct:1": {**first, "lists": ["l_us"]},
        "ext:ct:2": {"in_scope": False},
    }
    journal.save_carts([CartRow("1", "open", "ext:ct:1", "2026-11-01T10:00:00.000Z", ACTIVITY)])
    journal.record_orders({"ext:ct:1": [OrderFact("o1", "2026-11-01T10:00:00.000Z", "1", "EUR")]})
    assert journal.forget_contact_commerce(["ext:ct:1"]) == 3
    assert journal.carts(["1"]) == {} and journal.orders_of(["ext:ct:1"]) == {}
    assert journal.memberships(["ext:ct:1"]) == {}


def test_cli_lists_the_parked_queue(journal, spec, tmp_path, capsys):  # noqa: F811
    journal.queue_policy = QueuePolicy(max_attempts=1)
    enqueue(journal, key="given-up")
    journal.queue_policy = QueuePolicy()
    enqueue(journal, key="waiting", waiting_for="ext:ct:42")
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"journal": spec}))
    assert main(["--config", str(config), "queue"]) == 0
    out = capsys.readouterr().out
    assert "waiting" in out and "ext:ct:42" in out and "given-up" not in out
    assert main(["--config", str(config), "queue", "--parked", "--json"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert json.loads(line)["record_key"] == "given-up"
    journal.mark(json.loads(line)["id"], "resolved")
    assert main(["--config", str(config), "queue", "--parked"]) == 0
    assert capsys.readouterr().out.strip() == "(no parked queue)"


def test_lifecycle_events_are_remembered_per_order(journal):
    journal.remember_events(
        [("order:1:shipment:Shipped", "1", "ext:ct:1"), ("order:1:returned:1", "1", "ext:ct:1")]
    )
    journal.remember_events([("order:2:payment:Paid", "2", None)] * 2)
    assert journal.written_events(["1", "3"]) == {"order:1:shipment:Shipped", "order:1:returned:1"}
    assert journal.forget_contact_commerce(["ext:ct:1"]) == 2
    assert journal.written_events(["1", "2"]) == {"order:2:payment:Paid"}


def test_memberships_of_an_earlier_release_are_read_as_kept(journal):
    journal.remember_memberships({"ext:old": ["eu-web"]})  # the routed store keys of 0.1.x
    assert journal.memberships(["ext:old"]) == {"ext:old": ["eu-web"]}


def test_store_languages_are_remembered_per_store(journal):
    journal.remember_store_languages({"eu-web": ["de-DE", "en"], "us-web": ["en-US"]})
    journal.remember_store_languages({"eu-web": ["de-DE"]})
    assert journal.store_languages(["eu-web", "us-web", "x"]) == {
        "eu-web": ["de-DE"],
        "us-web": ["en-US"],
    }
    assert journal.store_languages() == journal.store_languages(["eu-web", "us-web"])
