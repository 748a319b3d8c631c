"""Issue #11, finding 7: a journal given as a DSN string is never echoed (neither by our
parser nor by the CDK's spec validation), and no DSN error shows any part of the password."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from airbyte_cdk.models import Status, Type
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from destination_crmone.config import ConfigError, DestinationConfig
from destination_crmone.destination import DestinationCrmOne
from destination_crmone.journal import JournalError, open_journal

pytestmark = pytest.mark.security

PASSWORD = "Sekr1tPassw0rd"
STRING_DSN = f"host=db.internal port=5432 user=crm password={PASSWORD} dbname=crm"
BASE = {"base_url": "http://127.0.0.1:9", "client_id": "cid", "client_secret": "cs"}


def write_config(tmp_path: Path, journal: object) -> str:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**BASE, "journal": journal}))
    return str(path)


def test_a_dsn_string_as_journal_is_refused_without_quoting_it() -> None:
    with pytest.raises(ConfigError) as raised:
        DestinationConfig.parse_config({**BASE, "journal": STRING_DSN})
    assert raised.value.fields == ("journal",)
    assert PASSWORD not in str(raised.value) and "db.internal" not in str(raised.value)


def test_check_command_reports_a_dsn_string_without_echoing_it(tmp_path: Path) -> None:
    destination = DestinationCrmOne()
    args = destination.parse_args(["check", "--config", write_config(tmp_path, STRING_DSN)])
    (message,) = list(destination.run_cmd(args))
    assert message.type == Type.CONNECTION_STATUS
    assert message.connectionStatus.status == Status.FAILED
    assert "journal" in message.connectionStatus.message
    assert PASSWORD not in message.connectionStatus.message


def test_write_command_fails_on_a_dsn_string_without_echoing_it(tmp_path: Path) -> None:
    destination = DestinationCrmOne()
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps({"streams": []}))
    args = destination.parse_args(
        ["write", "--config", write_config(tmp_path, STRING_DSN), "--catalog", str(catalog)]
    )
    with pytest.raises(AirbyteTracedException) as raised:
        list(destination.run_cmd(args))
    shown = f"{raised.value.message} {raised.value.internal_message}"
    assert "journal" in shown and PASSWORD not in shown


# libpq reads a URL password up to its first '@': the rest becomes part of the host name,
# which the connection error quotes.
TAIL = "TailOfThePassword"
AT_DSN = f"postgresql://crm:first@{TAIL}@127.0.0.1:9/crm"


def test_an_unencoded_at_in_a_dsn_password_is_a_config_error_without_the_password() -> None:
    with pytest.raises(ConfigError) as raised:
        DestinationConfig.parse_config({**BASE, "journal": {"type": "postgres", "dsn": AT_DSN}})
    assert raised.value.fields == ("journal.dsn",)
    assert TAIL not in str(raised.value) and "first" not in str(raised.value)


@pytest.mark.parametrize(
    "dsn",
    [
        AT_DSN,
        f"postgresql://crm:{PASSWORD}@127.0.0.1:9/crm",
        STRING_DSN.replace("db.internal", "127.0.0.1").replace("5432", "9"),
    ],
)
def test_connection_errors_show_no_part_of_the_password(dsn: str) -> None:
    with pytest.raises(JournalError) as raised:
        open_journal({"type": "postgres", "dsn": dsn})
    assert "journal.dsn" in str(raised.value)
    for part in (TAIL, PASSWORD, "first@"):
        assert part not in str(raised.value)
