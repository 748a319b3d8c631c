"""The PostgreSQL journal across a server restart: it reconnects, and a run either completes
or fails as transient — no journal row is lost either way."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from airbyte_cdk.models import FailureType, Type
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from destination_crmone.destination import DestinationCrmOne
from destination_crmone.journal import JournalError, open_journal
from destination_crmone.journal.postgres import PostgresJournal
from integration_tests.destination.airbyte_input import (
    bad_customers,
    catalog,
    customer,
    stream_messages,
)
from sandbox.crmone import CrmOneSandbox
from unit_tests.destination.tcp_proxy import RestartableProxy

pytestmark = pytest.mark.postgres


@pytest.fixture
def proxy(pg_dsn: str) -> Iterator[RestartableProxy]:
    parts = conninfo_to_dict(pg_dsn)
    running = RestartableProxy(
        str(parts.get("host") or "127.0.0.1"), int(parts.get("port") or 5432)
    )
    yield running
    running.stop()


@pytest.fixture
def proxied_dsn(pg_dsn: str, proxy: RestartableProxy) -> str:
    return make_conninfo(pg_dsn, host="127.0.0.1", port=str(proxy.port))


def test_the_journal_reconnects_after_a_restart_and_keeps_every_row(
    proxied_dsn: str, proxy: RestartableProxy
) -> None:
    journal = open_journal({"type": "postgres", "dsn": proxied_dsn})
    journal.start_run("r1", {})
    proxy.restart(down_for=0.0)  # every connection cut, back at once
    journal.add_review("r1", "note", None, None, {"n": 1})
    proxy.restart_later(after=0.0, down_for=1.0)
    for n in range(2, 6):  # while the server is down and when it is back
        journal.add_review("r1", "note", None, None, {"n": n})
    rows = journal.query("SELECT detail FROM review ORDER BY id")
    assert [json.loads(detail)["n"] for (detail,) in rows] == [1, 2, 3, 4, 5]
    journal.close()


def test_a_journal_that_stays_down_is_a_journal_error(proxied_dsn: str, proxy, monkeypatch) -> None:
    monkeypatch.setattr(PostgresJournal, "reconnect_delays", (0.05, 0.05))
    journal = open_journal({"type": "postgres", "dsn": proxied_dsn})
    proxy.stop()
    with pytest.raises(JournalError, match="unreachable"):
        journal.start_run("r1", {})


def test_a_postgres_restart_mid_run_completes_or_fails_transiently_without_losing_rows(
    proxied_dsn: str, proxy: RestartableProxy, tmp_path
) -> None:
    good, bad = [customer(i) for i in range(300)], bad_customers(20)
    messages = stream_messages("customers", good + bad, 50)
    with CrmOneSandbox(requests_per_second=100_000, max_concurrency=64, latency_ms=20) as crm:
        config = crm.destination_config("unused", batch_size=10)
        config["journal"] = {"type": "postgres", "dsn": proxied_dsn}
        proxy.restart_later(after=0.3, down_for=1.0)
        output, failure = [], None
        try:
            for message in DestinationCrmOne().write(config, catalog("customers"), iter(messages)):
                output.append(message)
        except AirbyteTracedException as error:
            failure = error
        assert proxy.restarts == 1
        journal = open_journal({"type": "postgres", "dsn": proxied_dsn})
        try:
            ((run_id, status, stats),) = journal.query("SELECT run_id, status, stats FROM runs")
            logged = journal.query("SELECT count(*) FROM sync_log WHERE run_id = ?", (run_id,))
            queued = journal.query("SELECT record_key FROM retry_queue WHERE status = 'pending'")
        finally:
            journal.close()
        stats = json.loads(stats)
        assert logged[0][0] == stats["requests"]  # every attempt is in the sync log
        states = [m for m in output if m.type == Type.STATE]
        if failure is None:
            assert status == "succeeded" and len(states) == 7
            assert len(crm.contacts()) + stats["streams"]["customers"]["counts"]["rejected"] == 320
            assert len(queued) == stats["streams"]["customers"]["counts"]["queued"]
        else:
            assert failure.failure_type == FailureType.transient_error
            assert "journal" in failure.message
