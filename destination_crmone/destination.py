"""destination-crmone: spec, check and write.

Sync modes: `append` and `append_dedup`, both meaning "upsert": contacts by external_id,
activities and objects by their external ids. `overwrite` is not offered: the destination never
deletes CRM One contacts that are absent from a sync (a CRM is not a table to truncate);
deletions come only from `CustomerDeleted` messages.

A failure that is not about one record (CRM One unreachable past `retry_budget_seconds`, the
journal unwritable) ends `write` with a TRACE error of `failure_type: transient_error` after
echoing every STATE whose records are settled: Airbyte's next attempt resumes from there.

The back-off base of the client's retries is 1 s; drills and tests shorten it with the
environment variable `CRMONE_BACKOFF_BASE` (seconds, e.g. `0.01`).
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import sqlite3
import sys
import time
import uuid
from collections.abc import Iterable, Mapping
from functools import partial
from typing import Any

import psycopg
from airbyte_cdk.destinations import Destination
from airbyte_cdk.exception_handler import init_uncaught_exception_handler
from airbyte_cdk.models import (
    AirbyteConnectionStatus,
    AirbyteMessage,
    ConfiguredAirbyteCatalog,
    ConnectorSpecification,
    DestinationSyncMode,
    FailureType,
    Level,
    Status,
    Type,
)
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from connectors_common import secrets
from destination_crmone.check import problems
from destination_crmone.commerce.sender import write_abandoned_carts
from destination_crmone.config import (
    ConfigError,
    DestinationConfig,
    consent_notice,
    journal_shape_problem,
    spec_schema,
    upgrade_config,
)
from destination_crmone.crmone.calllog import CallRecord
from destination_crmone.crmone.client import CrmOneClient, CrmOneError
from destination_crmone.crmone.validate import ContactSchema
from destination_crmone.delivery.context import Fatal, Transient, WriteContext
from destination_crmone.delivery.relay import log_message, reject_input, relay, serialize
from destination_crmone.delivery.writer import Writer
from destination_crmone.input import CappedInput, RejectedInput
from destination_crmone.journal import Journal, JournalError, QueuePolicy, open_journal
from destination_crmone.journal.placement import journal_placement, journal_spec
from destination_crmone.stats import RunStats, summary_text
from destination_crmone.streams import stream_follows, stream_senders

BACKOFF_ENV = "CRMONE_BACKOFF_BASE"
DEFAULT_BACKOFF_BASE = 1.0
DEFAULT_LIMITS = {"batch_max": 100, "max_concurrency": 8}
DOCUMENTATION_URL = (
    "https://github.com/crmone/airbyte-commercetools-crmone/blob/main/docs/destination-crmone.md"
)


def backoff_base() -> float:
    """`CRMONE_BACKOFF_BASE` when it is a positive number, else the production default."""
    try:
        value = float(os.environ.get(BACKOFF_ENV, DEFAULT_BACKOFF_BASE))
    except ValueError:
        return DEFAULT_BACKOFF_BASE
    return value if value > 0 else DEFAULT_BACKOFF_BASE


CHECK_RETRY_BUDGET_SECONDS = 30.0


def make_client(
    config: DestinationConfig, observer: Any = None, *, for_check: bool = False
) -> CrmOneClient:
    """`write` retries one call for up to `retry_budget_seconds`; `check` (someone waits for
    it) at most 8 times and 30 s."""
    budget = float(config.retry_budget_seconds)
    return CrmOneClient(
        config.base_url,
        config.client_id,
        config.client_secret.get_secret_value(),
        max_concurrency=config.concurrency,
        call_observer=observer,
        backoff_base=backoff_base(),
        max_retries=8 if for_check else None,
        retry_budget_seconds=min(budget, CHECK_RETRY_BUDGET_SECONDS) if for_check else budget,
    )


def limit(limits: Mapping[str, Any], name: str) -> int:
    """A positive integer limit of `/v1/account`, or the contract's default."""
    value = limits.get(name)
    return value if isinstance(value, int) and value > 0 else DEFAULT_LIMITS[name]


def config_failure(message: str) -> AirbyteTracedException:
    return AirbyteTracedException(
        message=message, internal_message=message, failure_type=FailureType.config_error
    )


def new_run_id() -> str:
    return f"run_{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}_{uuid.uuid4().hex[:8]}"


class DestinationCrmOne(Destination):
    def run(self, args: list[str]) -> None:
        """The CDK's `run`, printing with `serialize` (it keeps `rejectedRecordCount`)."""
        init_uncaught_exception_handler(logging.getLogger("airbyte"))
        for message in self.run_cmd(self.parse_args(args)):
            print(serialize(message), file=sys.stdout)

    def spec(self, logger: logging.Logger) -> ConnectorSpecification:
        return ConnectorSpecification(
            documentationUrl=DOCUMENTATION_URL,
            connectionSpecification=spec_schema(),
            supportsIncremental=True,
            supported_destination_sync_modes=[
                DestinationSyncMode.append,
                DestinationSyncMode.append_dedup,
            ],
        )

    def read_config(self, config_path: str) -> dict[str, Any]:
        """The config file, in today's shape (`config.upgrade_config`)."""
        return upgrade_config(super().read_config(config_path))

    def run_cmd(self, parsed_args: argparse.Namespace) -> Iterable[AirbyteMessage]:
        """The CDK's commands, after one check it cannot make safely: its spec validation
        quotes a value of the wrong type, and a journal given as a DSN string holds a password."""
        if parsed_args.command in ("check", "write"):
            problem = journal_shape_problem(self.read_config(config_path=parsed_args.config))
            if problem and parsed_args.command == "check":
                status = AirbyteConnectionStatus(status=Status.FAILED, message=problem)
                yield AirbyteMessage(type=Type.CONNECTION_STATUS, connectionStatus=status)
                return
            if problem:
                raise config_failure(problem)
        yield from super().run_cmd(parsed_args)

    def _parse_input_stream(self, input_stream: io.TextIOWrapper) -> Iterable[AirbyteMessage]:
        """stdin within limits (`input.CappedInput`), instead of the CDK's unbounded lines."""
        return CappedInput(getattr(input_stream, "buffer", input_stream))

    # --- check ---------------------------------------------------------------------------

    def check(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteConnectionStatus:
        """Every problem of the config, the journal and the CRM One tenant, in one message."""
        try:
            parsed = DestinationConfig.parse_config(dict(config))
        except ConfigError as error:
            return AirbyteConnectionStatus(status=Status.FAILED, message=str(error))
        if notice := consent_notice(parsed):
            logger.warning(notice)
        found = [secrets.scrub(p) for p in problems(parsed, make_client(parsed, for_check=True))]
        if found:
            return AirbyteConnectionStatus(
                status=Status.FAILED,
                message=f"{len(found)} problem(s): " + " | ".join(found),
            )
        return AirbyteConnectionStatus(status=Status.SUCCEEDED)

    # --- write ---------------------------------------------------------------------------

    def write(
        self,
        config: Mapping[str, Any],
        configured_catalog: ConfiguredAirbyteCatalog,
        input_messages: Iterable[AirbyteMessage],
    ) -> Iterable[AirbyteMessage]:
        parsed = self._parse(config)
        placement = journal_placement(parsed)
        if placement.problem:
            raise config_failure(placement.problem)
        if placement.warning:
            yield log_message(Level.WARN, placement.warning)
        journal = self._with_queue_policy(self._open_journal(parsed), parsed)
        run_id = new_run_id()
        stats = RunStats(dry_run=parsed.dry_run)
        streams = [configured.stream.name for configured in configured_catalog.streams]

        def observe(call: CallRecord) -> None:
            journal.log_call(run_id, call)
            stats.observe_call(call)

        unread: list[RejectedInput] = []  # records refused by an input limit, for relay
        if isinstance(input_messages, CappedInput):  # stdin: the config's limit, rejects queued
            input_messages.max_line_bytes = parsed.max_line_bytes
            input_messages.on_reject = unread.append
        on_unread = partial(reject_input, journal, stats, run_id, parsed.dry_run)
        status, failure, writer = "failed", None, None
        try:
            try:
                meta = {"dry_run": parsed.dry_run, "base_url": parsed.base_url, "streams": streams}
                journal.start_run(run_id, meta)
                client = make_client(parsed, observe)
                context = self._context(parsed, client, journal, stats, run_id)
                writer = Writer(
                    context,
                    streams,
                    prefix=parsed.stream_prefix,
                    senders=stream_senders(parsed),
                    follows=stream_follows(),
                )
                writer.resend_queue()
                yield from relay(input_messages, writer, unread, on_unread)
                writer.resend_queue(woken_only=True)  # waited for a contact written just now
                if "carts" in writer.routes.values():
                    write_abandoned_carts(context)
                status = "succeeded"
            except Exception as error:  # reported below, after the summary
                failure = error
            if writer is not None:
                stats.ignored_streams = list(writer.ignored)
            for name, count in journal.queue_counts().items():
                stats.add_queue(f"{name}_total", count)
            summary = stats.as_dict()
            try:
                journal.end_run(run_id, status, summary)
                journal.prune(parsed.sync_log_retention_days)
            except Exception as error:  # the journal itself may be what failed
                failure = failure or error
        finally:
            if writer is not None:
                writer.close()
            journal.close()
        yield log_message(Level.INFO, summary_text(summary, run_id))
        if failure is not None:
            raise as_traced(failure, writer.checkpointed if writer else 0) from None

    @staticmethod
    def _parse(config: Mapping[str, Any]) -> DestinationConfig:
        try:
            parsed = DestinationConfig.parse_config(dict(config))
        except ConfigError as error:
            raise config_failure(str(error)) from None
        if notice := consent_notice(parsed):
            logging.getLogger("airbyte").warning(notice)
        return parsed

    @staticmethod
    def _open_journal(config: DestinationConfig) -> Journal:
        try:
            return open_journal(journal_spec(config), redact_pii=config.redact_pii)
        except JournalError as error:
            raise config_failure(str(error)) from None

    @staticmethod
    def _with_queue_policy(journal: Journal, config: DestinationConfig) -> Journal:
        journal.queue_policy = QueuePolicy(
            max_attempts=config.retry_max_attempts,
            max_days=config.retry_max_days,
            backoff_hours=config.retry_backoff_hours,
        )
        return journal

    @staticmethod
    def _context(
        config: DestinationConfig,
        client: CrmOneClient,
        journal: Journal,
        stats: RunStats,
        run_id: str,
    ) -> WriteContext:
        """Token, account limits and contact schema: what every sink needs."""
        try:
            account = client.account()
            schema = ContactSchema.from_api(client.contact_schema())
            objects = client.object_properties() if config.writes_order_objects else {}
        except CrmOneError as error:
            failure = (
                FailureType.config_error
                if error.status in (401, 403)
                else FailureType.transient_error
            )
            raise AirbyteTracedException(
                message=f"CRM One cannot be reached or refused the connector: {error}",
                internal_message=str(error),
                failure_type=failure,
            ) from None
        limits = account.get("limits") or {}
        concurrency = min(config.concurrency, limit(limits, "max_concurrency"))
        client.limit_concurrency(concurrency)
        rate = limits.get("requests_per_second")
        client.pace(rate if isinstance(rate, int | float) and rate > 0 else None)
        return WriteContext(
            config=config,
            client=client,
            journal=journal,
            schema=schema,
            stats=stats,
            run_id=run_id,
            batch_size=min(config.batch_size, limit(limits, "batch_max")),
            concurrency=concurrency,
            dry_run=config.dry_run,
            tenant=f"{config.base_url} {account.get('tenant') or ''}",
            order_properties=objects.get("orders", frozenset()),
        )


JOURNAL_FAILURES: tuple[type[BaseException], ...] = (JournalError, sqlite3.Error, psycopg.Error)


def as_traced(error: BaseException, checkpointed: int) -> AirbyteTracedException:
    """The TRACE error of a failed write, in a user's words."""
    if isinstance(error, AirbyteTracedException):
        return error
    done = (
        f"{checkpointed:,} records were written and checkpointed; the rest will be retried "
        "by the next attempt (Airbyte resumes from the last echoed state)."
    )
    if isinstance(error, Fatal):
        message = f"CRM One refused the connector's credentials: {error}"
        failure = FailureType.config_error
    elif isinstance(error, Transient):
        message = f"CRM One did not accept the sync's calls: {error}. {done}"
        failure = FailureType.transient_error
    elif isinstance(error, JOURNAL_FAILURES):
        message = f"The journal could not be written: {error}. {done}"
        failure = FailureType.transient_error
    else:
        message = f"The write stopped on an unexpected error: {error!r}. {done}"
        failure = FailureType.system_error
    return AirbyteTracedException(
        message=message, internal_message=repr(error), failure_type=failure, exception=error
    )
