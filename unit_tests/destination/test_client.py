"""The CRM One client: transport rules of the contract, with a mock and with the sandbox."""

from __future__ import annotations

import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests
import requests_mock as rm

from destination_crmone.crmone import client as client_module
from destination_crmone.crmone.client import (
    CallRecord,
    CrmOneClient,
    CrmOneError,
    RetryPolicy,
    batch_key,
)
from destination_crmone.crmone.pacing import SAFETY, TokenBucket
from sandbox.crmone import CrmOneSandbox

BASE = "https://crm.example/api"
SECRET = "top-secret-value"
UPSERT = f"{BASE}/v1/contacts/batch/upsert"


class Recorder:
    """call_observer and sleep stand-in: what the client did, without waiting."""

    def __init__(self) -> None:
        self.calls: list[CallRecord] = []
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def observe(self, record: CallRecord) -> None:
        with self._lock:
            self.calls.append(record)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def api_calls(self) -> list[CallRecord]:
        return [c for c in self.calls if c.path != "/oauth/token"]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def mock():
    with rm.Mocker() as mocker:
        mocker.post(
            f"{BASE}/oauth/token",
            [
                {"json": {"access_token": f"tok-{n}", "token_type": "Bearer", "expires_in": 3600}}
                for n in range(1, 10)
            ],
        )
        yield mocker


def make_client(recorder: Recorder, **kwargs: Any) -> CrmOneClient:
    options = {"call_observer": recorder.observe, "sleep": recorder.sleep, "max_retries": 4}
    return CrmOneClient(BASE, "client-1", SECRET, **{**options, **kwargs})


def api_requests(mock) -> list[Any]:
    return [r for r in mock.request_history if not r.path.endswith("/oauth/token")]


def problem(status: int, code: str, detail: str = "") -> dict[str, Any]:
    return {"status_code": status, "json": {"status": status, "code": code, "detail": detail}}


# --- token -------------------------------------------------------------------------------


def test_token_is_form_encoded_client_credentials_and_reused(mock, recorder):
    mock.get(f"{BASE}/v1/account", json={"tenant": "acme"})
    client = make_client(recorder)
    assert client.account() == {"tenant": "acme"}
    client.account()
    token_calls = [r for r in mock.request_history if r.path.endswith("/oauth/token")]
    assert len(token_calls) == 1
    assert token_calls[0].headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(token_calls[0].text) == {
        "grant_type": ["client_credentials"],
        "client_id": ["client-1"],
        "client_secret": [SECRET],
    }
    assert all(r.headers["Authorization"] == "Bearer tok-1" for r in api_requests(mock))


def test_token_renewed_before_it_expires(mock, recorder):
    mock.post(f"{BASE}/oauth/token", json={"access_token": "short", "expires_in": 0})
    mock.get(f"{BASE}/v1/account", json={})
    client = make_client(recorder)
    client.account()
    client.account()
    assert sum(r.path.endswith("/oauth/token") for r in mock.request_history) == 2


def test_invalid_token_gets_one_new_token_and_one_retry(mock, recorder):
    mock.get(
        f"{BASE}/v1/account",
        [
            {"status_code": 401, "json": {"error": "invalid_token"}},
            {"json": {"tenant": "acme"}},
        ],
    )
    client = make_client(recorder)
    assert client.account() == {"tenant": "acme"}
    sent = api_requests(mock)
    assert [r.headers["Authorization"] for r in sent] == ["Bearer tok-1", "Bearer tok-2"]
    assert sent[0].headers["X-Correlation-Id"] == sent[1].headers["X-Correlation-Id"]
    assert recorder.sleeps == []


def test_a_second_invalid_token_is_an_error(mock, recorder):
    mock.get(f"{BASE}/v1/account", status_code=401, json={"error": "invalid_token"})
    with pytest.raises(CrmOneError) as caught:
        make_client(recorder).account()
    assert caught.value.status == 401 and caught.value.code == "invalid_token"
    assert len(api_requests(mock)) == 2  # once, then once more with a new token
    assert sum(r.path.endswith("/oauth/token") for r in mock.request_history) == 2


def test_invalid_client_is_clear_and_never_shows_the_secret(mock, recorder):
    mock.post(f"{BASE}/oauth/token", status_code=401, json={"error": "invalid_client"})
    with pytest.raises(CrmOneError) as caught:
        make_client(recorder).account()
    error = caught.value
    assert (error.status, error.code) == (401, "invalid_client")
    assert "client_id and client_secret" in str(error) and SECRET not in str(error)
    assert len(mock.request_history) == 1  # never retried
    (record,) = recorder.calls
    assert record.request_body == {"grant_type": "client_credentials", "client_id": "client-1"}


def test_no_secret_or_token_in_any_call_record(mock, recorder):
    mock.get(
        f"{BASE}/v1/account",
        [{"status_code": 401, "json": {"error": "invalid_token"}}, {"json": {}}],
    )
    make_client(recorder).account()
    text = json.dumps([asdict(c) for c in recorder.calls])
    assert SECRET not in text and "tok-1" not in text and "tok-2" not in text
    assert "Authorization" not in text and "Bearer tok" not in text
    token_records = [c for c in recorder.calls if c.path == "/oauth/token"]
    assert len(token_records) == 2
    assert all(
        c.response_body == {"token_type": "Bearer", "expires_in": 3600} for c in token_records
    )


# --- correlation and idempotency ---------------------------------------------------------


def test_every_call_has_its_own_correlation_id_and_returns_the_request_id(mock, recorder):
    mock.get(f"{BASE}/v1/lists", json={"results": []}, headers={"X-Request-Id": "req-7"})
    client = make_client(recorder)
    first = client.call("GET", "/v1/lists")
    client.lists()
    ids = [r.headers["X-Correlation-Id"] for r in api_requests(mock)]
    assert len(set(ids)) == 2 and all(uuid.UUID(i) for i in ids)
    assert first.correlation_id == ids[0] and first.request_id == "req-7"
    assert [c.request_id for c in recorder.api_calls()] == ["req-7", "req-7"]
    token_call = mock.request_history[0]
    assert uuid.UUID(token_call.headers["X-Correlation-Id"])


def test_idempotency_key_and_body_reused_on_the_retry_of_a_batch(mock, recorder):
    mock.post(
        UPSERT,
        [problem(503, "unavailable"), {"json": {"results": [{"index": 0}], "errors": []}}],
    )
    client = make_client(recorder, backoff_base=0.01)
    reply = client.upsert_contacts(
        [{"external_id": "ct:1", "properties": {"email": "a@example.com"}}],
        id_property="external_id",
        idempotency_key="key-1",
    )
    assert reply["results"] == [{"index": 0}] and reply.attempts == 2
    first, second = api_requests(mock)
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"] == "key-1"
    assert first.body == second.body  # the same bytes: the server fingerprints the raw body
    assert first.headers["X-Correlation-Id"] == second.headers["X-Correlation-Id"]
    attempts = recorder.api_calls()
    assert [(c.attempt, c.status, c.idempotency_key) for c in attempts] == [
        (1, 503, "key-1"),
        (2, 200, "key-1"),
    ]
    assert attempts[0].request_body == json.loads(first.body)
    assert len(recorder.sleeps) == 1 and 0 <= recorder.sleeps[0] <= 0.01


def test_dropped_connection_and_timeout_are_retried(mock, recorder):
    mock.post(
        UPSERT,
        [
            {"exc": requests.ConnectionError("connection reset")},
            {"exc": requests.ReadTimeout("read timed out")},
            {"json": {"results": [], "errors": []}},
        ],
    )
    make_client(recorder).upsert_contacts([], id_property="external_id", idempotency_key="k")
    attempts = recorder.api_calls()
    assert [c.status for c in attempts] == [None, None, 200]
    assert attempts[0].error.startswith("ConnectionError") and attempts[1].error.startswith(
        "ReadTimeout"
    )


def test_429_waits_for_retry_after(mock, recorder):
    mock.get(
        f"{BASE}/v1/account",
        [
            {"status_code": 429, "headers": {"Retry-After": "7"}, "json": {"code": "rate_limited"}},
            {"json": {"tenant": "acme"}},
        ],
    )
    assert make_client(recorder).account() == {"tenant": "acme"}
    assert recorder.sleeps == [7.0]


def test_remaining_zero_holds_the_next_call_until_reset(mock, recorder):
    reset = int(time.time()) + 3
    mock.get(
        f"{BASE}/v1/account",
        json={},
        headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)},
    )
    client = make_client(recorder)
    client.account()
    assert recorder.sleeps == []
    client.account()
    assert len(recorder.sleeps) == 1 and 0 < recorder.sleeps[0] <= 3


@pytest.mark.parametrize("status", [400, 403, 404, 413, 422])
def test_other_4xx_are_never_retried(mock, recorder, status):
    mock.post(
        UPSERT,
        status_code=status,
        json={
            "status": status,
            "code": "batch_too_large",
            "detail": "at most 100 records",
            "errors": [{"field": "records", "message": "too many"}],
        },
        headers={"X-Request-Id": "req-9"},
    )
    with pytest.raises(CrmOneError) as caught:
        make_client(recorder).upsert_contacts([], id_property="external_id", idempotency_key="k")
    error = caught.value
    assert len(api_requests(mock)) == 1 and recorder.sleeps == []
    assert (error.status, error.code, error.transient) == (status, "batch_too_large", False)
    assert "at most 100 records" in str(error) and "records: too many" in str(error)
    assert error.correlation_id in str(error) and "req-9" in str(error)
    assert error.body["code"] == "batch_too_large"


def test_408_and_idempotency_race_409_are_retried(mock, recorder):
    mock.post(
        UPSERT,
        [
            problem(408, "request_timeout"),
            problem(409, "idempotency_key_in_use"),
            {"json": {"results": [], "errors": []}},
        ],
    )
    make_client(recorder).upsert_contacts([], id_property="external_id", idempotency_key="k")
    assert [c.status for c in recorder.api_calls()] == [408, 409, 200]


def test_409_without_a_key_or_about_data_is_not_retried(mock, recorder):
    mock.post(f"{BASE}/v1/schema/contacts/properties", **problem(409, "already_exists"))
    mock.post(UPSERT, **problem(409, "email_conflict"))
    client = make_client(recorder)
    with pytest.raises(CrmOneError, match="409"):
        client.add_contact_property({"name": "loyalty_tier", "type": "string"})
    with pytest.raises(CrmOneError, match="email_conflict"):
        client.upsert_contacts([], id_property="external_id", idempotency_key="k")
    assert len(api_requests(mock)) == 2


def test_retries_end_with_an_error_that_says_so(mock, recorder):
    mock.get(f"{BASE}/v1/account", **problem(503, "unavailable", "maintenance"))
    with pytest.raises(CrmOneError) as caught:
        make_client(recorder, max_retries=2).account()
    assert len(api_requests(mock)) == 3 and len(recorder.sleeps) == 2
    assert caught.value.transient and "after 3 attempts" in str(caught.value)


def test_500_is_not_retried(mock, recorder):
    mock.get(f"{BASE}/v1/account", **problem(500, "internal"))
    with pytest.raises(CrmOneError):
        make_client(recorder).account()
    assert len(api_requests(mock)) == 1


def test_unreachable_server_is_explained(recorder):
    client = CrmOneClient(
        "http://127.0.0.1:9", "c", SECRET, max_retries=1, sleep=recorder.sleep, timeout=2
    )
    with pytest.raises(CrmOneError) as caught:
        client.account()
    assert caught.value.status is None and caught.value.code == "connection_failed"
    assert "did not answer POST /oauth/token after 2 attempts" in str(caught.value)
    assert SECRET not in str(caught.value)


# --- concurrency -------------------------------------------------------------------------


class BarrierTransport(requests.adapters.BaseAdapter):
    """A transport that answers every call, counting calls in flight.

    (requests-mock serialises sends behind one lock, so it cannot show concurrency.)
    Each API call waits at a barrier of `limit` parties: the test only passes if `limit`
    calls really are in flight together, and `max` shows none beyond that.
    """

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.together = threading.Barrier(limit, timeout=10)
        self.in_flight = self.max = 0
        self.lock = threading.Lock()

    def send(self, request, **kwargs):
        if not request.path_url.endswith("/oauth/token"):
            with self.lock:
                self.in_flight += 1
                self.max = max(self.max, self.in_flight)
            try:
                self.together.wait()
            finally:
                with self.lock:
                    self.in_flight -= 1
        response = requests.Response()
        response.status_code, response.request, response.url = 200, request, request.url
        body = {"access_token": "t", "expires_in": 3600, "results": [], "errors": []}
        response._content = json.dumps(body).encode()
        return response

    def close(self) -> None:
        pass


def test_never_more_than_max_concurrency_in_flight(recorder):
    limit = 3
    client = make_client(recorder, max_concurrency=limit)
    transport = BarrierTransport(limit)
    client.session.mount(BASE, transport)
    with ThreadPoolExecutor(max_workers=4 * limit) as threads:  # more threads than slots
        replies = list(
            threads.map(
                lambda n: client.upsert_contacts(
                    [], id_property="external_id", idempotency_key=f"k{n}"
                ),
                range(4 * limit),
            )
        )
    assert len(replies) == 4 * limit and transport.max == limit
    assert client.gate.max_in_flight == limit


def concurrently(calls: list[Any], threads: int = 8) -> list[Any]:
    """Run the calls on more threads than the client has slots (the writer's workers do the
    same): the client's gate is what holds the concurrency. Results in the given order."""
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(lambda call: call(), calls))


def test_the_gate_holds_more_threads_to_the_slots(recorder):
    limit = 2
    client = make_client(recorder, max_concurrency=limit)
    transport = BarrierTransport(limit)
    client.session.mount(BASE, transport)
    replies = concurrently([lambda n=n: client.call("GET", f"/v1/lists?n={n}") for n in range(6)])
    assert [r.status for r in replies] == [200] * 6 and transport.max == limit
    client.limit_concurrency(1)
    transport.together, transport.max = threading.Barrier(1), 0
    concurrently([lambda: client.call("GET", "/v1/lists")] * 3)
    assert transport.max == 1 and client.max_concurrency == 1


# --- helpers -----------------------------------------------------------------------------


def test_endpoint_helpers_send_the_contract_shapes(mock, recorder):
    mock.get(f"{BASE}/v1/contacts", json={"results": [{"id": "c_1"}]})
    mock.post(f"{BASE}/v1/lists/l%2Fvip/members/batch", json={"added": 1, "removed": 0})
    mock.post(UPSERT, json={"results": [], "errors": []})
    mock.post(f"{BASE}/v1/contacts/batch/read", json={"results": [], "missing": ["ct:1"]})
    mock.get(f"{BASE}/v1/activity-types", json={"results": [{"name": "order_placed"}]})
    mock.delete(f"{BASE}/v1/contacts/c_1", status_code=204)
    mock.post(f"{BASE}/v1/contacts/c_1/erase", status_code=204)
    client = make_client(recorder)
    assert client.find_contact(email="a+b@example.com") == {"id": "c_1"}
    assert mock.last_request.qs == {"email": ["a+b@example.com"]}
    assert client.list_members("l/vip", ["ct:1"], idempotency_key="k")["added"] == 1
    assert mock.last_request.json() == {"add": ["ct:1"], "remove": []}
    client.upsert_contacts(
        [], id_property="email", idempotency_key="k2", allow_recreate_erased=True
    )
    assert mock.last_request.json() == {
        "id_property": "email",
        "records": [],
        "allow_recreate_erased": True,
    }
    reply = client.read_contacts(["ct:1"], properties=["email"])
    assert mock.last_request.json() == {
        "id_property": "external_id",
        "ids": ["ct:1"],
        "properties": ["email"],
    }
    assert reply["missing"] == ["ct:1"] and dict(reply) == reply.body
    assert client.activity_types() == ["order_placed"]
    assert client.archive_contact("c_1") is None and client.erase_contact("c_1") is None
    with pytest.raises(ValueError):
        client.find_contact()


def test_batch_key_is_deterministic_and_short():
    body = {"records": [{"external_id": "ct:1", "properties": {"a": 1, "b": 2}}]}
    same_body_other_order = {"records": [{"properties": {"b": 2, "a": 1}, "external_id": "ct:1"}]}
    key = batch_key("run-1", "customers", "contacts", 3, body)
    assert key == batch_key("run-1", "customers", "contacts", 3, same_body_other_order)
    assert (
        len(
            {
                key,
                batch_key("run-2", "customers", "contacts", 3, body),
                batch_key("run-1", "customers", "contacts", 4, body),
                batch_key("run-1", "customers", "consents", 3, body),
                batch_key("run-1", "customers", "contacts", 3, {"records": []}),
            }
        )
        == 5
    )
    long = batch_key("r" * 300, "s" * 300, "k/é" * 100, "9" * 300, body)
    assert len(long) <= 128 and long.isascii()


def test_full_jitter_stays_within_the_exponential_bound():
    policy = RetryPolicy(backoff_base=0.5, backoff_cap=4)
    for attempt, bound in [(1, 0.5), (2, 1.0), (3, 2.0), (6, 4.0)]:
        waits = [policy.backoff(attempt) for _ in range(200)]
        assert all(0 <= w <= bound for w in waits) and max(waits) > bound / 2


# --- against the CRM One sandbox ---------------------------------------------------------


@pytest.fixture
def crm():
    with CrmOneSandbox(requests_per_second=10_000, max_concurrency=4) as sandbox:
        yield sandbox


def sandbox_client(crm: CrmOneSandbox, recorder: Recorder, **kwargs: Any) -> CrmOneClient:
    options = {
        "call_observer": recorder.observe,
        "sleep": lambda s: time.sleep(min(s, 0.01)),
        "max_retries": 12,
        "backoff_base": 0.01,
        "max_concurrency": 4,
    }
    return CrmOneClient(crm.url, crm.client_id, crm.client_secret, **{**options, **kwargs})


def contacts(start: int, count: int) -> list[dict[str, Any]]:
    return [
        {"external_id": f"ct:{n}", "properties": {"email": f"c{n}@example.com", "first_name": "A"}}
        for n in range(start, start + count)
    ]


def test_sandbox_faults_and_lost_responses_end_without_duplicates(crm, recorder):
    crm.set_faults(0.3, drop_rate=0.2)
    client = sandbox_client(crm, recorder)
    batches = [contacts(n * 50, 50) for n in range(8)]
    replies = concurrently(
        [
            lambda b=b, n=n: client.upsert_contacts(
                b, id_property="external_id", idempotency_key=batch_key("run", "c", "up", n, b)
            )
            for n, b in enumerate(batches)
        ]
    )
    assert all(not r["errors"] and len(r["results"]) == 50 for r in replies)
    stored = crm.contacts()
    assert len(stored) == 400 and len({c["external_id"] for c in stored}) == 400
    stats = crm.stats()
    assert stats["faults_injected"] > 0 and stats["connections_dropped"] > 0
    assert stats["max_in_flight"] <= 4 and stats["concurrency_429"] == 0
    by_call: dict[str, set[str | None]] = {}
    for record in recorder.api_calls():
        by_call.setdefault(record.correlation_id, set()).add(record.idempotency_key)
    assert len(by_call) == 8 and all(len(keys) == 1 for keys in by_call.values())
    assert len(recorder.api_calls()) > 8  # some attempts were retries


def test_sandbox_expired_token_is_renewed_once(crm, recorder):
    client = sandbox_client(crm, recorder)
    client.account()
    crm.expire_tokens()
    assert client.account()["tenant"] == "acme"
    statuses = [(c.path, c.status) for c in recorder.calls]
    assert statuses == [
        ("/oauth/token", 200),
        ("/v1/account", 200),
        ("/v1/account", 401),
        ("/oauth/token", 200),
        ("/v1/account", 200),
    ]


def test_sandbox_wrong_secret(crm, recorder):
    client = CrmOneClient(crm.url, crm.client_id, "wrong-secret", call_observer=recorder.observe)
    with pytest.raises(CrmOneError) as caught:
        client.account()
    assert caught.value.code == "invalid_client" and "wrong-secret" not in str(caught.value)
    assert "wrong-secret" not in json.dumps([asdict(c) for c in recorder.calls])


def test_sandbox_record_errors_come_back_in_a_200(crm, recorder):
    client = sandbox_client(crm, recorder)
    reply = client.upsert_contacts(
        [{"external_id": "ct:bad", "properties": {"email": "not-an-email"}}],
        id_property="external_id",
        idempotency_key="k-bad",
    )
    assert reply.status == 200 and reply["errors"][0]["code"] == "invalid_email"
    assert reply.request_id and reply.correlation_id == recorder.api_calls()[-1].correlation_id
    with pytest.raises(CrmOneError) as caught:  # the same key with another body
        client.upsert_contacts([], id_property="external_id", idempotency_key="k-bad")
    assert (caught.value.status, caught.value.code) == (422, "idempotency_key_reused")


def test_error_messages_leave_the_query_string_out(mock, recorder):
    mock.get(f"{BASE}/v1/contacts", **problem(400, "invalid_query", "bad query"))
    with pytest.raises(CrmOneError) as caught:
        make_client(recorder).find_contact(email="ana@example.com")
    assert "GET /v1/contacts with 400 invalid_query" in str(caught.value)
    assert "ana" not in str(caught.value)
    assert recorder.api_calls()[0].path == "/v1/contacts?email=ana%40example.com"  # journal redacts


def test_a_call_retries_until_its_time_budget_and_no_longer(mock, recorder, monkeypatch):
    """Without an attempt cap, `retry_budget_seconds` bounds how long one call retries."""
    clock = {"now": 1000.0}

    class FakeTime:
        @staticmethod
        def monotonic() -> float:
            return clock["now"]

        time = staticmethod(time.time)

    def sleep(seconds: float) -> None:
        recorder.sleep(seconds)
        clock["now"] += seconds

    monkeypatch.setattr(client_module, "time", FakeTime)
    mock.get(f"{BASE}/v1/account", **problem(503, "unavailable"))
    client = make_client(
        recorder, max_retries=None, retry_budget_seconds=30, backoff_base=1.0, sleep=sleep
    )
    with pytest.raises(CrmOneError) as caught:
        client.account()
    assert caught.value.transient
    assert sum(recorder.sleeps) <= 30 < sum(recorder.sleeps) + 2 ** len(recorder.sleeps)
    assert len(api_requests(mock)) == len(recorder.sleeps) + 1 > 3


def test_a_retry_after_beyond_the_budget_is_not_waited_for(mock, recorder):
    mock.get(f"{BASE}/v1/account", status_code=429, headers={"Retry-After": "120"}, json={})
    with pytest.raises(CrmOneError) as caught:
        make_client(recorder, retry_budget_seconds=60).account()
    assert caught.value.status == 429 and recorder.sleeps == []


def test_the_token_bucket_spaces_requests_and_counts_those_made_before_the_rate() -> None:
    clock = {"now": 0.0}
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)

    bucket = TokenBucket(clock=lambda: clock["now"], sleep=sleep)
    bucket.wait()
    bucket.wait()  # two unpaced calls (token, account)
    bucket.set_rate(10)
    interval = 1 / (10 * SAFETY)
    for _ in range(3):
        bucket.wait()
    assert waits == pytest.approx([2 * interval, 3 * interval, 4 * interval])
    clock["now"] = 100.0  # long idle: no wait, then spaced again
    bucket.wait()
    bucket.wait()
    assert waits[3:] == pytest.approx([interval])


def test_a_paced_client_does_not_stall_on_a_full_window(mock, recorder):
    """At the account's rate the window is often exactly full; pacing already spaces calls."""
    reset = int(time.time()) + 3
    mock.get(
        f"{BASE}/v1/account",
        json={},
        headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)},
    )
    client = make_client(recorder)
    client.pace(1000)
    client.account()
    client.account()
    assert all(pause < 0.01 for pause in recorder.sleeps)


def test_the_token_bucket_keeps_any_second_under_the_rate_even_after_a_late_wake() -> None:
    clock = {"now": 0.0}

    def sleep(seconds: float) -> None:
        clock["now"] += seconds

    bucket = TokenBucket(20, clock=lambda: clock["now"], sleep=sleep)
    starts = []
    for n in range(60):
        bucket.wait()
        starts.append(clock["now"])
        if n == 10:
            clock["now"] += 0.5  # this caller was descheduled: its successors must not bunch
    busiest = max(sum(1 for t in starts if s <= t < s + 1.0) for s in starts)
    assert busiest <= bucket.per_window == 19
    assert starts[-1] - starts[0] < 60 / 19 + 0.6  # and it still runs at about that rate
