"""airbyte-cdk's destination standard tests (spec, config-vs-spec, check, no secrets in
output) for destination-crmone, against the in-process CRM One sandbox.

This folder is the connector root for the suite (`acceptance-test-config.yml`, `configs/`).
A config whose base_url is `SANDBOX_PLACEHOLDER` is sent to the sandbox this module starts;
every config's relative journal path is put under a temporary directory. Image tests need
Docker and the network: integration_tests/conftest.py deselects them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from airbyte_cdk.models import AirbyteConnectionStatus
from airbyte_cdk.test.standard_tests import DestinationTestSuiteBase

from destination_crmone.destination import DestinationCrmOne
from sandbox.crmone import CrmOneSandbox

pytest_plugins = ["airbyte_cdk.test.standard_tests.pytest_hooks"]

SANDBOX_PLACEHOLDER = "http://127.0.0.1:1/sandbox"
ROUTE: dict[str, str] = {}


class SandboxRoutedDestination(DestinationCrmOne):
    """The real destination, with the placeholder URL and journal path filled in."""

    def check(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteConnectionStatus:
        return super().check(logger, routed(config))


def routed(config: Mapping[str, Any]) -> dict[str, Any]:
    config = dict(config)
    if config.get("base_url") == SANDBOX_PLACEHOLDER:
        config["base_url"] = ROUTE["base_url"]
    journal = dict(config.get("journal") or {})
    if journal.get("type") == "sqlite" and not Path(journal["path"]).is_absolute():
        journal["path"] = str(Path(ROUTE["directory"]) / journal["path"])
        config["journal"] = journal
    return config


@pytest.fixture(autouse=True)
def crm_one_sandbox(
    sandbox: CrmOneSandbox, tmp_path: Path, fast_backoff: None
) -> Iterator[CrmOneSandbox]:
    ROUTE.update(base_url=sandbox.url, directory=str(tmp_path))
    yield sandbox
    ROUTE.clear()


class TestDestinationCrmOne(DestinationTestSuiteBase):
    connector = SandboxRoutedDestination
    connector_name = "destination-crmone"

    @classmethod
    def get_connector_root_dir(cls) -> Path:
        return Path(__file__).parent
