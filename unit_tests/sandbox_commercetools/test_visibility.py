"""Delayed visibility: a write reaches queries only after a random delay, with its own
timestamps, so it can turn up behind a reader that already passed them."""

from __future__ import annotations

import time

import requests

from sandbox.commercetools import CommercetoolsSandbox, SeedSpec
from unit_tests.sandbox_commercetools.conftest import read_keyset, session_for


def test_writes_become_visible_late_with_their_original_timestamps() -> None:
    with CommercetoolsSandbox(seed=SeedSpec(customers=50, orders=0), visibility_delay_s=0.6) as ct:
        api = session_for(ct.url, (ct.client_id, ct.client_secret))
        url = f"{ct.url}/demo/customers"
        before = {r["id"]: r["version"] for r in read_keyset(api, url)}
        changed = ct.update_customers(20)
        written = {r["id"]: r for r in ct.records("customers")}  # the truth, as written
        assert all(written[i]["version"] == before[i] + 1 for i in changed)

        seen_early = {r["id"]: r["version"] for r in read_keyset(api, url)}
        assert sum(seen_early[i] == before[i] for i in changed) > 0  # some not visible yet
        time.sleep(0.7)
        seen_late = {r["id"]: r for r in read_keyset(api, url)}
        for record_id in changed:
            assert seen_late[record_id]["version"] == before[record_id] + 1
            # the timestamp it was written with, not the moment it became visible
            assert seen_late[record_id]["lastModifiedAt"] == written[record_id]["lastModifiedAt"]


def test_visibility_and_latency_through_the_admin_api() -> None:
    with CommercetoolsSandbox(seed=SeedSpec(customers=5, orders=0)) as ct:
        answer = requests.post(
            f"{ct.url}/_sandbox/visibility",
            json={"max_delay_s": 2.5, "latency_ms": 30},
            timeout=10,
        ).json()
        assert answer == {"max_delay_s": 2.5, "latency_ms": 30.0}
        api = session_for(ct.url, (ct.client_id, ct.client_secret))
        started = time.perf_counter()
        api.get(f"{ct.url}/demo/customers", timeout=10).raise_for_status()
        assert time.perf_counter() - started >= 0.03
