from __future__ import annotations

import pytest
import requests_mock
from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import EntrypointOutput, read
from airbyte_cdk.test.state_builder import StateBuilder

from source_commercetools import SourceCommercetools
from unit_tests.source.fake_api import FakeCommercetools


def run_read(
    config: dict,
    streams: list[str],
    state: dict[str, dict] | None = None,
    mode: SyncMode = SyncMode.incremental,
) -> EntrypointOutput:
    catalog = CatalogBuilder()
    for name in streams:
        catalog.with_stream(name, mode)
    states = None
    if state is not None:
        builder = StateBuilder()
        for name, value in state.items():
            builder.with_stream_state(name, value)
        states = builder.build()
    return read(SourceCommercetools(), config, catalog.build(), states)


def final_state(output: EntrypointOutput, stream: str) -> dict:
    states = [
        m.state.stream.stream_state
        for m in output.state_messages
        if m.state.stream.stream_descriptor.name == stream
    ]
    return states[-1].__dict__ if states else {}


def position(state: dict, field: str = "lastModifiedAt") -> dict:
    """The position part of a partition's state (without the look-back margin)."""
    return {key: state[key] for key in (field, "id") if key in state}


def ids(output: EntrypointOutput, stream: str | None = None) -> list[str]:
    return [m.record.data["id"] for m in output.records if stream in (None, m.record.stream)]


@pytest.fixture
def api():
    with requests_mock.Mocker() as mocker:
        yield FakeCommercetools(mocker).install()


@pytest.fixture
def sleeps(monkeypatch):
    """Retries without waiting: records what the CDK would have slept."""
    waited: list[float] = []

    def sleep(seconds: float) -> None:
        if seconds:  # backoff's own zero waits around the CDK's sleep are not waits
            waited.append(seconds)

    monkeypatch.setattr("time.sleep", sleep)  # the CDK's and backoff's waits
    return waited
