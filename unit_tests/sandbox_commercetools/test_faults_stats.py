"""Injected faults on API reads (not on the token endpoint unless asked) and request stats."""

from __future__ import annotations

from collections import Counter

import pytest
import requests

from sandbox.commercetools import CommercetoolsSandbox, SeedSpec
from unit_tests.sandbox_commercetools.conftest import NewSandbox, session_for, token


@pytest.fixture
def own_sandbox(new_sandbox: NewSandbox) -> CommercetoolsSandbox:
    """A sandbox of this test's own (the tests here change it), not the module's shared one."""
    return new_sandbox(SeedSpec(customers=30, orders=30))


def statuses(api: requests.Session, url: str, n: int) -> Counter[int]:
    return Counter(api.get(f"{url}/demo/customers", timeout=10).status_code for _ in range(n))


def test_a_share_of_reads_fails_with_the_chosen_statuses(own_sandbox) -> None:
    api = session_for(own_sandbox.url, ("sandbox-client", "sandbox-secret"))
    own_sandbox.set_faults(0.3)
    seen = statuses(api, own_sandbox.url, 200)
    failed = sum(n for status, n in seen.items() if status != 200)
    assert set(seen) <= {200, 502, 503, 504, 429}
    assert 30 <= failed <= 90  # 30 % of 200, with room for chance
    assert len(set(seen) - {200}) >= 3
    own_sandbox.set_faults(0.0)
    assert statuses(api, own_sandbox.url, 20) == Counter({200: 20})


def test_429_carries_retry_after_and_errors_have_the_api_shape(own_sandbox) -> None:
    api = session_for(own_sandbox.url, ("sandbox-client", "sandbox-secret"))
    own_sandbox.set_faults(1.0, (429,), retry_after=0)
    response = api.get(f"{own_sandbox.url}/demo/orders", timeout=10)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "0"
    assert response.json()["statusCode"] == 429
    assert response.json()["errors"][0]["code"]


def test_the_token_endpoint_is_faulted_only_when_asked(own_sandbox) -> None:
    own_sandbox.set_faults(1.0, (503,))
    assert token(own_sandbox.url, ("sandbox-client", "sandbox-secret")).status_code == 200
    own_sandbox.set_faults(1.0, (503,), token=True)
    assert token(own_sandbox.url, ("sandbox-client", "sandbox-secret")).status_code == 503


def test_faults_follow_the_seed(own_sandbox) -> None:
    def run() -> list[int]:
        with CommercetoolsSandbox(seed=SeedSpec(customers=5, orders=5), fault_rate=0.5) as s:
            api = session_for(s.url, ("sandbox-client", "sandbox-secret"))
            return [api.get(f"{s.url}/demo/stores", timeout=10).status_code for _ in range(30)]

    assert run() == run()


def test_admin_faults_endpoint_validates_its_input(own_sandbox) -> None:
    url = f"{own_sandbox.url}/_sandbox/faults"
    ok = requests.post(url, json={"rate": 0.2, "statuses": [502]}, timeout=10)
    assert ok.json()["rate"] == 0.2
    assert ok.json()["statuses"] == [502]
    assert requests.post(url, json={"rate": 3}, timeout=10).status_code == 400
    assert requests.post(url, data="not json", timeout=10).status_code == 400


def test_stats_count_requests_per_path_and_status_and_reset(own_sandbox) -> None:
    api = session_for(own_sandbox.url, ("sandbox-client", "sandbox-secret"))
    own_sandbox.reset_stats()
    api.get(f"{own_sandbox.url}/demo/customers", timeout=10)
    api.get(f"{own_sandbox.url}/demo/customers", timeout=10)
    api.get(f"{own_sandbox.url}/demo/nothing-here", timeout=10)
    stats = requests.get(f"{own_sandbox.url}/_sandbox/stats", timeout=10).json()
    assert stats["requests"] == {"GET /demo/customers": 2, "GET /demo/nothing-here": 1}
    assert stats["statuses"] == {"200": 2, "404": 1}
    assert stats["total"] == 3
    requests.post(f"{own_sandbox.url}/_sandbox/stats/reset", timeout=10)
    assert own_sandbox.stats()["total"] == 0
