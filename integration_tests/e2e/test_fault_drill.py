"""Fault drill: 20 % injected 5xx/429 in both sandboxes, the destination SIGKILLed mid-run,
the sync re-run from the last state it echoed; CRM One ends with every contact, consent and
activity exactly once.

Back-off is shortened through the connectors' own knobs: the source's `retry_backoff_seconds`
config key and the destination's `CRMONE_BACKOFF_BASE` environment variable.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from demo.pipeline import StateFile, Sync
from demo.sandboxes import Seed
from integration_tests.e2e.expected import assert_crm_matches, expected_activities
from integration_tests.e2e.workspace import write_configs

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

FAULT_RATE = 0.2
KILL_AFTER_STATES = 8  # pages of 50: past the customers, in the middle of the orders
FAST_RETRIES = {"CRMONE_BACKOFF_BASE": "0.01"}


def sync(label: str, paths: dict[str, Path], state: StateFile, workdir: Path) -> Sync:
    return Sync(
        label,
        source_config=paths["source"],
        destination_config=paths["destination"],
        catalog=paths["catalog"],
        state_file=state,
        log_dir=workdir / "logs",
        env=FAST_RETRIES,
    )


def test_killed_destination_and_faults_end_with_everything_exactly_once(
    start_sandboxes, tmp_path: Path
) -> None:
    sandboxes = start_sandboxes(Seed(customers=300, orders=900, bad_customers=8))
    paths = write_configs(
        sandboxes, tmp_path, source={"page_size": 50, "retry_backoff_seconds": 0.01}
    )
    sandboxes.set_faults(FAULT_RATE, retry_after=0)
    state = StateFile(tmp_path / "state.json")

    def kill_destination(running: Sync) -> None:
        if running.result.states_echoed == KILL_AFTER_STATES:
            assert running.destination is not None
            os.kill(running.destination.pid, signal.SIGKILL)

    killed = sync("killed", paths, state, tmp_path).run(
        timeout_seconds=120, on_state=kill_destination
    )
    assert killed.destination_exit == -signal.SIGKILL and not killed.ok
    assert killed.states_echoed >= KILL_AFTER_STATES
    commercetools = sandboxes.commercetools_dump()
    assert killed.records["orders"] < len(commercetools["orders"]), "killed before the end"
    crm = sandboxes.crm_dump()
    all_activities = expected_activities(
        commercetools, {c["id"] for c in commercetools["customers"]}, {}
    )
    assert len(crm["activities"]) < len(all_activities), "the kill came in the middle of the run"

    rerun = sync("rerun", paths, StateFile(state.path), tmp_path).run(timeout_seconds=120)
    assert rerun.ok, rerun.errors
    seeded = len(commercetools["customers"]) + len(commercetools["orders"])
    assert 0 < rerun.records["customers"] + rerun.records["orders"] < seeded  # resumed

    found = assert_crm_matches(
        sandboxes.commercetools_dump(), sandboxes.crm_dump(), tmp_path / "journal.sqlite"
    )
    assert found["contacts"] >= 300 and found["consents"] > 0 and found["activities"] > 0
    crm_stats = sandboxes.crmone.admin("GET", "stats")
    commercetools_stats = sandboxes.commercetools.admin("GET", "stats")
    assert crm_stats["faults_injected"] > 0
    assert any(int(status) >= 500 for status in commercetools_stats["statuses"])
