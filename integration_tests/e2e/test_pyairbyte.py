"""PyAirbyte, offline, runs source-commercetools and writes through destination-crmone.

Both connectors are local executables; PyAirbyte runs in its own interpreter with
`AIRBYTE_OFFLINE_MODE=1` (no registry look-up, no telemetry) and `DO_NOT_TRACK=1`, its
directories under the test's temporary directory. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from demo.pipeline import write_json
from demo.sandboxes import Seed
from integration_tests.e2e.expected import assert_crm_matches
from integration_tests.e2e.workspace import run_bounded

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

SCRIPT = Path(__file__).with_name("pyairbyte_sync.py")


def offline_env(root: Path) -> dict[str, str]:
    for name in ("project", "cache", "logs", "tmp"):
        (root / name).mkdir(parents=True, exist_ok=True)
    return {
        **os.environ,
        "AIRBYTE_OFFLINE_MODE": "1",
        "DO_NOT_TRACK": "1",
        "AIRBYTE_PROJECT_DIR": str(root / "project"),
        "AIRBYTE_CACHE_ROOT": str(root / "cache"),
        "AIRBYTE_LOGGING_ROOT": str(root / "logs"),
        "AIRBYTE_TEMP_DIR": str(root / "tmp"),
        "CRMONE_BACKOFF_BASE": "0.01",
    }


def test_pyairbyte_syncs_commercetools_into_crm_one(start_sandboxes, tmp_path: Path) -> None:
    sandboxes = start_sandboxes(Seed(customers=150, orders=450, bad_customers=4))
    source_config = tmp_path / "source.json"
    destination_config = tmp_path / "destination.json"
    write_json(source_config, sandboxes.source_config())
    write_json(destination_config, sandboxes.destination_config(tmp_path / "journal.sqlite"))

    completed = run_bounded(
        [sys.executable, str(SCRIPT), str(source_config), str(destination_config)],
        env=offline_env(tmp_path / "pyairbyte"),
        timeout=150,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    result = json.loads(completed.stdout.strip().splitlines()[-1])

    commercetools = sandboxes.commercetools_dump()
    found = assert_crm_matches(commercetools, sandboxes.crm_dump(), tmp_path / "journal.sqlite")
    assert found["contacts"] == len(commercetools["customers"]) == 154
    assert result["processed_records"] >= len(commercetools["customers"])
