"""Markers the airbyte-cdk standard tests use (the project runs pytest with --strict-markers),
and their image tests deselected: they build a Docker image and reach the network. Set
`CRMONE_IMAGE_TESTS=1` to keep them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_configure(config: pytest.Config) -> None:
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
