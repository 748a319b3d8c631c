"""Fixtures for the end-to-end tests: both sandboxes as subprocesses, always stopped."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from demo.sandboxes import Sandboxes, Seed


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
