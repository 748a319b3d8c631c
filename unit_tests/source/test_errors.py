"""Retries, token refresh and failure messages of a read."""

from __future__ import annotations

import requests

from unit_tests.source.conftest import ids, run_read
from unit_tests.source.fake_api import config, customer


def error_messages(output) -> list[str]:
    return [m.trace.error.message for m in output.errors]


def test_503_then_200_is_retried_with_a_short_jittered_wait(api, sleeps):
    api.collections["customers"] = [customer(n, ms=n) for n in range(3)]
    api.planned = [{"status": 503, "json": {"statusCode": 503, "message": "unavailable"}}]
    output = run_read(config(retry_backoff_seconds=0.5), ["customers"])

    assert len(ids(output)) == 3 and not output.errors
    assert len(api.queries) == 2
    # our back-off (0.25..0.5 s on the first attempt) plus the CDK's extra second
    assert len(sleeps) == 1 and 1.25 <= sleeps[0] <= 1.5


def test_429_honours_retry_after(api, sleeps):
    api.collections["customers"] = [customer(0, ms=0)]
    api.planned = [
        {"status": 429, "headers": {"Retry-After": "7"}, "json": {"message": "slow down"}},
        {"status": 502, "json": {"message": "bad gateway"}},
        {"status": 504, "json": {"message": "timeout"}},
    ]
    output = run_read(config(retry_backoff_seconds=0.01), ["customers"])

    assert ids(output) == ["c-000000"]
    assert sleeps[0] == 8  # Retry-After, plus the CDK's extra second
    assert all(wait < 1.1 for wait in sleeps[1:])
    assert len(api.queries) == 4


def test_dropped_connection_is_retried(api, sleeps):
    api.collections["customers"] = [customer(0, ms=0)]
    api.planned = [{"exc": requests.exceptions.ConnectionError("connection reset by peer")}]
    output = run_read(config(), ["customers"])

    assert ids(output) == ["c-000000"] and not output.errors
    assert len(sleeps) == 1


def test_persistent_5xx_gives_up_after_the_retry_budget(api, sleeps):
    api.planned = [{"status": 503, "json": {"message": "down"}}] * 20
    output = run_read(config(), ["customers"])

    assert output.errors
    assert len(api.queries) == 9  # one try and eight retries
    assert "customers" in error_messages(output)[0]


def test_401_gets_one_fresh_token(api, sleeps):
    api.collections["customers"] = [customer(0, ms=0)]
    api.planned = [{"status": 401, "json": {"statusCode": 401, "message": "invalid_token"}}]
    output = run_read(config(), ["customers"])

    assert ids(output) == ["c-000000"]
    assert len(api.token_requests) == 2
    assert [q["auth"] for q in api.queries] == ["Bearer token-1", "Bearer token-2"]


def test_401_after_a_fresh_token_fails(api, sleeps):
    api.planned = [{"status": 401, "json": {"message": "invalid_token"}}] * 3
    output = run_read(config(), ["customers"])

    assert output.errors
    assert len(api.token_requests) == 2


def test_other_errors_name_stream_status_and_commercetools_message(api, sleeps):
    api.collections["customers"] = []
    api.planned = [
        {
            "status": 400,
            "json": {
                "statusCode": 400,
                "message": "Malformed parameter: where: Syntax error while parsing 'where'.",
                "errors": [{"code": "InvalidInput", "message": "…"}],
            },
        }
    ]
    output = run_read(config(), ["orders", "customers"])

    sent = [  # the page requests (a full read first counts each stream: withTotal=true)
        r.headers["X-Correlation-ID"]
        for r in api.mocker.request_history
        if "/orders" in r.url and "withtotal=true" not in r.url.lower()
    ]
    assert error_messages(output)[0] == (
        "Stream 'orders' failed: commercetools answered HTTP 400: "
        "Malformed parameter: where: Syntax error while parsing 'where'. "
        f"(X-Correlation-ID {sent[0]})"
    )
    assert len(api.queries) == 2  # no retry of a 400; customers still read
    assert not sleeps


def test_unexpected_status_fails_instead_of_retrying(api, sleeps):
    api.planned = [{"status": 409, "json": {"message": "conflict"}}]
    output = run_read(config(), ["payments"])

    sent = api.mocker.request_history[-1].headers["X-Correlation-ID"]
    assert error_messages(output)[0] == (
        "Stream 'payments' failed: commercetools answered HTTP 409: conflict "
        f"(X-Correlation-ID {sent})"
    )
    assert len(api.queries) == 1


def test_missing_scope_on_read_names_stream(api, sleeps):
    api.planned = [
        {
            "status": 403,
            "json": {
                "statusCode": 403,
                "message": "Insufficient scope. One of the following scopes is missing: "
                "view_orders:demo",
            },
        }
    ]
    output = run_read(config(), ["orders"])

    message = error_messages(output)[0]
    assert message.startswith("Stream 'orders' failed: commercetools answered HTTP 403")
    assert "view_orders:demo" in message


def test_rejected_credentials_at_read_are_worded_for_the_user(api, sleeps):
    api.mocker.post(
        "http://127.0.0.1:9999/oauth/token",
        status_code=401,
        json={
            "error": "invalid_client",
            "error_description": "Please provide valid client credentials",
        },
    )
    output = run_read(config(), ["customers"])

    message = error_messages(output)[0]
    assert "rejected the client credentials" in message
    assert "secret-1" not in output.get_formatted_error_message()
