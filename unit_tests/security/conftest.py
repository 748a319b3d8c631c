"""Shared by the security tests: a CRM One sandbox, a destination run through the real
`write`, and every text the journal holds (to grep it for personal values)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from airbyte_cdk.models import AirbyteMessage

from destination_crmone.destination import DestinationCrmOne
from destination_crmone.journal import open_journal
from integration_tests.destination.airbyte_input import catalog
from sandbox.crmone import CrmOneSandbox
from unit_tests.destination.conftest import pg_dsn, pg_server  # noqa: F401 (fixtures)

STREAMS = ("customers", "orders", "messages")


@pytest.fixture(autouse=True)
def _short_backoff(fast_backoff: None) -> None:
    """Every security test runs with the shared short back-off (unit_tests/conftest.py)."""


@dataclass
class Destination:
    """The destination's `write` against the sandbox, with one journal file."""

    sandbox: CrmOneSandbox
    journal_path: str
    overrides: dict[str, Any]
    caplog: pytest.LogCaptureFixture

    def write(self, messages: list[AirbyteMessage], **overrides: Any) -> list[AirbyteMessage]:
        config = self.sandbox.destination_config(
            self.journal_path, **{**self.overrides, **overrides}
        )
        with self.caplog.at_level(logging.INFO):
            return list(DestinationCrmOne().write(config, catalog(*STREAMS), iter(messages)))

    def query(self, statement: str, params: tuple = ()) -> list[tuple]:
        journal = open_journal({"type": "sqlite", "path": self.journal_path})
        try:
            return journal.query(statement, params)
        finally:
            journal.close()

    def journal_text(self) -> dict[str, str]:
        """Every row of every journal table (whatever tables the journal has now), as text."""
        tables = [
            name for (name,) in self.query("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
        assert {"sync_log", "retry_queue", "identities"} <= set(tables)
        return {table: json.dumps(self.query(f"SELECT * FROM {table}")) for table in tables}

    def logged(self) -> str:
        return "\n".join(record.getMessage() for record in self.caplog.records)


@pytest.fixture
def destination(
    sandbox: CrmOneSandbox, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> Destination:
    return Destination(sandbox, str(tmp_path / "journal" / "journal.db"), {}, caplog)


def found_in(values: list[str], texts: dict[str, str]) -> dict[str, list[str]]:
    """Which values appear (case-insensitively, also JSON-escaped) in which texts."""
    hits: dict[str, list[str]] = {}
    for value in values:
        forms = {value.lower(), json.dumps(value)[1:-1].lower()}
        where = [name for name, text in texts.items() if any(f in text.lower() for f in forms)]
        if where:
            hits[value] = where
    return hits
