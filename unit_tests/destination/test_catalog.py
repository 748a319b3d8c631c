"""Which streams of a configured catalog are the destination's, and the refreshes it refuses."""

from __future__ import annotations

import pytest
from airbyte_cdk.models import (
    AirbyteStream,
    ConfiguredAirbyteCatalog,
    ConfiguredAirbyteStream,
    DestinationSyncMode,
    SyncMode,
)

from destination_crmone.catalog import (
    NO_USE,
    NOT_CONFIGURED,
    bind_streams,
    detected_prefix,
    refresh_problem,
)

KNOWN = ("customers", "orders", "carts", "messages", "payments")


def bound(names: list[str], prefix: str | None = None) -> tuple[dict[str, str], dict[str, str]]:
    binding = bind_streams(names, prefix, KNOWN)
    return binding.routes, binding.ignored


def test_names_are_taken_as_they_are_when_all_are_known_streams() -> None:
    assert bound(["customers", "orders"]) == ({"customers": "customers", "orders": "orders"}, {})


def test_another_sources_stream_is_not_guessed_from_its_ending() -> None:
    routes, ignored = bound(["customers", "shopify_customers", "hubspot_orders"])
    assert routes == {"customers": "customers"}
    assert ignored == {"shopify_customers": NO_USE, "hubspot_orders": NO_USE}


def test_a_prefix_every_stream_carries_is_detected() -> None:
    routes, ignored = bound(["ct_customers", "ct_orders", "ct_messages"])
    assert routes == {"ct_customers": "customers", "ct_orders": "orders", "ct_messages": "messages"}
    assert ignored == {}
    assert bind_streams(["ct_customers", "ct_orders"], None, KNOWN).prefix == "ct_"


@pytest.mark.parametrize(
    "names",
    [
        ["ct_customers", "ct_orders", "ct_products"],  # one remainder is no stream of ours
        ["ct_customers", "shop_orders"],  # two prefixes
        ["ct_customers", "orders"],  # a partial prefix
        ["ct_customers", "ct_"],  # a bare prefix
    ],
)
def test_no_prefix_is_detected_unless_every_stream_carries_the_same_one(names) -> None:
    routes, ignored = bound(names)
    assert set(routes) == {name for name in names if name in KNOWN}
    assert set(ignored) == {name for name in names if name not in KNOWN}
    assert detected_prefix(names, frozenset(KNOWN)) is None


def test_the_rule_takes_a_prefix_that_every_stream_of_the_catalog_carries() -> None:
    # A catalog of `shopify_customers` alone satisfies it (documented: set stream_prefix to be
    # explicit); with a stream of another name beside it, nothing is guessed.
    assert detected_prefix(["shopify_customers"], frozenset(KNOWN)) == "shopify_"
    assert detected_prefix(["shopify_customers", "shopify_products"], frozenset(KNOWN)) is None


def test_a_configured_prefix_binds_only_names_that_carry_it() -> None:
    routes, ignored = bound(["ct_customers", "customers", "ct_products", "x_orders"], "ct_")
    assert routes == {"ct_customers": "customers"}
    assert ignored == {"customers": NO_USE, "ct_products": NO_USE, "x_orders": NO_USE}


def test_a_record_of_a_stream_outside_the_catalog_is_ignored_and_named_once() -> None:
    binding = bind_streams(["customers"], None, KNOWN)
    assert binding.route("customers") == "customers"
    assert binding.route("orders") is None  # a known stream, but not selected by the user
    assert binding.route("orders") is None
    assert binding.ignored == {"orders": NOT_CONFIGURED}


def configured(
    name: str,
    mode: DestinationSyncMode = DestinationSyncMode.append_dedup,
    ids: tuple[int | None, int | None, int | None] = (None, None, None),
) -> ConfiguredAirbyteStream:
    generation, minimum, sync = ids
    return ConfiguredAirbyteStream(
        stream=AirbyteStream(
            name=name, json_schema={}, supported_sync_modes=[SyncMode.incremental]
        ),
        sync_mode=SyncMode.incremental,
        destination_sync_mode=mode,
        generation_id=generation,
        minimum_generation_id=minimum,
        sync_id=sync,
    )


def catalog(*streams: ConfiguredAirbyteStream) -> ConfiguredAirbyteCatalog:
    return ConfiguredAirbyteCatalog(streams=list(streams))


@pytest.mark.parametrize(
    "ids",
    [(None, None, None), (0, 0, 41), (3, 0, 42), (7, 2, 43), (1, 1, 1)],
    ids=["no ids", "first generation", "normal sync", "merge refresh", "PyAirbyte's"],
)
def test_normal_syncs_and_merge_refreshes_are_accepted(ids) -> None:
    assert refresh_problem(catalog(configured("customers", ids=ids))) is None


def test_a_truncate_refresh_is_refused_with_what_to_do() -> None:
    problem = refresh_problem(
        catalog(configured("customers", ids=(2, 2, 57)), configured("orders", ids=(2, 0, 57)))
    )
    assert problem is not None
    assert "streams customers are in a refresh that removes records" in problem
    assert "orders" not in problem
    assert "Use a normal sync" in problem and "reset the source's state" in problem


def test_an_overwrite_stream_is_refused() -> None:
    problem = refresh_problem(
        catalog(
            configured("customers", DestinationSyncMode.overwrite),
            configured("orders", DestinationSyncMode.append),
        )
    )
    assert problem is not None
    assert "streams customers are configured with the overwrite sync mode" in problem


def test_a_known_stream_this_config_does_not_write_still_tells_the_prefix() -> None:
    # payments are written only with orders as objects; their name still shows the prefix
    binding = bind_streams(
        ["ct_customers", "ct_payments"], None, KNOWN, written=("customers", "orders")
    )
    assert binding.prefix == "ct_"
    assert binding.routes == {"ct_customers": "customers"}
    assert binding.ignored == {"ct_payments": NO_USE}
