"""Id reconciliation (`customer_ids`, `order_ids`, `cart_ids`) and the watch on lost Messages,
against the commercetools sandbox."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from airbyte_cdk.models import SyncMode

from sandbox.commercetools import CommercetoolsSandbox, SeedSpec
from source_commercetools.config import format_datetime
from source_commercetools.snapshots import MARKER
from unit_tests.source.conftest import run_read

SEED = SeedSpec(customers=700, orders=300)
ALL_SCOPES = [
    f"view_{s}:demo"
    for s in ("customers", "orders", "messages", "types", "project_settings", "payments")
]


@pytest.fixture
def sandbox() -> Iterator[CommercetoolsSandbox]:
    with CommercetoolsSandbox(seed=SEED) as server:
        server.add_client("all", "s3cret", ALL_SCOPES)
        yield server


def conf(sandbox: CommercetoolsSandbox, **overrides) -> dict:
    return sandbox.source_config(
        client_id="all", client_secret="s3cret", page_size=200, **overrides
    )


def records(output, stream: str) -> list[dict]:
    return [m.record.data for m in output.records if m.record.stream == stream]


def final_state(output, stream: str) -> dict:
    states = [
        m.state.stream.stream_state.__dict__
        for m in output.state_messages
        if m.state.stream.stream_descriptor.name == stream
    ]
    return states[-1]


def days_ago(days: float) -> str:
    return format_datetime(datetime.now(UTC) - timedelta(days=days))


def test_a_snapshot_is_every_live_id_once_then_a_marker_and_waits_for_its_interval(sandbox):
    sandbox.delete_customers(5)
    output = run_read(conf(sandbox), ["customer_ids"], mode=SyncMode.full_refresh)
    got = records(output, "customer_ids")
    *ids, marker = got
    live = {c["id"]: c["version"] for c in sandbox.records("customers")}
    assert Counter(r["id"] for r in ids) == Counter(live.keys())
    assert all(r["version"] == live[r["id"]] for r in ids)
    assert set(ids[0]) == {"id", "version", "lastModifiedAt"}
    snapshot = marker[MARKER]
    assert snapshot["complete"] is True and snapshot["count"] == len(live)
    assert snapshot["stores"] is None
    assert snapshot["safe_before"] < snapshot["started_at"]
    state = final_state(output, "customer_ids")
    assert state["snapshot"]["count"] == len(live)
    # 700 customers, 200 a page: 4 pages, plus the newest record and up to 2 x concurrency
    # time slices of the concurrent reader (each ends with a short page); no REST query
    requests = sandbox.stats()["requests"]
    assert 4 <= requests["POST /demo/graphql"] <= 4 + 1 + 2 * 4
    assert not any(key.startswith("GET /demo/customers") for key in requests)

    # within reconcile_every_hours (24): nothing, the state kept
    again = run_read(conf(sandbox), ["customer_ids"], {"customer_ids": state})
    assert records(again, "customer_ids") == []
    assert final_state(again, "customer_ids") == state
    # 0: every run
    every = run_read(
        conf(sandbox, reconcile_every_hours=0), ["customer_ids"], {"customer_ids": state}
    )
    assert len(records(every, "customer_ids")) == len(live) + 1


def test_a_store_scoped_snapshot_reads_each_store_and_misses_who_left(sandbox):
    members = [c for c in sandbox.records("customers") if c["stores"]]
    leaver = next(c for c in members if [s["key"] for s in c["stores"]] == ["eu-web"])
    sandbox.set_customer_stores([leaver["id"]], [])  # no Message for this
    output = run_read(conf(sandbox, store_keys=["eu-web", "us-web"]), ["customer_ids"])
    *ids, marker = records(output, "customer_ids")
    expected = {(c["id"], s["key"]) for c in sandbox.records("customers") for s in c["stores"]}
    assert {(r["id"], r["_ab_store_key"]) for r in ids} == expected
    assert leaver["id"] not in {r["id"] for r in ids}
    assert marker[MARKER]["stores"] == ["eu-web", "us-web"]


def test_an_interrupted_snapshot_has_no_marker_and_keeps_the_old_state(sandbox):
    old = {"snapshot": {"completed_at": days_ago(3), "started_at": days_ago(3), "count": 1}}
    sandbox.set_faults(1.0, (400,))  # every API call fails: the stream stops
    output = run_read(conf(sandbox, retry_backoff_seconds=0.01), ["order_ids"], {"order_ids": old})
    assert not any(MARKER in r for r in records(output, "order_ids"))
    assert all(
        m.state.stream.stream_state.__dict__ == old
        for m in output.state_messages
        if m.state.stream.stream_descriptor.name == "order_ids"
    )


def test_expired_messages_force_a_reconciliation_and_say_so(sandbox, caplog):
    recent = {"snapshot": {"completed_at": days_ago(0.1), "started_at": days_ago(0.1), "count": 1}}
    lost = {"createdAt": days_ago(20), "id": "m-1"}  # read 20 days ago; kept 15
    with caplog.at_level(logging.WARNING):
        output = run_read(
            conf(sandbox),
            ["messages", "customer_ids", "cart_ids"],
            {"messages": lost, "customer_ids": recent, "cart_ids": recent},
        )
    traces = [m.trace.analytics for m in output.analytics_messages]
    assert [t.type for t in traces] == ["deletions_may_be_lost"]
    assert "15 days" in traces[0].value and "customer_ids" in traces[0].value
    assert MARKER in records(output, "customer_ids")[-1]  # forced, whatever the interval
    assert records(output, "cart_ids") == []  # carts have no Messages: interval only
    assert "reconciling now because" in caplog.text

    # messages read yesterday (retention 15 days): nothing lost, no extra requests either
    sandbox.reset_stats()
    fresh = {"createdAt": days_ago(0.5), "id": "m-1"}
    quiet = run_read(
        conf(sandbox), ["messages", "customer_ids"], {"messages": fresh, "customer_ids": recent}
    )
    assert quiet.analytics_messages == [] and records(quiet, "customer_ids") == []
    assert "GET /demo" not in sandbox.stats()["requests"]


def test_a_quiet_project_read_recently_lost_nothing(sandbox):
    """No Message for 30 days, but the last complete read of them started an hour ago."""
    recent = {"snapshot": {"completed_at": days_ago(0.1), "started_at": days_ago(0.1), "count": 1}}
    quiet = {"createdAt": days_ago(30), "id": "m-1", "read_at": days_ago(1 / 24)}
    output = run_read(
        conf(sandbox), ["messages", "customer_ids"], {"messages": quiet, "customer_ids": recent}
    )
    assert output.analytics_messages == [] and records(output, "customer_ids") == []
    assert final_state(output, "messages")["read_at"] > quiet["read_at"]


def test_messages_disabled_force_it_unless_turned_off(sandbox):
    sandbox.set_messages_enabled(False)
    recent = {"snapshot": {"completed_at": days_ago(0.1), "started_at": days_ago(0.1), "count": 1}}
    forced = run_read(conf(sandbox), ["customer_ids"], {"customer_ids": recent})
    assert MARKER in records(forced, "customer_ids")[-1]
    assert "Messages are disabled" in forced.analytics_messages[0].trace.analytics.value
    kept = run_read(
        conf(sandbox, reconcile_on_lost_messages=False), ["customer_ids"], {"customer_ids": recent}
    )
    assert records(kept, "customer_ids") == []
    assert "next interval" in kept.analytics_messages[0].trace.analytics.value


def test_without_view_project_settings_one_warning_names_the_scope(sandbox, caplog):
    sandbox.add_client("narrow", "s3cret", ["view_messages:demo", "view_customers:demo"])
    config = sandbox.source_config(client_id="narrow", client_secret="s3cret")
    with caplog.at_level(logging.WARNING):
        output = run_read(
            config, ["messages"], {"messages": {"createdAt": days_ago(30), "id": "m"}}
        )
    assert not output.errors
    warnings = [r.getMessage() for r in caplog.records if "view_project_settings" in r.getMessage()]
    assert len(warnings) == 1 and "view_project_settings:demo" in warnings[0]


def test_global_customers_are_read_only_when_asked_for(sandbox):
    customers = sandbox.records("customers")
    members = {(c["id"], s["key"]) for c in customers for s in c["stores"]}
    global_ids = {c["id"] for c in customers if not c["stores"]}
    assert global_ids
    stores = ["eu-web", "us-web"]
    without = run_read(conf(sandbox, store_keys=stores), ["customers", "customer_ids"])
    assert not global_ids & {r["id"] for r in records(without, "customers")}

    with_global = run_read(
        conf(sandbox, store_keys=stores, include_global_customers=True),
        ["customers", "customer_ids"],
    )
    read = records(with_global, "customers")
    assert {(r["id"], r["_ab_store_key"]) for r in read if "_ab_store_key" in r} == members
    assert {r["id"] for r in read if "_ab_store_key" not in r} == global_ids
    assert set(final_state(with_global, "customers")["stores"]) == {*stores, "(global)"}
    *ids, marker = records(with_global, "customer_ids")
    assert {r["id"] for r in ids} == {c["id"] for c in customers}
    assert marker[MARKER]["count"] == len(ids)


def test_global_customers_need_the_project_wide_scope(sandbox):
    sandbox.add_client("eu-only", "s3cret", ["view_customers:demo:eu-web"])
    config = sandbox.source_config(
        client_id="eu-only",
        client_secret="s3cret",
        store_keys=["eu-web"],
        include_global_customers=True,
    )
    output = run_read(config, ["customers"])
    assert output.errors
    assert "view_customers:demo" in output.errors[-1].trace.error.message
