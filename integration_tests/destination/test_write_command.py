"""The real `destination-crmone write --config C --catalog K < messages.jsonl`, as a subprocess,
against the CRM One sandbox started in this process.

The package is installed editable in .venv (`.venv/bin/pip install -e .`), which provides the
console script. `CRMONE_BACKOFF_BASE` shortens the retry back-off; 429's `Retry-After` is kept.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from integration_tests.destination.airbyte_input import (
    bad_customers,
    catalog_json,
    customer,
    customer_deleted,
    order,
    stream_messages,
    write_jsonl,
)
from sandbox.crmone import CrmOneSandbox

pytestmark = pytest.mark.slow
COMMAND = Path(sys.executable).parent / "destination-crmone"
STREAMS = ("customers", "orders", "messages", "products")


@dataclass
class Output:
    messages: list[dict[str, Any]]
    stderr: str

    @property
    def states(self) -> list[dict[str, Any]]:
        return [m["state"] for m in self.messages if m["type"] == "STATE"]

    @property
    def logs(self) -> list[str]:
        return [m["log"]["message"] for m in self.messages if m["type"] == "LOG"]

    @property
    def errors(self) -> list[dict[str, Any]]:
        return [m["trace"]["error"] for m in self.messages if m["type"] == "TRACE"]


class Job:
    """Config, catalog and input files in a temporary directory, and the command over them."""

    def __init__(self, sandbox: CrmOneSandbox, directory: Path, **overrides: Any) -> None:
        self.sandbox = sandbox
        self.directory = directory
        self.config = sandbox.destination_config(str(directory / "journal.db"), **overrides)
        self.config_path = directory / "config.json"
        self.config_path.write_text(json.dumps(self.config))
        self.catalog_path = directory / "catalog.json"
        self.catalog_path.write_text(json.dumps(catalog_json(*STREAMS)))

    def write(self, input_path: Path, *, exit_code: int = 0) -> Output:
        env = {**os.environ, "CRMONE_BACKOFF_BASE": "0.01"}
        command = [str(COMMAND), "write", "--config", str(self.config_path)]
        with input_path.open("rb") as stdin:
            done = subprocess.run(
                [*command, "--catalog", str(self.catalog_path)],
                stdin=stdin,
                capture_output=True,
                env=env,
                timeout=300,
                check=False,
            )
        stdout = done.stdout.decode()
        assert done.returncode == exit_code, (stdout[-3000:], done.stderr.decode()[-3000:])
        assert self.config["client_secret"] not in stdout + done.stderr.decode()
        messages = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
        return Output(messages, done.stderr.decode())

    def journal(self, what: str) -> list[dict[str, Any]]:
        """`destination-crmone journal --config C <what> --json`."""
        command = [str(COMMAND), "journal", "--config", str(self.config_path), what]
        done = subprocess.run(
            [*command, "--json", "--limit", "100000"],
            capture_output=True,
            timeout=60,
            check=True,
        )
        return [json.loads(line) for line in done.stdout.decode().splitlines()]

    def last_stats(self) -> dict[str, Any]:
        stats = self.journal("runs")[0]["stats"]
        return json.loads(stats) if isinstance(stats, str) else stats


def shop(customers: int, orders: int) -> tuple[list[dict], list[dict], list[dict]]:
    """Customers, their orders (every 10th a guest order under a customer's email, every 7th
    cancelled) and CustomerDeleted messages for the first five customers."""
    people = [customer(i) for i in range(customers)]
    placed = []
    for i in range(orders):
        buyer = people[i % customers]
        state = "Cancelled" if i % 7 == 0 else "Open"
        if i % 10 == 9:
            guest = order(i, None, state=state)
            guest["customerEmail"] = buyer["email"]
            placed.append(guest)
        else:
            placed.append(order(i, buyer, state=state))
    deleted = [customer_deleted(i, people[i]["id"]) for i in range(5)]
    return people, placed, deleted


def input_file(directory: Path, name: str, people: list, placed: list, deleted: list) -> Path:
    messages = stream_messages("customers", people, every=250)
    messages += stream_messages("orders", placed, every=500)
    messages += stream_messages("messages", deleted, every=100)
    messages += stream_messages("products", [{"id": "p1"}, {"id": "p2"}], every=100)
    return write_jsonl(directory / name, messages)


def input_states(path: Path) -> list[dict[str, Any]]:
    states = []
    for line in path.read_text().splitlines():
        message = json.loads(line)
        if message["type"] == "STATE":
            states.append(message["state"])
    return states


def assert_end_state(sandbox: CrmOneSandbox, people: list, placed: list) -> None:
    """Every customer a contact, its consent, one activity per order event, nothing twice."""
    contacts = sandbox.contacts()
    assert Counter(c["external_id"] for c in contacts) == Counter(p["id"] for p in people)
    assert sum(c["archived"] for c in contacts) == 5
    for person in people:
        (consent,) = sandbox.consents(person["id"])
        granted = person["custom"]["fields"]["newsletterOptIn"]
        assert consent["status"] == ("granted" if granted else "withdrawn")
    activities = sandbox.activities()
    by_type = Counter(a["type"] for a in activities)
    cancelled = sum(o["orderState"] == "Cancelled" for o in placed)
    assert by_type == {"order_placed": len(placed), "order_cancelled": cancelled}
    assert len({a["external_id"] for a in activities}) == len(activities)


def test_2000_customers_with_orders_and_then_the_same_input_again(
    sandbox: CrmOneSandbox, tmp_path: Path
) -> None:
    people, placed, deleted = shop(2000, 3000)
    path = input_file(tmp_path, "messages.jsonl", people, placed, deleted)
    job = Job(sandbox, tmp_path)

    first = job.write(path)
    assert_end_state(sandbox, people, placed)
    sent_states = input_states(path)
    assert [s["stream"] for s in first.states] == [s["stream"] for s in sent_states]
    assert sum(s["destinationStats"]["recordCount"] for s in first.states) == (
        len(people) + len(placed) + len(deleted) + 2
    )
    assert any("CRM One sync" in log for log in first.logs)
    stats = job.last_stats()
    assert stats["streams"]["customers"]["counts"]["contacts_created"] == 2000
    assert stats["streams"]["messages"]["counts"]["deletions_archived"] == 5
    assert stats["streams"]["products"]["counts"]["ignored"] == 2
    assert job.journal("queue") == []

    before = sandbox.dump()
    second = job.write(path)
    assert len(second.states) == len(sent_states)
    assert sandbox.dump() == before
    counts = job.last_stats()["streams"]
    customers, orders = counts["customers"]["counts"], counts["orders"]["counts"]
    assert customers["contacts_skipped"] == 2000
    assert customers["consents_skipped"] == 2000  # unchanged since the last run: not sent
    # order_placed again (unchanged); a cancellation is written once and not sent again
    assert orders["activities_unchanged"] == len(placed)
    changed = ("contacts_created", "contacts_updated", "consents_applied")
    assert [customers[name] for name in changed] == [0, 0, 0]
    assert [orders["activities_created"], orders["activities_updated"]] == [0, 0]
    assert counts["messages"]["counts"]["deletions_unchanged"] == 5


def test_injected_faults_and_429s_reach_the_same_end_state_without_duplicates(
    tmp_path: Path,
) -> None:
    people, placed, deleted = shop(500, 750)
    with CrmOneSandbox(requests_per_second=200, max_concurrency=64) as sandbox:
        # 429 weighted twice so that some appear among the run's few dozen calls
        sandbox.set_faults(0.2, statuses=(429, 429, 502, 503, 504), drop_rate=0.03)
        job = Job(sandbox, tmp_path)
        output = job.write(input_file(tmp_path, "messages.jsonl", people, placed, deleted))
        sandbox.set_faults(0.0, drop_rate=0.0)
        assert_end_state(sandbox, people, placed)
        assert len(output.states) == len(input_states(tmp_path / "messages.jsonl"))
        stats = job.last_stats()
        assert stats["retries"] > 0
        statuses = Counter(row["status"] for row in job.journal("calls"))
        assert statuses[429] > 0 and statuses[None] + statuses[502] + statuses[503] > 0
        assert job.journal("queue") == []


def test_100_bad_records_are_queued_with_their_reasons_and_the_good_ones_written(
    sandbox: CrmOneSandbox, tmp_path: Path
) -> None:
    good = [customer(i) for i in range(400)]
    bad = bad_customers(100)
    path = write_jsonl(
        tmp_path / "messages.jsonl", stream_messages("customers", good + bad, every=100)
    )
    job = Job(sandbox, tmp_path)
    output = job.write(path)
    assert len(output.states) == 5
    queue = job.journal("queue")
    assert len(queue) == 100
    assert all(row["reason"] for row in queue)
    assert Counter(row["code"] for row in queue) == {
        "invalid_email": 25,
        "invalid_phone": 25,
        "invalid_value": 25,  # country XX
        "missing_external_id": 25,
    }
    written = {c["external_id"] for c in sandbox.contacts()}
    assert {c["id"] for c in good} <= written
    # records with an invalid optional value are written without it (omit_field)
    assert len(written) == 475


def test_crm_one_going_down_fails_the_sync_transiently_and_the_next_attempt_completes_it(
    sandbox: CrmOneSandbox, tmp_path: Path
) -> None:
    people, placed, deleted = shop(2000, 600)
    path = input_file(tmp_path, "messages.jsonl", people, placed, deleted)
    job = Job(sandbox, tmp_path, retry_budget_seconds=2)
    # token, account, schema, then 20 of the 40 calls of the customers (upsert + consents
    # per 100): at most `concurrency` batches are cut short, the first ones are complete
    sandbox.go_down(after=23)

    failed = job.write(path, exit_code=1)
    (error,) = failed.errors
    assert error["failure_type"] == "transient_error"
    assert "checkpointed" in error["message"] and "next attempt" in error["message"]
    assert job.journal("queue") == []  # nothing parked
    assert job.journal("runs")[0]["status"] == "failed"
    # the last echoed state covers exactly records that are in CRM One, consents included
    assert failed.states, "the batches before the outage were checkpointed"
    last = failed.states[-1]
    position = last["stream"]["stream_state"]["position"]
    assert last["stream"]["stream_descriptor"]["name"] == "customers"
    assert sum(s["destinationStats"]["recordCount"] for s in failed.states) == position
    assert all(s["destinationStats"]["rejectedRecordCount"] == 0 for s in failed.states)
    in_crm = {c["external_id"] for c in sandbox.contacts()}
    assert {p["id"] for p in people[:position]} <= in_crm
    assert all(sandbox.consents(p["id"]) for p in people[:position])
    assert len(in_crm) < len(people)

    # Airbyte's next attempt: the source resumes after the last echoed state
    sandbox.come_back()
    lines = path.read_text().splitlines()
    echoed = json.dumps(last["stream"]["stream_state"])
    cut = next(
        i for i, line in enumerate(lines)
        if '"STATE"' in line and json.dumps(json.loads(line)["state"]["stream"]["stream_state"])
        == echoed and json.loads(line)["state"]["stream"]["stream_descriptor"]["name"]
        == "customers"
    )  # fmt: skip
    rest = tmp_path / "rest.jsonl"
    rest.write_text("\n".join(lines[cut + 1 :]) + "\n")
    resumed = job.write(rest)
    assert not resumed.errors
    assert_end_state(sandbox, people, placed)
    assert job.journal("queue") == []
