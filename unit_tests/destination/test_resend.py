"""Unchanged records cost nothing: a record whose `(id, version)` was fully sent under the same
mapping is settled before it is mapped; a newer version, or a changed mapping, maps it again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from destination_crmone.contacts import plan
from destination_crmone.destination import DestinationCrmOne
from destination_crmone.journal import open_journal
from integration_tests.destination.airbyte_input import catalog, customer, stream_messages
from sandbox.crmone import CrmOneSandbox

pytestmark = pytest.mark.usefixtures("fast_backoff")


def write(sandbox: CrmOneSandbox, journal: Path, records: list[dict], **config: Any) -> dict:
    settings = sandbox.destination_config(str(journal), **config)
    messages = stream_messages("customers", records, every=10)
    list(DestinationCrmOne().write(settings, catalog("customers"), iter(messages)))
    opened = open_journal({"type": "sqlite", "path": str(journal)})
    try:
        (stats,) = opened.query("SELECT stats FROM runs ORDER BY rowid DESC LIMIT 1")[0]
    finally:
        opened.close()
    return json.loads(stats)["streams"]["customers"]["counts"]


def test_fully_sent_versions_are_not_mapped_again_until_the_mapping_changes(
    sandbox: CrmOneSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = tmp_path / "j.db"
    people = [customer(i) for i in range(25)]
    assert write(sandbox, journal, people)["contacts_created"] == 25
    mapped: list[str] = []
    real = plan.map_customer

    def counting(record: Any, *args: Any) -> Any:
        mapped.append(record["id"])
        return real(record, *args)

    monkeypatch.setattr(plan, "map_customer", counting)
    sandbox.reset_stats()
    again = write(sandbox, journal, people)
    assert mapped == [] and again["contacts_skipped"] == 25
    assert again["consents_skipped"] == 25
    assert set(sandbox.stats()["requests"]) <= {"POST /oauth/token", "GET /v1/account",
                                                 "GET /v1/schema/contacts"}  # fmt: skip
    # a newer version of one customer is mapped (and only it)
    newer = customer(3, version=2, day=5, lastName="Newer")
    counts = write(sandbox, journal, [*people, newer])
    assert mapped == [newer["id"]] and counts["contacts_updated"] == 1
    # a changed mapping maps every record again: versions sent under the old one do not count
    mapped.clear()
    mappings = [{"source": "key", "target": "company"}]
    counts = write(sandbox, journal, people[:5], field_mappings=mappings)
    assert len(mapped) == 5 and counts["contacts_updated"] == 5
    assert sandbox.contact(people[0]["id"])["properties"]["company"] == "customer-0"
