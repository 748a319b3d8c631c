"""The PostgreSQL journal across a server restart: it reconnects, and a run either completes
or fails as transient — no journal row is lost either way."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator

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
from unit_tests.destination.conftest import throwaway_postgres
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


def run_through_a_restart(dsn: str, restart_later: Callable[[], None]) -> None:
    """One `write` of 320 customers whose journal's server restarts 0.3 s in: the run either
    completes (every record written or queued) or fails as transient; no journal row is lost."""
    good, bad = [customer(i) for i in range(300)], bad_customers(20)
    messages = stream_messages("customers", good + bad, 50)
    with CrmOneSandbox(requests_per_second=100_000, max_concurrency=64, latency_ms=20) as crm:
        config = crm.destination_config("unused", batch_size=10)
        config["journal"] = {"type": "postgres", "dsn": dsn}
        restart_later()
        output, failure = [], None
        try:
            for message in DestinationCrmOne().write(config, catalog("customers"), iter(messages)):
                output.append(message)
        except AirbyteTracedException as error:
            failure = error
        journal = open_journal({"type": "postgres", "dsn": dsn})
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


def test_a_connection_cut_mid_run_completes_or_fails_transiently_without_losing_rows(
    proxied_dsn: str, proxy: RestartableProxy
) -> None:
    run_through_a_restart(proxied_dsn, lambda: proxy.restart_later(after=0.3, down_for=1.0))
    assert proxy.restarts == 1


def test_a_real_server_restart_mid_run_completes_or_fails_transiently_without_losing_rows() -> None:
    """`pg_ctl restart -m fast` on a server of the test's own (local binaries; CI installs
    them), so the journal meets what a real restart does: terminated sessions, a refused
    connection while it is down, a fresh server afterwards."""
    with throwaway_postgres() as server:
        restarted = threading.Event()

        def restart() -> None:
            time.sleep(0.3)
            server.restart()
            restarted.set()

        def restart_later() -> None:
            threading.Thread(target=restart, daemon=True).start()

        run_through_a_restart(server.dsn, restart_later)
        assert restarted.wait(60)
