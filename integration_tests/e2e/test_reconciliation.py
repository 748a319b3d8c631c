"""Deletions that no Message delivers, end to end: `source-commercetools read` piped into
`destination-crmone write` (demo.pipeline.Sync) against both sandboxes.

- A customer deleted while syncs were paused longer than the Messages retention: its
  `CustomerDeleted` expired unread, the next sync notices and reconciles, and the contact is
  archived in CRM One.
- A cart deleted by its time to live (no Message at all): the next snapshot closes it, so it
  never gets `cart_abandoned`, while a cart still live does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from demo.pipeline import StateFile, Sync, configured_catalog, write_json
from sandbox.commercetools import CommercetoolsSandbox, SeedSpec
from sandbox.crmone import CrmOneSandbox
from source_commercetools.config import format_datetime

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]
STREAMS = ["customers", "carts", "messages", "customer_ids", "cart_ids"]
NEVER = 10**6  # hours: no cart is abandoned yet


@pytest.fixture
def sandboxes() -> Iterator[tuple[CommercetoolsSandbox, CrmOneSandbox]]:
    with (
        CommercetoolsSandbox(seed=SeedSpec(customers=40, orders=30)) as commercetools,
        CrmOneSandbox(requests_per_second=1000) as crm,
    ):
        yield commercetools, crm


class Pipeline:
    def __init__(self, commercetools: CommercetoolsSandbox, crm: CrmOneSandbox, work: Path):
        self.work = work
        self.paths = {name: work / f"{name}.json" for name in ("source", "destination", "catalog")}
        self.source = commercetools.source_config(page_size=50, retry_backoff_seconds=0.01)
        self.destination = crm.destination_config(str(work / "journal.sqlite"))
        self.state = StateFile(work / "state.json")
        self.runs = 0
        self.configure()
        write_json(self.paths["catalog"], configured_catalog(self.paths["source"], STREAMS))

    def configure(self, **changes: Any) -> None:
        for name, change in changes.items():
            getattr(self, name).update(change)
        write_json(self.paths["source"], self.source)
        write_json(self.paths["destination"], self.destination)

    def age_messages_read(self, days: int) -> None:
        """Time travel for the source's memory: the saved `messages` state says its last
        complete read started `days` ago (the sandbox's clock offset moves the project's
        changes; the source reads the real clock)."""
        states = json.loads(self.state.path.read_text())
        for state in states:
            if state["stream"]["stream_descriptor"]["name"] == "messages":
                moment = datetime.now(UTC) - timedelta(days=days)
                state["stream"]["stream_state"]["read_at"] = format_datetime(moment)
        write_json(self.state.path, states)
        self.state = StateFile(self.state.path)

    def sync(self) -> Any:
        self.runs += 1
        result = Sync(
            f"sync{self.runs}",
            source_config=self.paths["source"],
            destination_config=self.paths["destination"],
            catalog=self.paths["catalog"],
            state_file=StateFile(self.state.path),
            log_dir=self.work / "logs",
            env={"CRMONE_BACKOFF_BASE": "0.01"},
        ).run(timeout_seconds=120)
        assert result.ok, result.errors
        return result


def archived(crm: CrmOneSandbox, customer_id: str) -> bool:
    (contact,) = [c for c in crm.contacts() if c["external_id"].endswith(customer_id)]
    return contact.get("archived") is True


def test_a_deletion_expired_while_paused_is_archived_by_the_next_reconciliation(
    sandboxes, tmp_path: Path
):
    commercetools, crm = sandboxes
    commercetools.set_messages_retention(90)
    commercetools.set_clock_offset(-30)  # changes of 30 days ago …
    commercetools.update_customers(2)
    commercetools.set_clock_offset(0)
    pipeline = Pipeline(commercetools, crm, tmp_path)
    first = pipeline.sync()
    assert first.records["messages"] > 0 and first.records["customer_ids"] > 40 * 0.9

    pipeline.age_messages_read(days=30)  # as if that sync had run 30 days ago …
    commercetools.set_clock_offset(-20)  # … a customer was deleted 20 days ago …
    (gone,) = commercetools.delete_customers(1)
    commercetools.set_clock_offset(0)
    commercetools.set_messages_retention(15)  # … and its CustomerDeleted has expired since
    assert not archived(crm, gone)

    second = pipeline.sync()
    assert second.records["messages"] == 0  # the deletion never arrives as a Message
    assert second.records["customer_ids"] > 0  # reconciled although the last is a day young
    assert archived(crm, gone)
    assert sum(archived(crm, c["id"]) for c in commercetools.records("customers")) == 0

    third = pipeline.sync()  # messages read recently now: nothing lost, no snapshot due
    assert third.records["customer_ids"] == 0


def test_a_cart_deleted_by_its_time_to_live_is_never_abandoned(sandboxes, tmp_path: Path):
    commercetools, crm = sandboxes
    buyer = commercetools.records("customers")[0]

    def active_cart(n: int) -> dict[str, Any]:
        return commercetools.upsert(
            "carts",
            {
                "cartState": "Active",
                "customerId": buyer["id"],
                "customerEmail": buyer["email"],
                "lineItems": [{"id": f"li-{n}", "quantity": 1}],
                "totalPrice": {"currencyCode": "EUR", "centAmount": 1200, "fractionDigits": 2},
            },
        )

    commercetools.set_clock_offset(-10)
    stale = active_cart(1)
    commercetools.set_clock_offset(-1)
    live = active_cart(2)
    commercetools.set_clock_offset(0)
    pipeline = Pipeline(commercetools, crm, tmp_path)
    pipeline.configure(destination={"abandoned_after_hours": NEVER})
    pipeline.sync()
    assert not [a for a in crm.activities() if a["type"] == "cart_abandoned"]

    commercetools.set_cart_ttl(5)  # the stale cart (and the seeded ones) vanish, no Message
    assert stale["id"] in commercetools.expire()["carts"]
    assert stale["id"] not in {c["id"] for c in commercetools.records("carts")}
    pipeline.configure(
        source={"reconcile_every_hours": 0}, destination={"abandoned_after_hours": 1}
    )
    pipeline.sync()
    abandoned = {a["external_id"] for a in crm.activities() if a["type"] == "cart_abandoned"}
    assert abandoned == {f"cart:{live['id']}:abandoned"}
