"""Incremental syncs in a loop while the project changes, under delayed visibility: with the
default config no change is lost (late-visible updates and deletions alike), and once the
project is quiet an idle run reads nothing with one request per stream.

A control run with the look-back turned off shows the same scenario does lose changes, so the
test can fail.
"""

from __future__ import annotations

import threading
import time

import pytest
from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import read
from airbyte_cdk.test.state_builder import StateBuilder

from sandbox.commercetools import CommercetoolsSandbox, SeedSpec
from source_commercetools import SourceCommercetools
from source_commercetools.state import read_margin

STREAMS = ("customers", "messages")
MAX_DELAY_S = 1.5
CHANGING_S = 6.0

pytestmark = pytest.mark.slow


def sync(config: dict, states: dict[str, dict]) -> tuple[list, dict[str, dict]]:
    catalog = CatalogBuilder()
    for name in STREAMS:
        catalog.with_stream(name, SyncMode.incremental)
    builder = StateBuilder()
    for name, value in states.items():
        builder.with_stream_state(name, value)
    output = read(SourceCommercetools(), config, catalog.build(), builder.build() or None)
    assert not output.errors, output.errors
    new_states = dict(states)
    for message in output.state_messages:
        stream = message.state.stream
        new_states[stream.stream_descriptor.name] = stream.stream_state.__dict__
    return output.records, new_states


def change_continuously(ct: CommercetoolsSandbox, stop: threading.Event) -> None:
    while not stop.is_set():
        ct.update_customers(4)
        ct.create_customers(1)
        ct.delete_customers(1)
        time.sleep(0.02)


def sync_during_changes(lookback: int) -> tuple[CommercetoolsSandbox, set, set, dict, list]:
    """Loop incremental syncs while changes stream in; returns what was emitted."""
    ct = CommercetoolsSandbox(
        seed=SeedSpec(customers=300, orders=0), visibility_delay_s=MAX_DELAY_S
    )
    ct.start()
    config = ct.source_config(lookback_window_seconds=lookback)
    emitted_versions: set[tuple[str, int]] = set()
    emitted_messages: set[str] = set()
    states: dict[str, dict] = {}
    stop = threading.Event()
    writer = threading.Thread(target=change_continuously, args=(ct, stop), daemon=True)
    writer.start()
    deadline = time.monotonic() + CHANGING_S
    runs = 0
    while time.monotonic() < deadline or runs < 3:
        records, states = sync(config, states)
        runs += 1
        for message in records:
            data = message.record.data
            if message.record.stream == "customers":
                emitted_versions.add((data["id"], data["version"]))
            else:
                emitted_messages.add(data["id"])
    stop.set()
    writer.join()
    time.sleep(MAX_DELAY_S + 0.2)  # every write visible now
    records, states = sync(config, states)  # the last sync after the changes
    for message in records:
        data = message.record.data
        if message.record.stream == "customers":
            emitted_versions.add((data["id"], data["version"]))
        else:
            emitted_messages.add(data["id"])
    return ct, emitted_versions, emitted_messages, states, records


def lost(ct: CommercetoolsSandbox, versions: set, messages: set) -> tuple[list, list]:
    final = [(r["id"], r["version"]) for r in ct.records("customers")]
    return (
        [key for key in final if key not in versions],
        [m for m in ct.records("messages") if m["id"] not in messages],
    )


def test_no_change_is_lost_with_the_default_look_back_and_an_idle_run_costs_one_request():
    ct, versions, messages, states, _ = sync_during_changes(lookback=120)
    try:
        lost_versions, lost_messages = lost(ct, versions, messages)
        assert lost_versions == []
        assert lost_messages == []
        deletions = [m for m in ct.records("messages") if m["type"] == "CustomerDeleted"]
        assert deletions and all(m["id"] in messages for m in deletions)

        ct.reset_stats()
        records, _ = sync(ct.source_config(), states)
        assert records == []
        # one request per stream, or as many pages as the look-back margin spans (the margin
        # is re-read to catch late arrivals: here minutes of heavy changes)
        expected = {"POST /oauth/token": 1}
        for stream in STREAMS:
            margin = read_margin(states[stream].get("margin"))
            expected[f"GET /demo/{stream}"] = len(margin) // 500 + 1
        assert ct.stats()["requests"] == expected
        assert expected["GET /demo/customers"] == 1
    finally:
        ct.stop()


def test_control_without_look_back_the_same_scenario_loses_changes():
    ct, versions, messages, _, _ = sync_during_changes(lookback=0)
    try:
        lost_versions, lost_messages = lost(ct, versions, messages)
        assert lost_versions or lost_messages
    finally:
        ct.stop()
