"""Customer truth per field, through `write` against the CRM One sandbox: a person's edit in
CRM One and a withdrawal survive changes of other fields, the newest consent wins inside one
run, and a STATE is echoed while the source is silent (stdin open, nothing written)."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from airbyte_cdk.models import AirbyteMessageSerializer, Type

from destination_crmone.crmone.client import CrmOneClient
from destination_crmone.destination import DestinationCrmOne
from destination_crmone.timefmt import format_rfc3339
from integration_tests.destination.airbyte_input import (
    catalog,
    catalog_json,
    customer,
    stream_messages,
)
from sandbox.crmone import CrmOneSandbox

COMMAND = Path(sys.executable).parent / "destination-crmone"


pytestmark = pytest.mark.usefixtures("fast_backoff")


def later(hours: float) -> str:
    """A source time after anything the sandbox stamps now (its clock is the wall clock)."""
    return format_rfc3339(datetime.now(UTC) + timedelta(hours=hours))


def write(sandbox: CrmOneSandbox, journal: Path, records: list[dict], **config: Any) -> list:
    settings = sandbox.destination_config(str(journal), **config)
    messages = stream_messages("customers", records, every=100)
    return list(DestinationCrmOne().write(settings, catalog("customers"), iter(messages)))


def client(sandbox: CrmOneSandbox) -> CrmOneClient:
    return CrmOneClient(sandbox.url, sandbox.client_id, sandbox.client_secret, backoff_base=0.001)


def email_consent(sandbox: CrmOneSandbox, external_id: str) -> dict[str, Any]:
    (found,) = [c for c in sandbox.consents(external_id) if c["channel"] == "email"]
    return found


TIER = {
    "field_mappings": [{"source": "custom.fields.loyaltyTier", "target": "loyalty_tier"}],
    "ownership": [
        {"property": "first_name", "owner": "most_recent"},
        {"property": "loyalty_tier", "owner": "most_recent"},
    ],
}


def test_most_recent_edits_in_crm_one_survive_a_change_of_another_field(
    sandbox: CrmOneSandbox, tmp_path: Path
) -> None:
    client(sandbox).add_contact_property({"name": "loyalty_tier", "type": "string"})
    first = customer(1)
    first["custom"]["fields"]["loyaltyTier"] = "silver"
    write(sandbox, tmp_path / "j.db", [first], **TIER)
    sandbox.user_edit(first["id"], {"first_name": "Anna", "loyalty_tier": "gold"})
    # later, the customer changes only their company in commercetools
    moved = customer(1, version=2, lastModifiedAt=later(1), companyName="Beta GmbH")
    moved["custom"]["fields"]["loyaltyTier"] = "silver"
    write(sandbox, tmp_path / "j.db", [moved], **TIER)
    properties = sandbox.contact(first["id"])["properties"]
    assert properties["company"] == "Beta GmbH"
    assert (properties["first_name"], properties["loyalty_tier"]) == ("Anna", "gold")
    # a change of that field in commercetools after the edit does win
    renamed = customer(1, version=3, lastModifiedAt=later(2), companyName="Beta GmbH")
    renamed["firstName"] = "Ana Maria"
    renamed["custom"]["fields"]["loyaltyTier"] = "silver"
    write(sandbox, tmp_path / "j.db", [renamed], **TIER)
    properties = sandbox.contact(first["id"])["properties"]
    assert (properties["first_name"], properties["loyalty_tier"]) == ("Ana Maria", "gold")


def test_a_withdrawal_in_crm_one_is_not_undone_by_an_unrelated_change(
    sandbox: CrmOneSandbox, tmp_path: Path
) -> None:
    person = customer(1)  # newsletterOptIn true
    del person["custom"]["fields"]["newsletterOptInAt"]  # no time of its own
    write(sandbox, tmp_path / "j.db", [person])
    assert email_consent(sandbox, person["id"])["status"] == "granted"
    withdrawal = {
        "contact_external_id": person["id"],
        "channel": "email",
        "purpose": "marketing",
        "status": "withdrawn",
        "updated_at": format_rfc3339(datetime.now(UTC)),
        "source": "crm_one",
        "evidence": {"by": "support"},
    }
    client(sandbox).upsert_consents([withdrawal], idempotency_key="withdrawal-1")
    renamed = customer(1, version=2, lastModifiedAt=later(1), lastName="Moved")
    del renamed["custom"]["fields"]["newsletterOptInAt"]
    write(sandbox, tmp_path / "j.db", [renamed])
    assert sandbox.contact(person["id"])["properties"]["last_name"] == "Moved"
    assert email_consent(sandbox, person["id"])["status"] == "withdrawn"


def consent_versions() -> tuple[dict[str, Any], dict[str, Any]]:
    """Version 6 withdraws (2026-06-01); version 7 carries a stale grant written back by a
    storefront (2025-01-01)."""
    v6 = customer(4, version=6, lastModifiedAt="2026-06-01T10:00:00.000Z")
    v6["custom"]["fields"].update(newsletterOptIn=False, newsletterOptInAt="2026-06-01T00:00:00Z")
    v7 = customer(4, version=7, lastModifiedAt="2026-06-02T10:00:00.000Z")
    v7["custom"]["fields"].update(newsletterOptIn=True, newsletterOptInAt="2025-01-01T00:00:00Z")
    return v6, v7


def test_the_newest_consent_wins_inside_one_run(sandbox: CrmOneSandbox, tmp_path: Path) -> None:
    v6, v7 = consent_versions()
    write(sandbox, tmp_path / "j.db", [v6, v7])
    assert email_consent(sandbox, v6["id"])["status"] == "withdrawn"


def test_the_newest_consent_wins_across_runs(sandbox: CrmOneSandbox, tmp_path: Path) -> None:
    v6, v7 = consent_versions()
    write(sandbox, tmp_path / "j.db", [v6])
    write(sandbox, tmp_path / "j.db", [v7])
    assert email_consent(sandbox, v6["id"])["status"] == "withdrawn"


def lines(stream: Any, into: queue.Queue) -> None:
    for line in iter(stream.readline, b""):
        into.put(line)
    into.put(None)


def test_a_state_is_echoed_while_the_source_is_silent(
    sandbox: CrmOneSandbox, tmp_path: Path
) -> None:
    """150 customers and a STATE, then the source pauses with stdin open: the 50 contacts
    past the first full batch go after the flush bound and the STATE within seconds."""
    config = tmp_path / "config.json"
    config.write_text(json.dumps(sandbox.destination_config(str(tmp_path / "j.db"))))
    catalog_path = tmp_path / "catalog.json"
    catalog_path.write_text(json.dumps(catalog_json("customers")))
    env = {**os.environ, "CRMONE_BACKOFF_BASE": "0.01"}
    process = subprocess.Popen(
        [str(COMMAND), "write", "--config", str(config), "--catalog", str(catalog_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    output: queue.Queue = queue.Queue()
    threading.Thread(target=lines, args=(process.stdout, output), daemon=True).start()
    try:
        messages = stream_messages("customers", [customer(i) for i in range(150)], every=150)
        for message in messages:
            process.stdin.write(json.dumps(AirbyteMessageSerializer.dump(message)).encode())
            process.stdin.write(b"\n")
        process.stdin.flush()  # and nothing more: the source is silent, stdin stays open
        sent_at = time.monotonic()
        state = None
        while state is None and time.monotonic() - sent_at < 20:
            try:
                line = output.get(timeout=1)
            except queue.Empty:
                continue
            assert line is not None, "the destination ended while its input was open"
            message = json.loads(line)
            if message["type"] == Type.STATE.value:
                state = message
        waited = time.monotonic() - sent_at
        assert state is not None, "no STATE echoed in 20 s while the source was silent"
        assert state["state"]["destinationStats"]["recordCount"] == 150
        assert waited < 10  # flush_after (3 s) plus about a second
        assert len(sandbox.contacts()) == 150
        assert process.poll() is None  # still reading
    finally:
        process.stdin.close()
        process.wait(timeout=60)
    assert process.returncode == 0
