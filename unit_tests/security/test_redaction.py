"""Issue #11, finding 4: with `redact_pii` on, no reason, log line, summary or stored field
quotes a personal value, valid or malformed; the retry queue keeps a payload only while a
re-send could succeed. Known values go through every path (good, partial, rejected, conflict,
erased) of the real `write` against the CRM One sandbox; every output and every journal
table is searched for them."""

from __future__ import annotations

import json

import pytest
from airbyte_cdk.models import AirbyteMessage, Type

from destination_crmone.journal import keeps_payload
from integration_tests.destination.airbyte_input import (
    customer,
    customer_deleted,
    order,
    record_message,
)
from sandbox.crmone import CrmOneSandbox
from unit_tests.security.conftest import Destination, found_in

pytestmark = pytest.mark.security


def person(i: int, name: str, email: str, phone: str, **changes: object) -> dict:
    record = customer(i, email=email, firstName="Privacia", lastName=name, **changes)
    record["addresses"][0].update({"phone": phone, "streetName": f"{name}weg"})
    return record


GOOD = person(11, "Goodvalue", "Gina.Goodvalue@privacy.example", "+49 151 23459911")
PARTIAL = person(12, "Partialsson", "pat.partialsson@privacy.example", "030 12")
REJECTED = person(13, "Rejectora", "jane.doe@gmailcom", "0151 99")
CONFLICT = person(14, "Conflictine", GOOD["email"], "+49 151 23459914")
ERASED = person(15, "Erasmussen", "erin.erasmussen@privacy.example", "+49 151 23459915")
RITA_ORDER = order(13, REJECTED) | {"customerEmail": "rita.rejectora@privacy.example"}

# Values nobody but the queue's re-sendable payloads may hold after the runs below.
PERSONAL = [
    "Gina.Goodvalue@privacy.example",
    "Goodvalue",
    "+4915123459911",
    "Partialsson",
    "pat.partialsson@privacy.example",
    "030 12",
    "jane.doe@gmailcom",
    "gmailcom",
    "0151 99",
    "Rejectora",
    "Conflictine",
    "rita.rejectora@privacy.example",
]
ERASED_VALUES = ["Erasmussen", "erin.erasmussen@privacy.example", "+4915123459915", ERASED["id"]]


def outputs(messages: list[AirbyteMessage]) -> str:
    return "\n".join(m.json() if hasattr(m, "json") else str(m) for m in messages)


def test_no_personal_value_leaves_where_it_belongs(
    destination: Destination, sandbox: CrmOneSandbox
) -> None:
    destination.overrides = {"redact_pii": True}
    out = destination.write([record_message("customers", c) for c in (GOOD, ERASED, PARTIAL)])
    out += destination.write(
        [record_message("customers", REJECTED), record_message("orders", RITA_ORDER)],
        invalid_values="reject_record",
    )
    out += destination.write([record_message("customers", CONFLICT)])
    out += destination.write(
        [record_message("messages", customer_deleted(15, ERASED["id"]))], deletions="erase"
    )

    # every path was taken
    assert sandbox.contact(GOOD["id"]) is not None and sandbox.contact(ERASED["id"]) is None
    assert "phone" not in sandbox.contact(PARTIAL["id"])["properties"] or not sandbox.contact(
        PARTIAL["id"]
    )["properties"].get("phone")
    queued = destination.query("SELECT record_key, kind, code, payload FROM retry_queue")
    codes = {key: (kind, code) for key, kind, code, _ in queued}
    assert codes[PARTIAL["id"]] == ("partial", "invalid_phone")
    assert codes[REJECTED["id"]] == ("rejected", "invalid_email")
    assert codes[CONFLICT["id"]] == ("rejected", "email_conflict")
    assert codes[RITA_ORDER["id"]][1] == "contact_not_found"

    # a payload only while a re-send could succeed
    for _key, kind, code, payload in queued:
        assert (json.loads(payload) != {}) == keeps_payload(kind, code)

    texts = destination.journal_text()
    resendable = [json.loads(p) for _, k, c, p in queued if keeps_payload(k, c)]
    texts["retry_queue"] = json.dumps(
        destination.query("SELECT id, stream, record_key, reason, code, kind FROM retry_queue")
    )
    texts["stdout"] = outputs(out)
    texts["logs"] = destination.logged()
    assert found_in(PERSONAL, texts) == {}
    assert found_in(ERASED_VALUES, {**texts, "payloads": json.dumps(resendable)}) == {}
    assert any(m.type == Type.LOG and "rejected" in m.log.message for m in out)

    # reasons name the field and the rule
    reasons = dict(destination.query("SELECT record_key, reason FROM retry_queue"))
    assert "email: not a valid address (missing '.' in domain)" in reasons[REJECTED["id"]]
    assert reasons[PARTIAL["id"]].startswith("phone: not a")


def test_a_dropped_connection_error_in_the_sync_log_keeps_no_query(tmp_path) -> None:
    from destination_crmone.crmone.client import CallRecord
    from destination_crmone.journal import open_journal

    journal = open_journal({"type": "sqlite", "path": str(tmp_path / "j.db")})
    try:
        error = (
            "ConnectionError: HTTPConnectionPool(host='127.0.0.1', port=9): Max retries "
            "exceeded with url: /v1/contacts?email=jane.doe%40gmailcom (Caused by refused)"
        )
        call = CallRecord(
            "GET",
            "/v1/contacts?email=jane.doe%40gmailcom",
            None,
            None,
            None,
            "t",
            "t",
            1,
            "c",
            None,
            None,
            error=error,
        )
        journal.log_call("run", call)
        (row,) = journal.query("SELECT path, error FROM sync_log")
        assert "jane.doe" not in json.dumps(row) and "Max retries" in row[1]
    finally:
        journal.close()
