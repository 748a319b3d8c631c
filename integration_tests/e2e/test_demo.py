"""`python -m demo` end to end on small sandboxes: its summary against what CRM One holds.

The demo is run as a user runs it (a subprocess, its own sandboxes, two connector processes
over a pipe). It leaves `summary.json`, both sandboxes' dumps and the destination journal in
its work directory; the facts of the summary are checked against those dumps.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import phonenumbers
import pycountry
import pytest
from email_validator import EmailNotValidError, validate_email

from demo.pipeline import write_json
from demo.sandboxes import Seed
from integration_tests.e2e.expected import queued
from integration_tests.e2e.workspace import run_bounded

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

SIZES = {"customers": 300, "orders": 900, "bad-customers": 8}
CHANGES = {"update-customers": 30, "delete-customers": 4, "update-orders": 20, "cancel-orders": 10}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    workdir = tmp_path_factory.mktemp("demo")
    flags = [f"--{name}={value}" for name, value in {**SIZES, **CHANGES}.items()]
    completed = run_bounded(
        [sys.executable, "-m", "demo", "--workdir", str(workdir), "--timeout", "150", *flags],
        timeout=200,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]

    def load(name: str) -> Any:
        return json.loads((workdir / name).read_text())

    return {
        "stdout": completed.stdout,
        "runs": load("summary.json"),
        "crm": load("crm-dump.json"),
        "commercetools": load("commercetools-dump.json"),
        "state": load("state.json"),
        "catalog": load("catalog.json"),
        "journal": workdir / "journal.sqlite",
    }


def counts(run: dict[str, Any], stream: str) -> dict[str, int]:
    return run["destination_run"]["stats"]["streams"][stream]["counts"]


def invalid_fields(customer: dict[str, Any]) -> set[str]:
    """The customer's email, phone or country that no CRM may store, checked independently."""
    bad = set()
    email = (customer.get("email") or "").strip()
    if email:
        try:
            validate_email(email, check_deliverability=False)
        except EmailNotValidError:
            bad.add("email")
    address = (customer.get("addresses") or [{}])[0]
    country = address.get("country")
    if country and pycountry.countries.get(alpha_2=country) is None:
        bad.add("country")
    phone = address.get("phone")
    if phone:
        try:
            number = phonenumbers.parse(phone, country if "country" not in bad else None)
            if not phonenumbers.is_valid_number(number):
                bad.add("phone")
        except phonenumbers.NumberParseException:
            bad.add("phone")
    return bad


def test_the_demo_prints_progress_and_a_summary_of_both_runs(demo: dict[str, Any]) -> None:
    out = demo["stdout"]
    assert "[run1]" in out and "[run2]" in out  # progress lines
    assert "Run 1: initial sync: ok" in out
    assert "Run 2: incremental sync from state.json: ok" in out
    for run in demo["runs"]:
        assert run["ok"] and run["sync"]["states_echoed"] == run["sync"]["states_sent"] > 0
        assert run["requests"]["commercetools"] > 0 and run["requests"]["crmone"] > 0
    saved = {state["stream"]["stream_descriptor"]["name"] for state in demo["state"]}
    assert saved == {stream["stream"]["name"] for stream in demo["catalog"]["streams"]}


def test_every_valid_customer_is_a_contact(demo: dict[str, Any]) -> None:
    first, second = demo["runs"]
    deleted = set(second["changes"]["deleted_customers"])
    customers = {c["id"] for c in demo["commercetools"]["customers"]} | deleted
    assert first["sync"]["records"]["customers"] == len(customers)
    assert len(customers) == SIZES["customers"] + SIZES["bad-customers"]

    rejected = set(queued(demo["journal"], "customers", ("rejected",)))
    contacts = {c["external_id"]: c for c in demo["crm"]["contacts"] if c["external_id"]}
    assert set(contacts) == customers - rejected
    assert {key for key, contact in contacts.items() if contact["archived"]} == deleted - rejected
    assert counts(first, "customers")["contacts_created"] == len(customers - rejected)
    if not rejected:
        verdict = f"every one of the {len(customers)} commercetools customers is a contact"
        assert verdict in demo["stdout"]


def test_bad_customers_are_queued_with_their_reasons(demo: dict[str, Any]) -> None:
    bad = {c["id"]: invalid_fields(c) for c in demo["commercetools"]["customers"]}
    bad = {key: fields for key, fields in bad.items() if fields}
    assert bad, "the sandbox was seeded with bad customers"
    reasons = queued(demo["journal"], "customers", ("rejected", "partial"))
    assert set(reasons) == set(bad)
    for key, fields in bad.items():
        assert all(field in reasons[key] for field in fields), (key, fields, reasons[key])
    first = counts(demo["runs"][0], "customers")
    assert first["rejected"] + first["partial"] == len(bad)
    assert "customers partial invalid_" in demo["stdout"]  # reasons are grouped in the summary


def test_the_second_run_sends_only_what_changed(demo: dict[str, Any]) -> None:
    first, second = demo["runs"]
    changes = second["changes"]
    updated = set(changes["updated_customers"]) - set(changes["deleted_customers"])
    orders = set(changes["updated_orders"]) | set(changes["cancelled_orders"])
    read = second["sync"]["records"]
    assert read["customers"] == len(updated) < first["sync"]["records"]["customers"]
    assert read["orders"] == len(orders)
    assert read.get("messages", 0) > 0
    assert {name for name, n in read.items() if n} == {"customers", "orders", "messages"}

    customers = counts(second, "customers")
    assert customers["contacts_created"] == 0
    assert customers["contacts_updated"] == len(updated)
    assert counts(second, "messages")["deletions_archived"] == len(changes["deleted_customers"])

    by_id = {c["id"]: c for c in demo["commercetools"]["customers"]}
    contacts = {c["external_id"]: c for c in demo["crm"]["contacts"]}
    for key in updated:
        assert contacts[key]["properties"]["first_name"] == by_id[key]["firstName"]
        opted = by_id[key]["custom"]["fields"]["newsletterOptIn"]
        email = [c for c in demo["crm"]["consents"][key] if c["channel"] == "email"]
        assert [c["status"] for c in email] == ["granted" if opted else "withdrawn"]

    cancelled = {a["external_id"] for a in demo["crm"]["activities"]} & {
        f"order:{key}:cancelled" for key in changes["cancelled_orders"]
    }
    assert cancelled, "cancelled orders of known contacts became activities"
    # what the changed orders reached in between: written at their last change, once
    changed = {o["id"]: o for o in demo["commercetools"]["orders"] if o["id"] in orders}
    new = {
        a["external_id"]
        for a in demo["crm"]["activities"]
        if a["type"] in ("order_updated", "order_cancelled")
        and (order := changed.get(a["external_id"].split(":")[1])) is not None
        and a["occurred_at"] == order["lastModifiedAt"]
    }
    assert cancelled <= new and any(":shipment:" in key for key in new)
    assert counts(second, "orders")["activities_created"] == len(new)
    assert second["requests"]["crmone"] < first["requests"]["crmone"]


def test_carts_guests_and_lifecycle_events_reach_crm_one(demo: dict[str, Any]) -> None:
    activities = demo["crm"]["activities"]
    types = {a["type"] for a in activities}
    assert {"checkout_started", "cart_abandoned", "order_updated", "order_returned"} <= types
    carts = {c["id"]: c for c in demo["commercetools"]["carts"]}
    abandoned = {
        a["external_id"].split(":")[1] for a in activities if a["type"] == "cart_abandoned"
    }
    assert abandoned and all(carts[key]["cartState"] == "Active" for key in abandoned)
    guests = [c for c in demo["crm"]["contacts"] if not c["external_id"]]
    assert guests and all(c["properties"].get("email") for c in guests)
    read = {s["stream"]["name"] for s in demo["catalog"]["streams"]}
    assert read == {  # nothing read to be dropped; the id snapshots find unannounced deletions
        *("customers", "carts", "orders", "messages"),
        *("customer_ids", "order_ids", "cart_ids"),
    }
    assert "activities: checkout_started" in demo["stdout"]
    assert counts(demo["runs"][0], "carts")["carts_abandoned"] == len(abandoned)


def run_demo(*flags: str) -> subprocess.CompletedProcess[str]:
    return run_bounded([sys.executable, "-m", "demo", *flags], timeout=120)


def test_with_config_files_the_demo_runs_one_sync_from_the_state_file(
    start_sandboxes, tmp_path: Path
) -> None:
    """Config-file mode (real accounts): no sandboxes of its own, no changes, state kept."""
    sandboxes = start_sandboxes(Seed(customers=60, orders=120, bad_customers=0))
    write_json(tmp_path / "source.json", sandboxes.source_config())
    write_json(tmp_path / "destination.json", sandboxes.destination_config(tmp_path / "j.sqlite"))
    flags = ["--workdir", str(tmp_path / "work"), "--state-file", str(tmp_path / "state.json")]
    flags += ["--source-config", str(tmp_path / "source.json")]
    flags += ["--destination-config", str(tmp_path / "destination.json")]

    first = run_demo(*flags)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "Sync from the start (no state yet): ok" in first.stdout
    assert "Run 2" not in first.stdout
    held = sandboxes.crm_dump()["contacts"]
    assert len([c for c in held if c["external_id"]]) == 60  # and the guest buyers by email
    assert (tmp_path / "state.json").exists()

    second = run_demo(*flags)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    summary = json.loads((tmp_path / "work" / "real" / "summary.json").read_text())
    assert [run["sync"]["records"] for run in summary] == [{}]  # nothing changed since
    assert f"Sync from {tmp_path / 'state.json'}: ok" in second.stdout


def test_the_demo_exits_non_zero_when_a_connector_fails(start_sandboxes, tmp_path: Path) -> None:
    sandboxes = start_sandboxes(Seed(customers=20, orders=40, bad_customers=0))
    wrong = sandboxes.destination_config(tmp_path / "j.sqlite", client_secret="wrong-secret")
    write_json(tmp_path / "source.json", sandboxes.source_config())
    write_json(tmp_path / "destination.json", wrong)

    failed = run_demo(
        "--workdir", str(tmp_path / "work"),
        "--source-config", str(tmp_path / "source.json"),
        "--destination-config", str(tmp_path / "destination.json"),
    )  # fmt: skip
    assert failed.returncode == 1, failed.stdout[-3000:] + failed.stderr[-3000:]
    assert "FAILED" in failed.stdout and "error: destination:" in failed.stdout
    assert "wrong-secret" not in failed.stdout + failed.stderr
    assert sandboxes.crm_dump()["contacts"] == []
