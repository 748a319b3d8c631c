"""Fixtures shared by the integration tests: the CRM One sandbox and the short client back-off
(the unit tests' own, imported: one fixture each for both trees), both sandboxes of the demo
as subprocesses, and the airbyte-cdk standard tests' markers.

The cdk's image tests build a Docker image and reach the network: they are deselected unless
`CRMONE_IMAGE_TESTS=1` (or run `airbyte-cdk image test` for them)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from demo.sandboxes import Sandboxes, Seed
from unit_tests.conftest import fast_backoff, sandbox  # noqa: F401 (fixtures)

HERE = Path(__file__).parent


def pytest_configure(config: pytest.Config) -> None:
    # markers the airbyte-cdk standard tests use (the project runs with --strict-markers)
    config.addinivalue_line("markers", "image_tests: airbyte-cdk tests that build a Docker image")
    config.addinivalue_line("markers", "requires_creds: airbyte-cdk scenarios that need secrets")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("CRMONE_IMAGE_TESTS") == "1":
        return
    image_tests = [
        item
        for item in items
        if item.get_closest_marker("image_tests") and HERE in Path(str(item.path)).parents
    ]
    if image_tests:
        config.hook.pytest_deselected(items=image_tests)
        items[:] = [item for item in items if item not in image_tests]


@pytest.fixture
def start_sandboxes(tmp_path: Path) -> Iterator[Callable[[Seed], Sandboxes]]:
    """Starts both sandboxes (seeded); every one started is stopped at teardown."""
    started: list[Sandboxes] = []

    def start(seed: Seed) -> Sandboxes:
        sandboxes = Sandboxes(tmp_path / f"sandboxes{len(started)}", seed)
        started.append(sandboxes)
        return sandboxes

    yield start
    for sandboxes in started:
        sandboxes.stop()
