"""The stream table (`streams.py`): one row per stream the destination writes."""

from __future__ import annotations

import pytest

from destination_crmone.stats import STREAM_COUNTERS, RunStats
from destination_crmone.streams import (
    STREAMS,
    required_activity_types,
    required_scopes,
    stream_senders,
    used_streams,
)
from unit_tests.destination.test_mapping import BASE, make_config


def test_every_stream_has_its_counters_and_every_counter_a_stream() -> None:
    assert set(STREAM_COUNTERS) == set(STREAMS)
    stats = RunStats()
    for name in STREAMS:
        stats.stream(name)
    assert all(stats.as_dict()["streams"][name]["counts"] for name in STREAMS)
    assert "carts_abandoned" in stats.as_dict()["streams"]["carts"]["counts"]


def test_a_stream_follows_only_streams_of_the_table() -> None:
    for name, stream in STREAMS.items():
        assert set(stream.follows) <= set(STREAMS) - {name}, name


@pytest.mark.parametrize(
    ("orders_as", "payments"), [("activities", False), ("objects", True), ("both", True)]
)
def test_payments_are_written_only_when_orders_are_objects(orders_as, payments) -> None:
    streams = used_streams({**BASE, "orders_as": orders_as})
    assert ("payments" in streams) is payments
    assert set(stream_senders(make_config(orders_as=orders_as))) == set(streams)


def test_scopes_and_activity_types_follow_the_config() -> None:
    plain = make_config()
    assert required_scopes(plain) == ["contacts:write", "consents:write", "activities:write"]
    both = make_config(orders_as="both", carts_as="activities", consents=[])
    assert required_scopes(both) == ["contacts:write", "activities:write", "objects:write"]
    assert required_activity_types(both)[-2:] == ["checkout_started", "cart_abandoned"]
    assert "order_placed" not in required_activity_types(make_config(orders_as="objects"))
