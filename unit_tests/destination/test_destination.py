"""spec, check and the console script of destination-crmone (write: test_sinks.py)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from airbyte_cdk.models import DestinationSyncMode, FailureType, Status
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from destination_crmone.destination import DestinationCrmOne, backoff_base
from destination_crmone.run import main
from integration_tests.destination.airbyte_input import catalog, customer, stream_messages
from sandbox.crmone import CrmOneSandbox

logger = logging.getLogger("test")


def test_spec_offers_the_upsert_sync_modes_and_not_overwrite() -> None:
    spec = DestinationCrmOne().spec(logger)
    assert set(spec.supported_destination_sync_modes) == {
        DestinationSyncMode.append,
        DestinationSyncMode.append_dedup,
    }
    assert "base_url" in spec.connectionSpecification["properties"]


def test_check_succeeds_against_a_tenant_that_has_everything(
    sandbox: CrmOneSandbox, tmp_path: Path
) -> None:
    config = sandbox.destination_config(str(tmp_path / "j.db"), orders_as="both")
    status = DestinationCrmOne().check(logger, config)
    assert status.status == Status.SUCCEEDED, status.message


def test_check_names_every_problem_in_one_message(sandbox: CrmOneSandbox, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    config = sandbox.destination_config(
        str(blocker / "journal.db"),
        field_mappings=[{"source": "custom.fields.loyaltyTier", "target": "loyalty_tier"}],
        store_routing=[
            {
                "store_key": "eu-web",
                "list_ids": ["l_nowhere"],
                "properties": [{"property": "vip_level", "value": "x"}],
            }
        ],
    )
    status = DestinationCrmOne().check(logger, config)
    assert status.status == Status.FAILED
    for expected in ("journal.path", "loyalty_tier", "vip_level", "l_nowhere"):
        assert expected in status.message


def test_check_names_bad_credentials_without_showing_the_secret(
    sandbox: CrmOneSandbox, tmp_path: Path
) -> None:
    config = sandbox.destination_config(str(tmp_path / "j.db"), client_secret="wrong-s3cret")
    status = DestinationCrmOne().check(logger, config)
    assert status.status == Status.FAILED
    assert "client_secret" in status.message and "wrong-s3cret" not in status.message


def test_check_names_invalid_config_fields(tmp_path: Path) -> None:
    status = DestinationCrmOne().check(
        logger, {"base_url": "http://crm.example.com", "client_id": "x", "client_secret": "y"}
    )
    assert status.status == Status.FAILED and "base_url" in status.message


def test_write_with_bad_credentials_is_a_config_error_and_echoes_no_state(
    sandbox: CrmOneSandbox, tmp_path: Path
) -> None:
    config = sandbox.destination_config(str(tmp_path / "j.db"), client_secret="wrong-s3cret")
    messages = stream_messages("customers", [customer(1)], 10)
    with pytest.raises(AirbyteTracedException) as raised:
        list(DestinationCrmOne().write(config, catalog("customers"), iter(messages)))
    assert raised.value.failure_type == FailureType.config_error
    assert "wrong-s3cret" not in str(raised.value.message)


def test_console_script_dispatches_journal_commands(
    sandbox: CrmOneSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = sandbox.destination_config(str(tmp_path / "j.db"))
    list(
        DestinationCrmOne().write(
            config, catalog("customers"), iter(stream_messages("customers", [customer(1)], 10))
        )
    )
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))
    with pytest.raises(SystemExit) as exited:
        main(["journal", "--config", str(config_path), "runs", "--json"])
    assert exited.value.code == 0
    (row,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row["status"] == "succeeded"
    stats = json.loads(row["stats"]) if isinstance(row["stats"], str) else row["stats"]
    assert stats["streams"]["customers"]["counts"]["contacts_created"] == 1


def test_backoff_base_comes_from_the_environment_or_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CRMONE_BACKOFF_BASE", raising=False)
    assert backoff_base() == 1.0
    monkeypatch.setenv("CRMONE_BACKOFF_BASE", "0.01")
    assert backoff_base() == 0.01
    monkeypatch.setenv("CRMONE_BACKOFF_BASE", "soon")
    assert backoff_base() == 1.0


def test_input_records_decode_as_the_cdk_would_and_other_messages_through_it() -> None:
    import orjson
    from airbyte_cdk.models import AirbyteMessageSerializer

    from destination_crmone.messages import load_message

    lines = [
        {
            "type": "RECORD",
            "record": {"stream": "customers", "data": {"id": "c1"}, "emitted_at": 1},
        },
        {
            "type": "RECORD",
            "record": {"stream": "s", "namespace": "n", "data": {}, "emitted_at": 2},
        },
        {"type": "RECORD", "record": {"stream": "s", "data": {}, "emitted_at": 3, "meta": {}}},
        {"type": "STATE", "state": {"type": "LEGACY", "data": {"cursor": 1}}},
        {"type": "LOG", "log": {"level": "INFO", "message": "hello"}},
    ]
    for line in lines:
        parsed = orjson.loads(orjson.dumps(line))
        assert load_message(parsed) == AirbyteMessageSerializer.load(parsed)
    with pytest.raises(Exception):  # noqa: B017 - the serializer's own refusal
        load_message({"type": "RECORD", "record": {"stream": 1, "data": {}, "emitted_at": 1}})


def test_failures_become_trace_errors_in_a_users_words() -> None:
    import sqlite3

    from destination_crmone.delivery.context import Fatal, Transient
    from destination_crmone.destination import as_traced
    from destination_crmone.journal import JournalError

    down = as_traced(Transient("CRM One did not answer POST /v1/consents/batch"), 1200)
    assert down.failure_type == FailureType.transient_error
    assert "1,200 records were written and checkpointed" in down.message
    assert "retried by the next attempt" in down.message
    for journal_error in (JournalError("the PostgreSQL journal is unreachable"),
                          sqlite3.OperationalError("disk I/O error")):  # fmt: skip
        traced = as_traced(journal_error, 0)
        assert traced.failure_type == FailureType.transient_error
        assert traced.message.startswith("The journal could not be written")
    assert as_traced(Fatal("401"), 0).failure_type == FailureType.config_error
    assert as_traced(KeyError("bug"), 0).failure_type == FailureType.system_error
