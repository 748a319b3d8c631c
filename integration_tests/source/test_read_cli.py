"""The real `source-commercetools read` against the commercetools sandbox.

One 20,000-customer project is shared by the module; each test derives what it expects
from the sandbox's own records at that moment, so the order of the tests does not matter.
"""

from __future__ import annotations

from collections import Counter

import pytest

from integration_tests.source.cli import STREAMS, run
from sandbox.commercetools import CommercetoolsSandbox, SeedSpec

VIEW_SCOPES = [
    f"view_{kind}:demo"
    for kind in (
        "customers",
        "orders",
        "payments",
        "products",
        "discount_codes",
        "stores",
        "customer_groups",
        "types",
        "messages",
    )
]


@pytest.fixture(scope="module")
def commercetools():
    seed = SeedSpec(customers=20_000, orders=3_000, shared_timestamp_share=0.3)
    with CommercetoolsSandbox(seed=seed) as server:
        yield server


@pytest.fixture
def config(commercetools):
    return commercetools.source_config(retry_backoff_seconds=0.05)


def ids_of(sandbox, collection: str) -> Counter[str]:
    return Counter(record["id"] for record in sandbox.records(collection))


def api_requests(sandbox) -> Counter[str]:
    """GET requests per API path since the last reset (the token endpoint apart)."""
    counts: Counter[str] = Counter()
    for key, n in sandbox.stats()["requests"].items():
        method, path = key.split(" ", 1)
        if method == "GET":
            counts[path] += n
    return counts


def test_the_data_set_has_thousands_of_shared_timestamps(commercetools):
    stamps = Counter(record["lastModifiedAt"] for record in commercetools.records("customers"))
    assert sum(n for n in stamps.values() if n > 1) >= 2_000


def test_full_refresh_emits_every_customer_exactly_once(commercetools, config, tmp_path):
    result = run(tmp_path, "read", config, streams=["customers"], mode="full_refresh")

    assert result.returncode == 0, result.stderr[-2000:]
    assert result.ids("customers") == ids_of(commercetools, "customers")
    assert all("password" not in record for record in result.records("customers"))


def test_incremental_then_idle_then_exactly_the_changes(commercetools, config, tmp_path):
    first = run(tmp_path / "1", "read", config)
    assert first.returncode == 0, first.stderr[-2000:]
    for stream in STREAMS:
        assert first.ids(stream) == ids_of(commercetools, stream), stream

    # nothing changed: no records, one request per stream, one token
    commercetools.reset_stats()
    idle = run(tmp_path / "2", "read", config, state=first.final_states())
    assert idle.returncode == 0, idle.stderr[-2000:]
    assert [m for m in idle.messages if m["type"] == "RECORD"] == []
    per_path = api_requests(commercetools)
    assert sum(per_path.values()) == len(STREAMS) and max(per_path.values()) == 1
    assert commercetools.stats()["requests"].get("POST /oauth/token") == 1

    updated = commercetools.update_customers(50)
    deleted = commercetools.delete_customers(5)
    changed = run(tmp_path / "3", "read", config, state=idle.final_states())
    assert changed.returncode == 0, changed.stderr[-2000:]
    assert changed.ids("customers") == Counter(set(updated) - set(deleted))
    deletions = {
        m["resource"]["id"] for m in changed.records("messages") if m["type"] == "CustomerDeleted"
    }
    assert deletions == set(deleted)


def test_a_client_with_only_view_scopes_reads_everything(commercetools, tmp_path):
    commercetools.add_client("viewer", "viewer-secret", VIEW_SCOPES)
    config = commercetools.source_config(client_id="viewer", client_secret="viewer-secret")
    check = run(tmp_path / "check", "check", config)
    status = [m["connectionStatus"] for m in check.messages if m["type"] == "CONNECTION_STATUS"]
    assert status == [{"status": "SUCCEEDED"}]

    result = run(tmp_path / "read", "read", config, mode="full_refresh")
    assert result.returncode == 0, result.stderr[-2000:]
    for stream in STREAMS:
        assert result.ids(stream) == ids_of(commercetools, stream), stream


def test_store_keys_read_only_that_stores_customers_and_orders(commercetools, config, tmp_path):
    config["store_keys"] = ["eu-web"]
    result = run(tmp_path, "read", config, streams=["customers", "orders"], mode="full_refresh")
    assert result.returncode == 0, result.stderr[-2000:]

    eu_customers = Counter(
        c["id"]
        for c in commercetools.records("customers")
        if "eu-web" in [s.get("key") for s in c.get("stores") or []]
    )
    eu_orders = Counter(
        o["id"]
        for o in commercetools.records("orders")
        if (o.get("store") or {}).get("key") == "eu-web"
    )
    assert 0 < len(eu_customers) < 20_000 and 0 < len(eu_orders) < 3_000
    assert result.ids("customers") == eu_customers
    assert result.ids("orders") == eu_orders
    stores = {r["_ab_store_key"] for s in ("customers", "orders") for r in result.records(s)}
    assert stores == {"eu-web"}


def test_injected_5xx_lose_and_repeat_nothing(commercetools, config, tmp_path):
    expected = ids_of(commercetools, "customers")
    commercetools.reset_stats()
    commercetools.set_faults(0.2, (502, 503, 504))
    try:
        result = run(tmp_path, "read", config, streams=["customers"], mode="full_refresh")
    finally:
        commercetools.set_faults(0.0)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.ids("customers") == expected
    injected = sum(commercetools.stats()["statuses"].get(str(s), 0) for s in (502, 503, 504))
    assert injected > 0
