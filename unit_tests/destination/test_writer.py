"""The write path against the in-process CRM One sandbox: batching, state release, ownership,
consents, matching by email, the retry queue, ignored streams and dry runs."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from airbyte_cdk.models import AirbyteMessage, FailureType, Type
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from destination_crmone.crmone.client import CrmOneClient, CrmOneError
from destination_crmone.delivery import writer as writer_module
from destination_crmone.delivery.relay import serialize
from destination_crmone.delivery.writer import stream_routes
from destination_crmone.destination import DestinationCrmOne
from destination_crmone.journal import open_journal
from destination_crmone.streams import STREAMS as STREAM_TABLE
from destination_crmone.timefmt import parse_rfc3339
from integration_tests.destination.airbyte_input import (
    bad_customers,
    catalog,
    customer,
    customer_deleted,
    order,
    record_message,
    state_message,
    stream_messages,
)
from sandbox.crmone import CrmOneSandbox

STREAMS = ("customers", "orders", "messages")


pytestmark = pytest.mark.usefixtures("fast_backoff")


@dataclass
class Run:
    output: list[AirbyteMessage]
    run_id: str
    stats: dict[str, Any]

    @property
    def states(self) -> list[AirbyteMessage]:
        return [m for m in self.output if m.type == Type.STATE]

    def counts(self, stream: str) -> dict[str, int]:
        return self.stats["streams"][stream]["counts"]


class Harness:
    def __init__(self, sandbox: CrmOneSandbox, tmp_path: Path) -> None:
        self.sandbox = sandbox
        self.journal_path = str(tmp_path / "journal.db")

    def config(self, **overrides: Any) -> dict[str, Any]:
        return self.sandbox.destination_config(self.journal_path, **overrides)

    def write(
        self, messages: list[AirbyteMessage], streams: tuple[str, ...] = STREAMS, **overrides: Any
    ) -> Run:
        output = list(
            DestinationCrmOne().write(self.config(**overrides), catalog(*streams), iter(messages))
        )
        run_id, stats = self.query("SELECT run_id, stats FROM runs ORDER BY rowid DESC LIMIT 1")[0]
        return Run(output, run_id, json.loads(stats))

    def query(self, statement: str, params: tuple = ()) -> list[tuple]:
        journal = open_journal({"type": "sqlite", "path": self.journal_path})
        try:
            return journal.query(statement, params)
        finally:
            journal.close()

    def queue(self, status: str = "pending") -> list[dict[str, Any]]:
        rows = self.query(
            "SELECT stream, record_key, kind, code, reason, status, attempts FROM retry_queue"
            " WHERE status = ? ORDER BY id",
            (status,),
        )
        keys = ("stream", "record_key", "kind", "code", "reason", "status", "attempts")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def calls(self, run_id: str, path: str) -> list[dict[str, Any]]:
        rows = self.query(
            "SELECT request_body, status, attempt FROM sync_log WHERE run_id = ? AND path = ?",
            (run_id, path),
        )
        return [{"body": json.loads(r[0] or "null"), "status": r[1], "attempt": r[2]} for r in rows]

    def client(self) -> CrmOneClient:
        return CrmOneClient(
            self.sandbox.url, self.sandbox.client_id, self.sandbox.client_secret, backoff_base=0.001
        )


@pytest.fixture
def harness(sandbox: CrmOneSandbox, tmp_path: Path) -> Harness:
    return Harness(sandbox, tmp_path)


def external_ids(sandbox: CrmOneSandbox) -> set[str]:
    return {c["external_id"] for c in sandbox.contacts()}


# --- state release ---------------------------------------------------------------------------


def test_each_state_is_echoed_in_order_once_the_records_before_it_are_in_crm_one(
    harness: Harness, sandbox: CrmOneSandbox
) -> None:
    customers = [customer(i) for i in range(25)]
    messages = stream_messages("customers", customers, every=10)
    seen = []
    output = DestinationCrmOne().write(harness.config(), catalog(*STREAMS), iter(messages))
    for message in output:
        if message.type == Type.STATE:
            position = message.state.stream.stream_state.position
            seen.append(position)
            # everything before this state is already in CRM One when the state is released
            assert {c["id"] for c in customers[:position]} <= external_ids(sandbox)
    assert seen == [10, 20, 25]


def test_a_state_waits_for_a_full_batch_or_the_time_bound_never_flushes_by_itself(
    harness: Harness, sandbox: CrmOneSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer_module, "FLUSH_AFTER_SECONDS", 0.2)
    people = [customer(i) for i in range(12)]
    consumed: list[str] = []

    def slow_input() -> Iterator[AirbyteMessage]:
        for message in stream_messages("customers", people[:5], 5):
            consumed.append("first five")
            yield message
        time.sleep(0.3)  # the source is slow: the half-full batch waits past the time bound
        for n, message in enumerate(stream_messages("customers", people[5:], 7)):
            consumed.append("rest")
            yield message
            if n == 0:
                time.sleep(0.3)  # time for the batch the time bound sent

    released = []
    for message in DestinationCrmOne().write(harness.config(), catalog(*STREAMS), slow_input()):
        if message.type == Type.STATE:
            released.append((message.state.stream.stream_state.position, len(consumed)))
    # the first state went out after the time bound sent its batch, not at once (a STATE
    # alone does not flush) and not only at the end of input
    assert released[0] == (5, 8)
    assert released[1][0] == 7 and len(sandbox.contacts()) == 12


def test_destination_stats_count_the_records_of_each_stream_since_its_last_state(
    harness: Harness,
) -> None:
    people = [customer(i) for i in range(5)]
    messages = [
        *(record_message("customers", c) for c in people[:3]),
        record_message("orders", order(1, people[0])),
        state_message("customers", "c1"),
        *(record_message("customers", c) for c in people[3:]),
        record_message("orders", order(2, people[1])),
        state_message("orders", "o1"),
        state_message("customers", "c2"),
    ]
    run = harness.write(messages)
    assert [(s.state.stream.stream_state.position, s.state.destinationStats.recordCount)
            for s in run.states] == [("c1", 3.0), ("o1", 2.0), ("c2", 2.0)]  # fmt: skip


def test_batches_never_exceed_the_account_batch_max(tmp_path: Path) -> None:
    with CrmOneSandbox(batch_max=10, requests_per_second=10_000, max_concurrency=64) as small:
        harness = Harness(small, tmp_path)
        run = harness.write(stream_messages("customers", [customer(i) for i in range(35)], 100))
        upserts = harness.calls(run.run_id, "/v1/contacts/batch/upsert")
        consents = harness.calls(run.run_id, "/v1/consents/batch")
        assert sorted(len(c["body"]["records"]) for c in upserts) == [5, 10, 10, 10]
        # every property is commercetools' (the default): nothing to read first
        assert harness.calls(run.run_id, "/v1/contacts/batch/read") == []
        assert max(len(c["body"]["records"]) for c in consents) <= 10
        assert len(small.contacts()) == 35


def test_a_batch_is_cut_where_its_consents_fill_one_call(tmp_path: Path) -> None:
    with CrmOneSandbox(batch_max=10, requests_per_second=10_000, max_concurrency=64) as small:
        harness = Harness(small, tmp_path)
        people = []
        for i in range(30):
            person = customer(i)
            if i % 3 == 0:  # a third also opted in to SMS: two consents
                fields = person["custom"]["fields"]
                fields.update(smsOptIn=True, smsOptInAt=fields["newsletterOptInAt"])
            people.append(person)
        run = harness.write(stream_messages("customers", people, 100))
        upserts = harness.calls(run.run_id, "/v1/contacts/batch/upsert")
        consents = harness.calls(run.run_id, "/v1/consents/batch")
        assert len(consents) == len(upserts) == 4  # 40 consents, 30 contacts
        assert all(len(c["body"]["records"]) <= 10 for c in consents)
        assert sum(len(c["body"]["records"]) for c in consents) == 40
        assert run.counts("customers")["consents_applied"] == 40


# --- nothing to change, ownership, consents ------------------------------------------------------


def test_the_same_input_again_sends_no_contact_and_changes_nothing(
    harness: Harness, sandbox: CrmOneSandbox
) -> None:
    people = [customer(i) for i in range(20)]
    messages = stream_messages("customers", people, 10) + stream_messages(
        "orders", [order(i, people[i]) for i in range(20)], 10
    )
    first = harness.write(messages)
    before = sandbox.dump()
    second = harness.write(messages)
    assert first.counts("customers")["contacts_created"] == 20
    assert second.counts("customers")["contacts_skipped"] == 20
    assert second.counts("customers")["consents_skipped"] == 20
    assert harness.calls(second.run_id, "/v1/consents/batch") == []
    assert second.counts("orders")["activities_unchanged"] == 20
    for name in ("contacts_created", "contacts_updated", "consents_applied"):
        assert second.counts("customers")[name] == 0
    assert harness.calls(second.run_id, "/v1/contacts/batch/upsert") == []
    assert sandbox.dump() == before


def test_a_crm_one_owned_property_edited_by_a_person_survives_the_next_sync(
    harness: Harness, sandbox: CrmOneSandbox
) -> None:
    ownership = [{"property": "phone", "owner": "crm_one"}]
    original = customer(1)
    harness.write(stream_messages("customers", [original], 10), ownership=ownership)
    sandbox.user_edit(original["id"], {"phone": "+4930901820"})
    changed = customer(1, version=2, day=5, firstName="Anabel")
    changed["addresses"][0]["phone"] = "+49 151 99999999"
    run = harness.write(stream_messages("customers", [changed], 10), ownership=ownership)
    contact = sandbox.contact(original["id"])
    assert contact["properties"]["phone"] == "+4930901820"
    assert contact["properties"]["first_name"] == "Anabel"
    assert run.counts("customers")["contacts_updated"] == 1


def test_an_older_consent_never_replaces_a_newer_one(
    harness: Harness, sandbox: CrmOneSandbox
) -> None:
    newer = customer(3, day=9)  # i=3: newsletterOptIn False (withdrawn) at day 9
    newer["custom"]["fields"]["newsletterOptIn"] = True
    harness.write(stream_messages("customers", [newer], 10))
    older = customer(3, version=2, day=9)
    older["custom"]["fields"]["newsletterOptIn"] = False
    older["custom"]["fields"]["newsletterOptInAt"] = "2025-06-01T00:00:00.000Z"
    run = harness.write(stream_messages("customers", [older], 10))
    (consent,) = [c for c in sandbox.consents(newer["id"]) if c["channel"] == "email"]
    assert consent["status"] == "granted"
    assert run.counts("customers")["consents_stale"] == 1


# --- matching by email ---------------------------------------------------------------------------


def test_a_contact_known_only_by_email_gets_the_external_id_instead_of_a_duplicate(
    harness: Harness, sandbox: CrmOneSandbox
) -> None:
    person = customer(7)
    harness.client().upsert_contacts(
        [{"properties": {"email": "person7@example.com", "city": "Hamburg"}}],
        id_property="email",
        idempotency_key="seed-7",
    )
    run = harness.write(stream_messages("customers", [person], 10))
    (contact,) = sandbox.contacts()
    assert contact["external_id"] == person["id"]
    assert contact["properties"]["first_name"] == "Ana"
    assert run.counts("customers")["contacts_attached"] == 1
    assert harness.queue() == []
    # CRM One's per-record errors decide: no contact is looked up
    lookups = (
        "SELECT count(*) FROM sync_log WHERE run_id = ? AND method = 'GET'"
        " AND path LIKE '/v1/contacts%'"
    )
    assert harness.query(lookups, (run.run_id,)) == [(0,)]


def test_an_email_of_another_external_id_is_never_merged_but_reviewed_and_queued(
    harness: Harness, sandbox: CrmOneSandbox
) -> None:
    first = customer(1)
    second = customer(2, email=first["email"])
    run = harness.write(stream_messages("customers", [first, second], 10))
    assert external_ids(sandbox) == {first["id"]}
    (queued,) = harness.queue()
    assert (queued["record_key"], queued["code"]) == (second["id"], "email_conflict")
    ((external_id, existing_id, kind),) = harness.query(
        "SELECT external_id, existing_id, kind FROM review"
    )
    assert (external_id, kind) == (second["id"], "email_conflict")
    assert existing_id == sandbox.contact(first["id"])["id"]
    assert run.counts("customers")["rejected"] == 1


# --- the retry queue -----------------------------------------------------------------------------


def test_rejected_and_partial_records_are_queued_with_their_reasons(
    harness: Harness, sandbox: CrmOneSandbox
) -> None:
    bad = bad_customers(8)
    good = [customer(i) for i in range(4)]
    run = harness.write(stream_messages("customers", good + bad, 100))
    queued = harness.queue()
    assert len(queued) == 8
    by_code = {q["code"] for q in queued}
    assert {"invalid_email", "invalid_phone", "missing_external_id"} <= by_code
    assert all(q["reason"] for q in queued)
    assert {q["kind"] for q in queued} == {"rejected", "partial"}
    assert {c["id"] for c in good} <= external_ids(sandbox)
    assert run.counts("customers")["queued"] == 8


def test_a_queued_record_is_resent_first_on_the_next_run(
    harness: Harness, sandbox: CrmOneSandbox
) -> None:
    person = customer(5)
    first = harness.write(stream_messages("orders", [order(5, person)], 10))
    (queued,) = harness.queue()
    assert queued["code"] == "contact_not_found"
    assert harness.write([]).counts("orders")["retried_from_queue"] == 0  # still no contact
    # the contact is written: the order waiting for it is re-sent in the same run
    second = harness.write(stream_messages("customers", [person], 10))
    assert first.counts("orders")["rejected"] == 1
    assert second.counts("orders")["retried_from_queue"] == 1
    assert second.counts("orders")["activities_created"] == 1
    assert harness.queue() == [] and len(harness.queue("resolved")) == 1
    assert [a["type"] for a in sandbox.activities(person["id"])] == ["order_placed"]


def test_a_newer_version_supersedes_the_queued_one(
    harness: Harness, sandbox: CrmOneSandbox
) -> None:
    broken = customer(9)
    del broken["email"]
    broken["key"] = None
    harness.write(stream_messages("customers", [broken], 10), identity={"source_field": "key"})
    assert [q["code"] for q in harness.queue()] == ["missing_external_id"]
    fixed = customer(9, version=2, day=4)
    run = harness.write(stream_messages("customers", [fixed], 10), identity={"source_field": "key"})
    assert harness.queue() == []
    assert [q["record_key"] for q in harness.queue("superseded")] == [broken["id"]]
    assert run.counts("customers")["superseded"] == 1
    assert external_ids(sandbox) == {"customer-9"}


def test_a_batch_that_still_fails_after_retries_fails_the_sync_and_parks_nothing(
    harness: Harness, sandbox: CrmOneSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = CrmOneClient.upsert_contacts
    calls = {"n": 0}

    def second_batch_fails(self: CrmOneClient, *args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise CrmOneError(503, "service_unavailable", "still down after retries")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(CrmOneClient, "upsert_contacts", second_batch_fails)
    people = [customer(i) for i in range(30)]
    messages = stream_messages("customers", people, 10)
    output: list[AirbyteMessage] = []
    with pytest.raises(AirbyteTracedException) as raised:
        for message in DestinationCrmOne().write(
            harness.config(batch_size=10, concurrency=1), catalog(*STREAMS), iter(messages)
        ):
            output.append(message)
    assert raised.value.failure_type == FailureType.transient_error
    assert "10 records were written and checkpointed" in raised.value.message
    states = [m.state.stream.stream_state.position for m in output if m.type == Type.STATE]
    assert states == [10]  # the first batch; nothing after the failed one
    assert harness.queue() == []  # nothing parked
    assert harness.query("SELECT status FROM runs") == [("failed",)]
    # Airbyte's next attempt resumes after the last echoed state
    retry = harness.write(messages[11:])
    assert len(sandbox.contacts()) == 30 and harness.queue() == []
    assert [s.state.stream.stream_state.position for s in retry.states] == [20, 30]


# --- orders, deletions, other streams, dry runs ------------------------------------------------


def test_orders_become_activities_after_their_contacts_and_guests_match_by_email(
    harness: Harness, sandbox: CrmOneSandbox
) -> None:
    people = [customer(i) for i in range(3)]
    orders = [
        order(1, people[0]),
        order(2, people[1], state="Cancelled"),
        order(3, None) | {"customerEmail": people[2]["email"]},  # a guest order of a contact
        order(4, None),  # a guest nobody knows: becomes a contact by email
    ]
    # orders first in the input: a batch flushes the other streams' buffers first, so the
    # contacts are still written before the activities that reference them
    messages = [*(record_message("orders", o) for o in orders)]
    messages += [*(record_message("customers", c) for c in people), state_message("orders", 1)]
    run = harness.write(messages)
    assert [a["type"] for a in sandbox.activities(people[0]["id"])] == ["order_placed"]
    assert sorted(a["type"] for a in sandbox.activities(people[1]["id"])) == [
        "order_cancelled",
        "order_placed",
    ]
    assert [a["external_id"] for a in sandbox.activities(people[2]["id"])] == [
        f"order:{orders[2]['id']}:placed"
    ]
    (guest,) = [c for c in sandbox.contacts() if c["properties"]["email"] == "guest4@example.com"]
    assert guest["external_id"] is None
    by_guest = [a for a in sandbox.activities() if a["contact_id"] == guest["id"]]
    assert [a["type"] for a in by_guest] == ["order_placed"]
    assert harness.queue() == []
    assert run.counts("orders")["activities_created"] == 5
    # under match_by_email a guest nobody knows waits for a contact with that email
    harness.write([record_message("orders", order(6, None))], guest_orders="match_by_email")
    (queued,) = harness.queue()
    assert (queued["record_key"], queued["code"]) == (order(6, None)["id"], "contact_not_found")
    # under guest_orders=skip a new guest order is skipped, with a reason
    skipped = harness.write([record_message("orders", order(5, None))], guest_orders="skip")
    assert skipped.counts("orders")["orders_skipped"] == 1
    assert skipped.stats["streams"]["orders"]["warnings_by_code"]["skipped"] == 1


def test_orders_as_objects_writes_the_orders_object_type(
    harness: Harness, sandbox: CrmOneSandbox
) -> None:
    person = customer(1)
    messages = [record_message("customers", person), record_message("orders", order(1, person))]
    run = harness.write(messages, orders_as="objects")
    (stored,) = sandbox.objects("orders")
    assert stored["external_id"] == f"order:{order(1, person)['id']}"
    assert sandbox.activities(person["id"]) == []
    assert run.counts("orders")["objects_created"] == 1


@pytest.mark.parametrize("action", ["archive", "erase"])
def test_customer_deleted_archives_or_erases_the_contact(
    harness: Harness, sandbox: CrmOneSandbox, action: str
) -> None:
    people = [customer(i) for i in range(2)]
    harness.write(
        stream_messages("customers", people, 10)
        + stream_messages("orders", [order(1, people[0])], 10)
    )
    other = {"id": "m3", "type": "OrderCreated", "createdAt": "2026-01-01T00:00:00.000Z"}
    messages = [
        record_message("messages", customer_deleted(1, people[0]["id"])),
        record_message("messages", customer_deleted(2, "unknown-customer")),
        record_message("messages", other),
        state_message("messages", 1),
    ]
    run = harness.write(messages, deletions=action)
    counts = run.counts("messages")
    assert counts[f"deletions_{action}d"] == 1
    assert (counts["deletions_not_found"], counts["not_deletions"]) == (1, 1)
    if action == "archive":
        assert sandbox.contact(people[0]["id"])["archived"] is True
    else:
        assert sandbox.contact(people[0]["id"]) is None and len(sandbox.tombstones()) == 1
    # an erased person's orders leave the journal too; an archived one keeps its history
    remembered = harness.query("SELECT count(*) FROM order_facts")[0][0]
    assert remembered == (1 if action == "archive" else 0)
    assert sandbox.contact(people[1]["id"])["archived"] is False


def test_orders_and_deletions_find_contacts_by_customer_id_when_the_identity_is_another_field(
    harness: Harness, sandbox: CrmOneSandbox
) -> None:
    identity = {"source_field": "customerNumber", "prefix": "ct:"}
    person = customer(4)
    messages = [record_message("customers", person), record_message("orders", order(4, person))]
    messages += [record_message("messages", customer_deleted(4, person["id"]))]
    harness.write(messages, identity=identity)
    contact = sandbox.contact("ct:C100004")
    assert contact["archived"] is True
    assert [a["type"] for a in sandbox.activities("ct:C100004")] == ["order_placed"]


def test_streams_without_use_are_acknowledged_and_counted(harness: Harness) -> None:
    messages = stream_messages("products", [{"id": "p1"}, {"id": "p2"}], 10)
    run = harness.write(messages, streams=("customers", "products"))
    assert [s.state.destinationStats.recordCount for s in run.states] == [2.0]
    assert run.counts("products")["ignored"] == 2
    assert harness.queue() == []


def test_prefixed_streams_are_written_and_unknown_ones_reported_once(
    harness: Harness, sandbox: CrmOneSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    people = [customer(i) for i in range(3)]
    messages = stream_messages("ct_customers", people, 10)
    messages += stream_messages("ct_orders", [order(i, people[i]) for i in range(3)], 10)
    messages += stream_messages("ct_products", [{"id": "p1"}, {"id": "p2"}], 10)
    streams = ("ct_customers", "ct_orders", "ct_products")
    run = harness.write(messages, streams=streams)
    assert external_ids(sandbox) == {p["id"] for p in people}
    assert len(sandbox.activities()) == 3
    assert run.counts("ct_customers")["contacts_created"] == 3
    assert run.stats["ignored_streams"] == ["ct_products"]
    assert [r.getMessage() for r in caplog.records].count(
        "ignored stream ct_products: it has no use in CRM One"
    ) == 1
    summary = [m.log.message for m in run.output if m.type == Type.LOG][-1]
    assert "ignored stream ct_products" in summary
    # a configured prefix is stripped first (and only it)
    again = harness.write(
        stream_messages("crm-customers", [customer(7)], 10),
        streams=("crm-customers",),
        stream_prefix="crm-",
    )
    assert again.counts("crm-customers")["contacts_created"] == 1


def test_stream_routes_strip_a_configured_or_detected_prefix() -> None:
    streams = ["customers", "ct_orders", "x-messages", "ct_products", "customers_v2"]
    assert stream_routes(streams, None, STREAM_TABLE) == {
        "customers": "customers",
        "ct_orders": "orders",
        "x-messages": None,
        "ct_products": None,
        "customers_v2": None,
    }
    assert stream_routes(["x-messages", "ct_orders"], "x-", STREAM_TABLE) == {
        "x-messages": "messages",
        "ct_orders": None,
    }


def test_rejected_records_are_counted_on_the_state_that_covers_them(harness: Harness) -> None:
    good, bad = [customer(i) for i in range(6)], bad_customers(4)
    messages = stream_messages("customers", good[:3] + bad[1:], 6)
    messages += stream_messages("customers", good[3:] + bad[:1], 4)
    run = harness.write(messages)
    stats = [(s.state.destinationStats.recordCount, s.state.destinationStats.rejectedRecordCount)
             for s in run.states]  # fmt: skip
    # bad phones, countries and emails are written without the value (partial: delivered);
    # the record without an id cannot be written at all
    assert stats == [(6.0, 1.0), (4.0, 0.0)]
    line = serialize(run.states[0])
    assert json.loads(line)["state"]["destinationStats"] == {
        "recordCount": 6.0,
        "rejectedRecordCount": 1.0,
    }


def test_a_run_where_every_record_is_rejected_succeeds_and_says_so(harness: Harness) -> None:
    bad = [customer(i) | {"email": f"bad-{i}"} for i in range(3)]
    run = harness.write(stream_messages("customers", bad, 10), invalid_values="reject_record")
    assert [s.state.destinationStats.rejectedRecordCount for s in run.states] == [3.0]
    summary = [m.log.message for m in run.output if m.type == Type.LOG][-1]
    assert "every record of customers was rejected" in summary


def test_requests_are_paced_to_the_account_rate(tmp_path: Path) -> None:
    """No second of the run holds more request starts than `/v1/account` allows (a 429 the
    sandbox may still send when a loaded machine delays its threads is retried)."""
    with CrmOneSandbox(requests_per_second=20, max_concurrency=8) as paced:
        harness = Harness(paced, tmp_path)
        people = [customer(i) for i in range(250)]
        run = harness.write(stream_messages("customers", people, 50), batch_size=10)
        assert len(paced.contacts()) == 250
        rows = harness.query("SELECT started_at FROM sync_log WHERE run_id = ?", (run.run_id,))
        starts = sorted(parse_rfc3339(started).timestamp() for (started,) in rows)
        assert len(starts) >= 50
        busiest = max(sum(1 for t in starts if s <= t < s + 1.0) for s in starts)
        assert busiest <= 20


def test_dry_run_reads_crm_one_journals_what_would_change_and_writes_nothing(
    harness: Harness, sandbox: CrmOneSandbox
) -> None:
    people = [customer(i) for i in range(3)]
    messages = stream_messages("customers", [*people, *bad_customers(1)], 10)
    messages += stream_messages("orders", [order(1, people[1])], 10)
    run = harness.write(messages, dry_run=True)
    assert sandbox.contacts() == [] and sandbox.activities() == []
    assert len(run.states) == 2
    writes = [
        path
        for (path,) in harness.query("SELECT path FROM sync_log WHERE method != 'GET'")
        if path not in ("/oauth/token", "/v1/contacts/batch/read")
    ]
    assert writes == []
    reviews = harness.query("SELECT external_id, detail FROM review WHERE kind = 'dry_run'")
    actions = [json.loads(detail)["action"] for _, detail in reviews]
    assert actions.count("create") == 4 and "send activities" in actions
    assert harness.queue() == []
    assert run.counts("customers")["dry_run_would_create"] == 4
    assert run.stats["dry_run"] is True
