"""The sandbox as unkind as a broken or hostile commercetools: stalls, slow drips, flooded pages,
huge and absurd token answers, QueryTimedOut on demand; and the correlation ids it saw."""

from __future__ import annotations

import json
import socket
import time

import pytest
import requests

from sandbox.commercetools import CommercetoolsSandbox, SeedSpec
from sandbox.commercetools.stalling import StallingServer
from unit_tests.sandbox_commercetools.conftest import NewSandbox, session_for, token

CLIENT = ("sandbox-client", "sandbox-secret")


@pytest.fixture
def hostile(new_sandbox: NewSandbox) -> CommercetoolsSandbox:
    """A sandbox of the test's own: the tests make it unkind."""
    return new_sandbox(SeedSpec(customers=30, orders=30))


def test_a_stalling_server_accepts_and_never_answers() -> None:
    with StallingServer("stall", max_seconds=10) as server:
        started = time.monotonic()
        with pytest.raises(requests.ReadTimeout):
            requests.get(
                f"{server.url}/demo/customers", headers={"X-Correlation-ID": "c-1"}, timeout=1
            )
        assert time.monotonic() - started < 3
        time.sleep(0.1)
        assert server.requests == [("GET /demo/customers HTTP/1.1", "c-1")]


def test_a_stall_ends_after_max_seconds() -> None:
    with (
        StallingServer("stall", max_seconds=0.5) as server,
        pytest.raises(requests.ConnectionError),
    ):
        requests.get(server.url, timeout=5)


def test_a_dripping_server_sends_one_byte_per_interval() -> None:
    with StallingServer("drip", interval_s=0.05, max_seconds=10) as server:
        sock = socket.create_connection(("127.0.0.1", int(server.url.rsplit(":", 1)[1])))
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(5)
        head = sock.recv(4096)
        assert head.startswith(b"HTTP/1.1 200 OK") and b"Content-Length:" in head
        started, received = time.monotonic(), b""
        while len(received) < 5:
            received += sock.recv(10)
        assert len(received) <= 6  # one byte at a time, not the body at once
        assert time.monotonic() - started >= 0.15
        sock.close()


def test_a_head_dripping_server_never_finishes_its_headers() -> None:
    with StallingServer("drip_head", interval_s=0.05, max_seconds=10) as server:
        sock = socket.create_connection(("127.0.0.1", int(server.url.rsplit(":", 1)[1])))
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(5)
        received = b""
        while len(received) < 25:
            received += sock.recv(10)
        assert received.startswith(b"HTTP/1.1 200 OK\r\nXXXX") and b"\r\n\r\n" not in received
        sock.close()


def test_the_stalling_server_refuses_unknown_modes() -> None:
    with pytest.raises(ValueError, match="stall, drip, drip_head"):
        StallingServer("flood")  # type: ignore[arg-type]


def test_a_flooded_page_ignores_its_limit(hostile) -> None:
    api = session_for(hostile.url, CLIENT)
    hostile.set_hostile(flood_items=25_000)
    body = api.get(f"{hostile.url}/demo/customers", params={"limit": 5}, timeout=30).json()
    assert body["limit"] == 5 and len(body["results"]) == 25_000
    assert body["results"][0] == {"id": "f0", "version": 1}
    hostile.set_hostile(flood_items=0)
    body = api.get(f"{hostile.url}/demo/customers", params={"limit": 5}, timeout=30).json()
    assert len(body["results"]) == 5


@pytest.mark.parametrize("raw", ["1e30", "NaN", "-5"])
def test_token_expires_in_goes_out_raw(hostile, raw) -> None:
    hostile.set_hostile(token_expires_in=raw)
    response = token(hostile.url, CLIENT)
    assert response.status_code == 200
    assert f'"expires_in":{raw}'.encode() in response.content
    assert json.loads(response.content)["access_token"]  # otherwise a real token


def test_a_padded_token_answer_is_as_large_as_asked(hostile) -> None:
    hostile.set_hostile(token_padding_bytes=3 << 20)
    response = token(hostile.url, CLIENT)
    assert len(response.content) > 3 << 20
    assert len(response.json()["padding"]) == 3 << 20


def test_query_timed_out_above_a_limit(hostile) -> None:
    api = session_for(hostile.url, CLIENT)
    hostile.set_hostile(query_timeout_above=100)
    heavy = api.get(f"{hostile.url}/demo/customers", params={"limit": 101}, timeout=10)
    assert heavy.status_code == 400
    assert heavy.json()["errors"][0]["code"] == "QueryTimedOut"
    light = api.get(f"{hostile.url}/demo/customers", params={"limit": 100}, timeout=10)
    assert light.status_code == 200


def test_unknown_hostile_settings_are_refused(hostile) -> None:
    answer = requests.post(f"{hostile.url}/_sandbox/hostile", json={"stall": True}, timeout=10)
    assert answer.status_code == 400 and "unknown hostile settings" in answer.json()["error"]


def test_stats_keep_the_correlation_id_of_each_request(hostile) -> None:
    api = session_for(hostile.url, CLIENT)
    hostile.reset_stats()
    api.get(f"{hostile.url}/demo/customers", headers={"X-Correlation-ID": "run-7"}, timeout=10)
    api.get(f"{hostile.url}/demo/orders", timeout=10)
    assert hostile.stats()["correlation_ids"] == ["run-7", None]
