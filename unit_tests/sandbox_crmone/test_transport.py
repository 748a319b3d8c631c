"""Transport rules: tokens, correlation, idempotency, rate and concurrency limits, faults."""

from __future__ import annotations

import threading

import pytest
import requests

from sandbox.crmone import CrmOneSandbox
from unit_tests.sandbox_crmone.conftest import Api, contact

UPSERT = "/v1/contacts/batch/upsert"


def test_bad_credentials_get_invalid_client(sandbox: CrmOneSandbox) -> None:
    response = requests.post(
        f"{sandbox.url}/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "crmone-client",
            "client_secret": "wrong",
        },
        timeout=10,
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert "wrong" not in response.text


def test_token_shape_and_calls_without_token_are_refused(sandbox: CrmOneSandbox) -> None:
    token = requests.post(
        f"{sandbox.url}/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "crmone-client",
            "client_secret": "crmone-secret",
        },
        timeout=10,
    ).json()
    assert token["token_type"] == "Bearer" and token["expires_in"] == 3600
    assert "contacts:write" in token["scope"].split()
    anonymous = requests.get(f"{sandbox.url}/v1/account", timeout=10)
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "invalid_token"


def test_revoked_tokens_get_invalid_token_until_a_new_one_is_fetched(api: Api) -> None:
    assert api.get("/v1/account").status_code == 200
    api.sandbox.expire_tokens()
    refused = api.get("/v1/account")
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_token"
    assert refused.headers["Content-Type"] == "application/problem+json"
    api.token = api.new_token()
    assert api.get("/v1/account").status_code == 200


def test_tokens_expire_after_their_ttl() -> None:
    with CrmOneSandbox(token_ttl=0, requests_per_second=1000) as sandbox:
        api = Api(sandbox)
        assert api.get("/v1/account").json()["error"] == "invalid_token"


def test_account_reports_the_configured_limits() -> None:
    with CrmOneSandbox(batch_max=50, requests_per_second=77, max_concurrency=3) as sandbox:
        account = Api(sandbox).get("/v1/account").json()
    assert account["tenant"] == "acme"
    assert account["limits"] == {"batch_max": 50, "requests_per_second": 77, "max_concurrency": 3}
    assert "objects:write" in account["scopes"]


def test_correlation_id_is_echoed_and_a_request_id_added(api: Api) -> None:
    response = api.get("/v1/account", headers={"X-Correlation-Id": "corr-123"})
    assert response.headers["X-Correlation-Id"] == "corr-123"
    other = api.get("/v1/account")
    assert response.headers["X-Request-Id"] != other.headers["X-Request-Id"]
    for name in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"):
        assert response.headers[name].isdigit()


def test_same_idempotency_key_and_body_replays_without_applying_twice(api: Api) -> None:
    body = {"id_property": "external_id", "records": [contact("ct:1", first_name="Ana")]}
    first = api.post(UPSERT, body, headers={"Idempotency-Key": "k-1"})
    api.sandbox.user_edit("ct:1", {"first_name": "Anna"})  # would make a re-apply "updated"
    again = api.post(UPSERT, body, headers={"Idempotency-Key": "k-1"})
    assert again.status_code == 200
    assert again.json() == first.json()
    assert again.json()["results"][0]["status"] == "created"
    assert again.headers["Idempotent-Replayed"] == "true"
    assert api.sandbox.contact("ct:1")["properties"]["first_name"] == "Anna"
    assert len(api.sandbox.contacts()) == 1
    assert api.sandbox.stats()["idempotent_replays"] == 1
    fresh = api.post(UPSERT, body, headers={"Idempotency-Key": "k-2"})
    assert fresh.json()["results"][0]["status"] == "updated"


def test_same_idempotency_key_with_another_body_is_refused(api: Api) -> None:
    key = {"Idempotency-Key": "k-1"}
    api.post(UPSERT, {"records": [contact("ct:1", first_name="Ana")]}, headers=key)
    reused = api.post(UPSERT, {"records": [contact("ct:2", first_name="Bo")]}, headers=key)
    assert reused.status_code == 422
    assert reused.json()["code"] == "idempotency_key_reused"
    assert api.sandbox.contact("ct:2") is None


def test_idempotency_key_longer_than_128_is_refused(api: Api) -> None:
    body = {"records": [contact("ct:1")]}
    assert api.post(UPSERT, body, headers={"Idempotency-Key": "k" * 128}).status_code == 200
    too_long = api.post(UPSERT, body, headers={"Idempotency-Key": "k" * 129})
    assert too_long.status_code == 400


def test_over_the_rate_limit_gets_429_with_retry_after() -> None:
    with CrmOneSandbox(requests_per_second=2) as sandbox:
        api = Api(sandbox)  # the token call is the first request of the window
        statuses = []
        for _ in range(50):  # a slow machine may need more than 3 calls to fill one second
            statuses.append(api.get("/v1/account"))
            if statuses[-1].status_code == 429:
                break
    limited = [r for r in statuses if r.status_code == 429]
    assert limited, [r.status_code for r in statuses]
    assert statuses[0].status_code == 200
    assert int(limited[0].headers["Retry-After"]) >= 1
    assert limited[0].headers["X-RateLimit-Remaining"] == "0"
    assert limited[0].json()["code"] == "rate_limited"


def test_more_requests_in_flight_than_allowed_get_429_and_are_counted() -> None:
    with CrmOneSandbox(max_concurrency=1, latency_ms=400, requests_per_second=1000) as sandbox:
        api = Api(sandbox)
        responses: list[requests.Response] = []
        barrier = threading.Barrier(4)

        def call() -> None:
            barrier.wait(timeout=10)
            headers = {"Authorization": f"Bearer {api.token}"}  # a session per thread
            responses.append(requests.get(f"{sandbox.url}/v1/account", headers=headers, timeout=10))

        threads = [threading.Thread(target=call) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=20)
        stats = sandbox.stats()
    results = [r.status_code for r in responses]
    assert sorted(results).count(429) >= 1 and 200 in results
    assert stats["concurrency_429"] == results.count(429)
    assert all(r.headers["X-RateLimit-Limit"] == "1000" for r in responses)
    assert stats["max_in_flight"] >= 2


def test_sequential_client_never_trips_the_concurrency_gate(api: Api) -> None:
    api.sandbox.reset_stats()
    for n in range(5):
        api.upsert(contact(f"ct:{n}"))
    stats = api.sandbox.stats()
    assert stats["max_in_flight"] == 1 and stats["concurrency_429"] == 0
    assert stats["requests"]["POST /v1/contacts/batch/upsert"] == 5
    assert stats["statuses"]["200"] == 5


def test_batch_over_batch_max_is_refused_whole() -> None:
    with CrmOneSandbox(batch_max=3, requests_per_second=1000) as sandbox:
        api = Api(sandbox)
        records = [contact(f"ct:{n}") for n in range(4)]
        response = api.post(UPSERT, {"records": records})
        assert response.status_code == 400
        assert response.headers["Content-Type"] == "application/problem+json"
        body = response.json()
        assert body["code"] == "batch_too_large" and body["status"] == 400
        assert set(body) >= {"type", "title", "status", "code", "detail", "errors"}
        assert sandbox.contacts() == []
        read = api.post("/v1/contacts/batch/read", {"ids": ["a", "b", "c", "d"]})
        assert read.json()["code"] == "batch_too_large"


def test_body_over_5_mib_gets_413(api: Api) -> None:
    big = b'{"records": [], "pad": "' + b"x" * (5 * 1024 * 1024) + b'"}'
    response = api.call("POST", UPSERT, data=big, headers={"Content-Type": "application/json"})
    assert response.status_code == 413


def test_injected_faults_happen_before_anything_is_applied(api: Api) -> None:
    api.sandbox.set_faults(1.0, statuses=(503,))
    failed = api.post(UPSERT, {"records": [contact("ct:1")]}, headers={"Idempotency-Key": "f"})
    assert failed.status_code == 503
    assert failed.json()["code"] == "injected_fault"
    assert api.sandbox.contacts() == []
    api.sandbox.set_faults(0.0)
    retried = api.post(UPSERT, {"records": [contact("ct:1")]}, headers={"Idempotency-Key": "f"})
    assert retried.json()["results"][0]["status"] == "created"
    assert api.sandbox.stats()["faults_injected"] == 1


def test_injected_faults_follow_the_rate_and_statuses(api: Api) -> None:
    api.sandbox.set_faults(0.5, statuses=(502, 429))
    statuses = [api.get("/v1/account").status_code for _ in range(60)]
    assert set(statuses) == {200, 502, 429}
    faulted = [s for s in statuses if s != 200]
    assert api.sandbox.stats()["faults_injected"] == len(faulted)


def test_a_dropped_connection_loses_the_response_but_the_key_makes_the_retry_safe(
    api: Api,
) -> None:
    api.sandbox.set_faults(0.0, drop_rate=1.0)
    body = {"records": [contact("ct:1", first_name="Ana")]}
    with pytest.raises(requests.ConnectionError):
        api.post(UPSERT, body, headers={"Idempotency-Key": "drop-1"})
    assert api.sandbox.contact("ct:1") is not None  # applied, response lost
    api.sandbox.set_faults(0.0, drop_rate=0.0)
    retry = api.post(UPSERT, body, headers={"Idempotency-Key": "drop-1"})
    assert retry.json()["results"][0]["status"] == "created"
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert api.sandbox.stats()["connections_dropped"] == 1


def test_admin_faults_endpoint_sets_rate_latency_and_statuses(sandbox: CrmOneSandbox) -> None:
    response = requests.post(
        f"{sandbox.url}/_sandbox/faults",
        json={"rate": 0.25, "latency_ms": 5, "statuses": [503]},
        timeout=10,
    )
    assert response.json() == {"rate": 0.25, "statuses": [503], "latency_ms": 5, "drop_rate": 0.0}
    bad = requests.post(f"{sandbox.url}/_sandbox/faults", json={"rate": 3}, timeout=10)
    assert bad.status_code == 400
    stats = requests.get(f"{sandbox.url}/_sandbox/stats", timeout=10).json()
    assert "max_in_flight" in stats and "requests" in stats


def test_an_outage_after_n_requests_answers_503_applies_nothing_and_ends_on_demand(
    api: Api, sandbox: CrmOneSandbox
) -> None:
    sandbox.go_down(after=2)
    assert api.upsert(contact("ct:1", first_name="Ana"))["results"][0]["status"] == "created"
    assert api.get("/v1/account").status_code == 200
    refused = api.post(
        "/v1/contacts/batch/upsert", {"id_property": "external_id", "records": [contact("ct:2")]}
    )
    assert refused.status_code == 503 and refused.json()["code"] == "service_unavailable"
    assert api.get("/v1/account").status_code == 503
    token = api.session.post(f"{sandbox.url}/oauth/token", data={}, timeout=10)
    assert token.status_code == 503  # the token endpoint is down too
    assert [c["external_id"] for c in sandbox.contacts()] == ["ct:1"]
    assert sandbox.stats()["outage_answers"] == 3
    sandbox.come_back()
    assert api.get("/v1/account").status_code == 200


def test_an_outage_may_drop_connections_and_is_driven_by_the_admin_endpoint(
    api: Api, sandbox: CrmOneSandbox
) -> None:
    settings = requests.post(
        f"{sandbox.url}/_sandbox/outage", json={"after": 0, "status": None}, timeout=10
    ).json()
    assert settings == {"requests_left": 0, "status": None}
    with pytest.raises(requests.ConnectionError):
        api.get("/v1/account")
    requests.post(f"{sandbox.url}/_sandbox/outage", json={"down": False}, timeout=10)
    assert api.get("/v1/account").status_code == 200
