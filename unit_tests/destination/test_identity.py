"""Identity and matching: any customer field as the identity, the email fallback, a changed
identity refused, mapping changes said by check and by the first log line of write."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from airbyte_cdk.models import Status, Type
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from destination_crmone.destination import DestinationCrmOne
from destination_crmone.journal import open_journal
from integration_tests.destination.airbyte_input import catalog, customer, stream_messages
from sandbox.crmone import CrmOneSandbox

LOYALTY = {"source_field": "custom.fields.loyaltyId", "prefix": "loy:"}


pytestmark = pytest.mark.usefixtures("fast_backoff")


def write(sandbox: CrmOneSandbox, journal: Path, records: list[dict], **config: Any) -> list:
    settings = sandbox.destination_config(str(journal), **config)
    messages = stream_messages("customers", records, every=100)
    return list(DestinationCrmOne().write(settings, catalog("customers"), iter(messages)))


def queue(journal: Path) -> list[tuple[str, str, str]]:
    opened = open_journal({"type": "sqlite", "path": str(journal)})
    try:
        rows = opened.query(
            "SELECT kind, code, reason FROM retry_queue WHERE status = 'pending' ORDER BY id"
        )
        return [tuple(row) for row in rows]
    finally:
        opened.close()


def with_loyalty(i: int, loyalty_id: str | None, **changes: Any) -> dict[str, Any]:
    record = customer(i, **changes)
    if loyalty_id is not None:
        record["custom"]["fields"]["loyaltyId"] = loyalty_id
    return record


def check(sandbox: CrmOneSandbox, journal: Path, **config: Any):
    settings = sandbox.destination_config(str(journal), **config)
    return DestinationCrmOne().check(logging.getLogger("airbyte"), settings)


def test_a_custom_field_is_the_identity_and_a_customer_without_it_is_rejected_naming_it(
    sandbox: CrmOneSandbox, tmp_path: Path
) -> None:
    journal = tmp_path / "j.db"
    assert check(sandbox, journal, identity=LOYALTY).status == Status.SUCCEEDED
    write(sandbox, journal, [with_loyalty(1, "L-1"), with_loyalty(2, None)], identity=LOYALTY)
    assert [c["external_id"] for c in sandbox.contacts()] == ["loy:L-1"]
    ((kind, code, reason),) = queue(journal)
    assert (kind, code) == ("rejected", "missing_external_id")
    assert "custom.fields.loyaltyId" in reason


def test_the_email_fallback_creates_by_email_and_attaches_the_identity_when_it_appears(
    sandbox: CrmOneSandbox, tmp_path: Path
) -> None:
    journal = tmp_path / "j.db"
    identity = {**LOYALTY, "fallback": "email"}
    write(sandbox, journal, [with_loyalty(3, None)], identity=identity)
    (contact,) = sandbox.contacts()
    assert contact["external_id"] is None
    assert contact["properties"]["email"] == "person3@example.com"
    ((kind, code, reason),) = queue(journal)  # written, its consent waits for an external id
    assert (kind, code) == ("partial", "consents_need_external_id")
    assert "custom.fields.loyaltyId" in reason
    later = with_loyalty(3, "L-3", version=2, day=4, lastName="Later")
    write(sandbox, journal, [later], identity=identity)
    (contact,) = sandbox.contacts()  # the same contact, now with its external id
    assert contact["external_id"] == "loy:L-3"
    assert contact["properties"]["last_name"] == "Later"
    assert [c["status"] for c in sandbox.consents("loy:L-3")] == ["withdrawn"]  # i % 3 == 0


def test_a_changed_identity_is_refused_unless_accepted(
    sandbox: CrmOneSandbox, tmp_path: Path
) -> None:
    journal = tmp_path / "j.db"
    write(sandbox, journal, [customer(1)])
    fallback = {"source_field": "id", "fallback": "email"}  # no contact's id changes
    assert check(sandbox, journal, identity=fallback).status == Status.SUCCEEDED
    status = check(sandbox, journal, identity={"source_field": "key"})
    assert status.status == Status.FAILED
    assert "identity" in status.message and "accept_rekey" in status.message
    with pytest.raises(AirbyteTracedException, match="accept_rekey"):
        write(sandbox, journal, [customer(2)], identity={"source_field": "key"})
    assert len(sandbox.contacts()) == 1  # nothing written under the new identity
    accepted = {"source_field": "key", "accept_rekey": True}
    assert check(sandbox, journal, identity=accepted).status == Status.SUCCEEDED
    write(sandbox, journal, [customer(2)], identity=accepted)
    assert {c["external_id"] for c in sandbox.contacts()} == {customer(1)["id"], "customer-2"}


def test_a_mapping_change_is_said_by_check_and_by_the_first_log_line_of_write(
    sandbox: CrmOneSandbox, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    journal = tmp_path / "j.db"
    first = write(sandbox, journal, [customer(1)])
    assert not any("mapping changed" in (m.log.message if m.log else "") for m in first)
    mappings = [{"source": "custom.fields.loyaltyTier", "target": "company"}]
    with caplog.at_level(logging.WARNING, logger="airbyte"):
        assert check(sandbox, journal, field_mappings=mappings).status == Status.SUCCEEDED
    assert "field_mappings" in caplog.text and "reset the customers stream" in caplog.text
    output = write(sandbox, journal, [customer(2)], field_mappings=mappings)
    logs = [m.log.message for m in output if m.type == Type.LOG]
    assert "field_mappings" in logs[0] and "reset the customers stream in Airbyte" in logs[0]
    again = write(sandbox, journal, [customer(3)], field_mappings=mappings)
    assert not any("mapping changed" in m.log.message for m in again if m.type == Type.LOG)


def test_the_identity_config_names_the_field_it_refuses(tmp_path: Path) -> None:
    raw = {"base_url": "https://crm.example", "client_id": "i", "client_secret": "s"}
    for identity, field in (({"source_field": "a..b"}, "identity.source_field"),
                            ({"fallback": "phone"}, "identity.fallback")):  # fmt: skip
        status = DestinationCrmOne().check(logging.getLogger("t"), {**raw, "identity": identity})
        assert status.status == Status.FAILED and field in status.message
