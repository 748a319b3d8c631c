"""airbyte-cdk's standard source tests against the commercetools sandbox (image tests are
deselected: integration_tests/conftest.py).

The connector root for these tests is ./source-commercetools (acceptance-test-config.yml);
the configs it names are written here, for a sandbox started on loopback for this module.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from airbyte_cdk.test.standard_tests import SourceTestSuiteBase

from sandbox.commercetools import CommercetoolsSandbox, SeedSpec
from source_commercetools import SourceCommercetools

pytest_plugins = ["airbyte_cdk.test.standard_tests.pytest_hooks"]

CONNECTOR_ROOT = Path(__file__).parent / "source-commercetools"


@pytest.fixture(scope="module", autouse=True)
def sandbox_configs():
    seed = SeedSpec(customers=300, orders=400)
    with CommercetoolsSandbox(seed=seed) as sandbox:
        # every stream must have records for the basic read: add a change message
        sandbox.delete_customers(1)
        secrets = CONNECTOR_ROOT / "secrets"
        secrets.mkdir(exist_ok=True)
        configs = {
            "config.json": sandbox.source_config(),
            "config_bad_secret.json": sandbox.source_config(client_secret="wrong"),
            "config_unknown_project.json": sandbox.source_config(project_key="no-such-project"),
        }
        for name, config in configs.items():
            (secrets / name).write_text(json.dumps(config))
        yield


class TestSourceCommercetools(SourceTestSuiteBase):
    connector = SourceCommercetools

    @classmethod
    def get_connector_root_dir(cls) -> Path:
        return CONNECTOR_ROOT
