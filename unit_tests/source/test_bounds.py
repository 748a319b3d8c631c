"""Bounds on every request, against the unkind sandbox: stalls and slow drips end in a clear
failure naming the host, flooded pages and huge or absurd token answers are refused, a
QueryTimedOut halves the page, every request carries an X-Correlation-ID, bad credentials cost
one token request, and manage_ scopes read what view_ scopes read."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator

import pytest
import requests
from airbyte_cdk.models import Status, SyncMode

from sandbox.commercetools import CommercetoolsSandbox, SeedSpec
from sandbox.commercetools.auth import default_scopes
from sandbox.commercetools.stalling import StallingServer
from source_commercetools import SourceCommercetools
from source_commercetools.auth import TOKEN_LIFETIME_SECONDS, token_lifetime
from source_commercetools.bounds import Correlation
from unit_tests.source.conftest import ids, run_read

STREAMS5 = ["customers", "orders", "payments", "products", "types"]
QUICK = {"retry_backoff_seconds": 0.01, "concurrency": 1}


@pytest.fixture(scope="module")
def ct() -> Iterator[CommercetoolsSandbox]:
    with CommercetoolsSandbox(seed=SeedSpec(customers=300, orders=40)) as server:
        yield server


@pytest.fixture(autouse=True)
def kind_again(ct: CommercetoolsSandbox) -> Iterator[None]:
    ct.reset_stats()
    yield
    ct.set_hostile(
        flood_items=0, token_padding_bytes=0, token_expires_in=None, query_timeout_above=None
    )


def errors(output) -> list[str]:
    return [m.trace.error.message for m in output.errors]


def stream_error(output) -> str:
    """The failed stream's error (the CDK follows it with a summary of the failed streams)."""
    first, *rest = errors(output)
    assert len(rest) == 1 and "did not sync successfully" in rest[0]
    return first


def token_requests(ct: CommercetoolsSandbox) -> int:
    return ct.stats()["requests"].get("POST /oauth/token", 0)


def check(config: dict, caplog) -> tuple[Status, str | None]:
    with caplog.at_level(logging.INFO):
        status = SourceCommercetools().check(logging.getLogger("airbyte"), config)
    return status.status, status.message


# --- stalls and slow drips ---------------------------------------------------------------


@pytest.mark.parametrize("mode", ["stall", "drip", "drip_head"])
def test_a_stalled_or_dripping_api_fails_in_bounded_time_naming_the_host(ct, mode):
    with StallingServer(mode, interval_s=0.2, max_seconds=30) as hostile:
        config = ct.source_config(
            api_url=hostile.url, read_timeout_seconds=0.5, request_timeout_seconds=1, **QUICK
        )
        started = time.monotonic()
        output = run_read(config, ["customers"])
        took = time.monotonic() - started
        host = hostile.url.removeprefix("http://")
        seen = [correlation for _, correlation in hostile.requests]

    assert not output.records
    message = stream_error(output)
    assert message.startswith(f"Stream 'customers': {host} did not answer in time, 3 attempts")
    assert "read 0.5 s, deadline 1 s" in message
    assert f"last X-Correlation-ID {seen[-1]}" in message
    # the estimate's one attempt (a full read), then the read's try and two retries, each its own id
    assert len(seen) == 4 and len(set(seen)) == 4
    # three attempts of at most ~1 s each, plus the waits between them (the CDK adds 1 s)
    assert took < 10


@pytest.mark.parametrize("mode", ["stall", "drip", "drip_head"])
def test_a_stalled_or_dripping_token_endpoint_ends_the_sync_once(ct, mode):
    with StallingServer(mode, interval_s=0.2, max_seconds=30) as hostile:
        config = ct.source_config(
            auth_url=hostile.url, read_timeout_seconds=0.5, request_timeout_seconds=1, **QUICK
        )
        started = time.monotonic()
        output = run_read(config, STREAMS5)
        took = time.monotonic() - started
        attempts = len(hostile.requests)
        host = hostile.url.removeprefix("http://")

    (message,) = errors(output)
    assert message.startswith(f"The token endpoint at {host} did not answer in time, 3 attempts")
    assert attempts == 3 and took < 10
    assert ct.stats()["total"] == 0  # no API request without a token


def test_check_against_a_stalled_api_fails_in_bounded_time(ct, caplog):
    with StallingServer("stall", max_seconds=30) as hostile:
        config = ct.source_config(api_url=hostile.url, read_timeout_seconds=0.5, **QUICK)
        started = time.monotonic()
        status, message = check(config, caplog)
        took = time.monotonic() - started
        host = hostile.url.removeprefix("http://")
    assert status == Status.FAILED
    assert f"{host} did not answer in time" in message
    assert took < 10


# --- sizes ---------------------------------------------------------------------------------


def test_a_page_with_more_results_than_its_limit_is_refused(ct):
    ct.set_hostile(flood_items=5_000)
    output = run_read(ct.source_config(page_size=100, **QUICK), ["customers"])
    assert not output.records
    message = stream_error(output)
    assert message.startswith(
        "Stream 'customers': commercetools answered 5000 results to a query for at most 100 "
        "(from 127.0.0.1:"
    )


def test_a_huge_token_answer_is_refused(ct):
    ct.set_hostile(token_padding_bytes=8 << 20)
    output = run_read(ct.source_config(**QUICK), STREAMS5)
    (message,) = errors(output)
    assert message.startswith("The token endpoint at 127.0.0.1:")
    assert "answered more than 64 KiB, which no token is; refusing it" in message
    assert token_requests(ct) == 1


@pytest.mark.parametrize("raw", ["1e30", "-5", "100000000000000000000000000000"])
def test_absurd_token_lifetimes_are_clamped_and_the_read_goes_on(ct, raw):
    ct.set_hostile(token_expires_in=raw)
    output = run_read(ct.source_config(**QUICK), ["customers"])
    assert not output.errors and len(ids(output)) == 300


@pytest.mark.parametrize("raw", ["NaN", "Infinity", '"soon"', "null"])
def test_a_token_lifetime_that_is_no_number_is_a_clear_error(ct, raw):
    ct.set_hostile(token_expires_in=raw)
    output = run_read(ct.source_config(**QUICK), ["customers"])
    (message,) = errors(output)
    assert message.startswith("The token endpoint at 127.0.0.1:")
    assert "answered an unusable expires_in (" in message


def test_token_lifetime_clamps_to_what_commercetools_allows():
    response = requests.Response()
    low, high = TOKEN_LIFETIME_SECONDS
    assert token_lifetime(172_800, response) == 172_800
    assert token_lifetime(1e30, response) == high
    assert token_lifetime(-5, response) == low
    assert token_lifetime(10**40, response) == high
    for bad in (math.nan, math.inf, "3600", True, None):
        with pytest.raises(Exception, match="unusable expires_in"):
            token_lifetime(bad, response)


# --- QueryTimedOut -------------------------------------------------------------------------


def test_query_timed_out_halves_the_page_until_it_passes_and_keeps_that_size(ct):
    ct.set_hostile(query_timeout_above=100)
    output = run_read(ct.source_config(**QUICK), ["customers"])

    assert not output.errors
    assert sorted(ids(output)) == sorted(c["id"] for c in ct.records("customers"))
    assert len(ids(output)) == 300  # each once: a smaller page is not mistaken for the last
    # 500, 250 and 125 timed out; 62 passed and stayed for the next pages
    assert ct.stats()["statuses"]["400"] == 3


def test_query_timed_out_below_the_floor_names_the_stream_and_the_predicate(ct):
    ct.set_hostile(query_timeout_above=5)
    output = run_read(ct.source_config(**QUICK), ["customers"])
    message = stream_error(output)
    assert message.startswith(
        "Stream 'customers': commercetools could not finish the query in time (400 "
        "QueryTimedOut) even with pages of 15; its predicate is 1 clause(s), "
    )
    assert ct.stats()["statuses"]["400"] == 6  # 500, 250, 125, 62, 31, 15


# --- correlation ids -----------------------------------------------------------------------


def test_every_request_carries_its_own_correlation_id_with_the_runs_prefix(ct):
    output = run_read(ct.source_config(page_size=100, **QUICK), ["customers", "orders"])
    assert not output.errors
    seen = ct.stats()["correlation_ids"]
    assert len(seen) >= 6 and None not in seen
    assert len(set(seen)) == len(seen)
    prefixes = {value.rsplit("-", 1)[0] for value in seen}
    assert len(prefixes) == 1 and prefixes.pop().startswith("source-commercetools-")


def test_an_api_error_quotes_the_correlation_id_the_server_saw(ct):
    ct.add_client("no-payments", "s3cret", ["view_customers:demo", "view_orders:demo"])
    config = ct.source_config(
        client_id="no-payments", client_secret="s3cret", scopes=["view_payments:demo"], **QUICK
    )
    ct.add_client("no-payments", "s3cret", ["view_payments:demo"])
    ct.set_faults(1.0, (503,))
    try:
        output = run_read(config, ["payments"])
    finally:
        ct.set_faults(0.0)
    message = stream_error(output)
    last = ct.stats()["correlation_ids"][-1]
    assert message.endswith(f"giving up after 9 attempts (last X-Correlation-ID {last}).")
    assert "answered HTTP 503" in message


def test_correlation_ids_count_up_under_one_prefix():
    correlation = Correlation()
    first, second = correlation.next_id(), correlation.next_id()
    assert first == f"{correlation.prefix}-1" and second == f"{correlation.prefix}-2"
    assert Correlation().prefix != correlation.prefix


# --- tokens and scopes ---------------------------------------------------------------------


def test_bad_credentials_cost_one_token_request_across_five_streams(ct):
    output = run_read(ct.source_config(client_secret="wrong", **QUICK), STREAMS5)
    (message,) = errors(output)
    assert message.startswith("commercetools rejected the client credentials at ")
    assert "X-Correlation-ID source-commercetools-" in message
    assert token_requests(ct) == 1
    assert ct.stats()["total"] == 1


def test_a_client_with_only_manage_customers_reads_customers_and_is_warned(ct, caplog):
    ct.add_client("manager", "m4nage", ["manage_customers:demo"])
    config = ct.source_config(client_id="manager", client_secret="m4nage", **QUICK)
    with caplog.at_level(logging.WARNING):
        output = run_read(config, ["customers"], mode=SyncMode.full_refresh)
    assert not output.errors and len(ids(output)) == 300
    warnings = [m.log.message for m in output.logs if m.log.level.name == "WARN"]
    assert any("holds write scopes (manage_customers:demo)" in w for w in warnings)


def test_check_warns_about_a_client_holding_manage_scopes_it_does_not_need(ct, caplog):
    scopes = default_scopes("demo")  # every view_ scope
    ct.add_client("too-much", "t00much", [*scopes, "manage_orders:demo"])
    config = ct.source_config(client_id="too-much", client_secret="t00much", **QUICK)
    status, _ = check(config, caplog)
    assert status == Status.SUCCEEDED
    assert any("holds write scopes (manage_orders:demo)" in r.getMessage() for r in caplog.records)
