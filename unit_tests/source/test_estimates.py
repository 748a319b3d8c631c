"""ESTIMATE traces: one count per stream at the start of a full read, so Airbyte shows progress.

Each message is checked against the Airbyte protocol's own models (airbyte-protocol-models'
pydantic `AirbyteMessage`), as the platform reads it.
"""

from __future__ import annotations

from typing import Any

import orjson
from airbyte_cdk.models import AirbyteMessage, AirbyteMessageSerializer, SyncMode, TraceType
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import read
from airbyte_protocol.models import AirbyteMessage as ProtocolMessage

from sandbox.commercetools import CommercetoolsSandbox, SeedSpec
from source_commercetools import SourceCommercetools
from unit_tests.source.conftest import final_state, run_read
from unit_tests.source.fake_api import API, PROJECT, config, customer, ts


def estimates_of(messages: list[AirbyteMessage]) -> dict[str, int]:
    """stream -> row_estimate of the ESTIMATE traces, each validated by the protocol models."""
    found: dict[str, int] = {}
    for message in messages:
        if message.trace is None or message.trace.type != TraceType.ESTIMATE:
            continue
        wire = orjson.loads(orjson.dumps(AirbyteMessageSerializer.dump(message)))
        parsed = ProtocolMessage.parse_obj(wire)
        assert parsed.type.value == "TRACE" and parsed.trace.type.value == "ESTIMATE"
        estimate = parsed.trace.estimate
        assert estimate.type.value == "STREAM" and estimate.byte_estimate is None
        assert estimate.name not in found, f"two estimates for {estimate.name}"
        found[estimate.name] = estimate.row_estimate
    return found


def order(n: int, ms: int) -> dict[str, Any]:
    return {"id": f"o-{n:06d}", "version": 1, "createdAt": ts(ms), "lastModifiedAt": ts(ms)}


def test_a_full_read_estimates_each_stream_before_its_first_record(api) -> None:
    api.collections["customers"] = [customer(n, n) for n in range(7)]
    api.collections["orders"] = [order(n, n) for n in range(3)]
    output = run_read(config(), ["customers", "orders"])
    assert estimates_of(output._messages) == {"customers": 7, "orders": 3}
    kinds = [
        "estimate" if m.trace is not None and m.trace.type == TraceType.ESTIMATE else m.type.name
        for m in output._messages
        if m.type.name in ("TRACE", "RECORD")
    ]
    assert kinds.index("RECORD") > max(i for i, k in enumerate(kinds) if k == "estimate")
    assert len(output.records) == 10
    assert sorted(count["path"] for count in api.counts) == ["customers", "orders"]
    assert all(count["params"]["withTotal"] == ["true"] for count in api.counts)


def test_an_incremental_read_from_saved_state_is_not_estimated_but_a_new_stream_is(api) -> None:
    api.collections["customers"] = [customer(n, n) for n in range(4)]
    api.collections["orders"] = [order(n, n) for n in range(2)]
    first = run_read(config(), ["customers"])
    state = {"customers": final_state(first, "customers")}
    api.counts.clear()
    output = run_read(config(), ["customers", "orders"], state=state)
    assert estimates_of(output._messages) == {"orders": 2}
    assert [count["path"] for count in api.counts] == ["orders"]
    # A full refresh reads everything again: estimated whatever the state says.
    refresh = run_read(config(), ["customers"], state=state, mode=SyncMode.full_refresh)
    assert estimates_of(refresh._messages) == {"customers": 4}


def test_store_scoped_streams_are_counted_per_store_and_summed(api) -> None:
    api.collections["customers"] = [
        customer(0, 0, ("eu-web",)),
        customer(1, 1, ("us-web",)),
        customer(2, 2, ("eu-web", "us-web")),
        customer(3, 3),
    ]
    output = run_read(config(store_keys=["eu-web", "us-web"]), ["customers"])
    assert estimates_of(output._messages) == {"customers": 4}  # 2 + 2: as the read emits them
    assert len(output.records) == 4
    assert sorted(count["path"] for count in api.counts) == [
        "in-store/key=eu-web/customers",
        "in-store/key=us-web/customers",
    ]


def test_a_count_commercetools_does_not_answer_costs_only_the_estimate(api) -> None:
    api.collections["customers"] = [customer(n, n) for n in range(3)]
    api.mocker.get(  # registered last, so matched first: only the counting query
        f"{API}/{PROJECT}/customers?withTotal=true",
        status_code=400,
        json={"statusCode": 400, "message": "no counting today"},
    )
    output = run_read(config(), ["customers"])
    assert estimates_of(output._messages) == {}
    assert len(output.records) == 3
    assert not output.errors


def test_the_sandbox_counts_what_a_full_read_then_reads() -> None:
    with CommercetoolsSandbox(seed=SeedSpec(customers=60, orders=90)) as sandbox:
        catalog = CatalogBuilder()
        for name in ("customers", "orders", "carts"):
            catalog.with_stream(name, SyncMode.full_refresh)
        output = read(SourceCommercetools(), sandbox.source_config(), catalog.build())
    read_rows = {
        name: len([m for m in output.records if m.record.stream == name])
        for name in ("customers", "orders", "carts")
    }
    assert estimates_of(output._messages) == read_rows
    assert read_rows["customers"] >= 60 and read_rows["orders"] >= 90
