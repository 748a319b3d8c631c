"""Fixtures shared by the unit tests: the CRM One sandbox the destination's tests write to, and
a short client back-off. (A folder's own conftest adds what only it needs: PostgreSQL for the
journal, the commercetools sandbox for its tests.)"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.crmone import CrmOneSandbox


@pytest.fixture
def sandbox() -> Iterator[CrmOneSandbox]:
    """A CRM One sandbox fast enough that pacing never decides a test."""
    with CrmOneSandbox(requests_per_second=10_000, max_concurrency=64) as running:
        yield running


@pytest.fixture
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """The client's retries back off 1 ms instead of 1 s (`CRMONE_BACKOFF_BASE`)."""
    monkeypatch.setenv("CRMONE_BACKOFF_BASE", "0.001")
