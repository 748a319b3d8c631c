"""One small seeded sandbox per module, and a logged-in requests session against it."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import pytest
import requests

from sandbox.commercetools import CommercetoolsSandbox, SeedSpec

KEYSET = "lastModifiedAt > :t or (lastModifiedAt = :t and id > :id)"
SMALL = SeedSpec(customers=600, orders=900, shared_timestamp_share=0.5, bad_customers=8)


def token(url: str, client: tuple[str, str], scope: str | None = None) -> requests.Response:
    params = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
    return requests.post(f"{url}/oauth/token", params=params, auth=client, timeout=10)


def session_for(url: str, client: tuple[str, str], scope: str | None = None) -> requests.Session:
    response = token(url, client, scope)
    response.raise_for_status()
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
    return session


@pytest.fixture(scope="module")
def sandbox() -> Iterator[CommercetoolsSandbox]:
    with CommercetoolsSandbox(seed=SMALL) as server:
        yield server


NewSandbox = Callable[[SeedSpec], CommercetoolsSandbox]


@pytest.fixture
def new_sandbox() -> Iterator[NewSandbox]:
    """Sandboxes of a test's own, from a seed (for tests that change them: faults,
    mutations), stopped when the test ends."""
    with contextlib.ExitStack() as stack:
        yield lambda seed: stack.enter_context(CommercetoolsSandbox(seed=seed))


@pytest.fixture(scope="module")
def api(sandbox: CommercetoolsSandbox) -> requests.Session:
    return session_for(sandbox.url, (sandbox.client_id, sandbox.client_secret))


def read_keyset(
    api: requests.Session, url: str, *, limit: int = 100, start: str = "1970-01-01T00:00:00.000Z"
) -> list[dict]:
    """Every record by key-set paging, the way the source reads (bounded loop)."""
    where: dict[str, str] = {"where": "lastModifiedAt >= :t", "var.t": start}
    out: list[dict] = []
    for _ in range(10_000):
        response = api.get(
            url,
            params={
                "sort": ["lastModifiedAt asc", "id asc"],
                **where,
                "limit": limit,
                "withTotal": "false",
            },
            timeout=10,
        )
        response.raise_for_status()
        results = response.json()["results"]
        out += results
        if len(results) < limit:
            return out
        where = {
            "where": KEYSET,
            "var.t": results[-1]["lastModifiedAt"],
            "var.id": results[-1]["id"],
        }
    raise AssertionError("key-set paging did not end")
