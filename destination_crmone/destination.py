"""destination-crmone: spec, check and write.

Sync modes: `append`, `append_dedup` and `overwrite` are all accepted and all mean "upsert":
contacts by external_id, activities and objects by their external ids. `overwrite` does not
delete CRM One contacts that are absent from the sync (a CRM is not a table to truncate);
deletions come only from `CustomerDeleted` messages.

The back-off base of the client's retries is 1 s; drills and tests shorten it with the
environment variable `CRMONE_BACKOFF_BASE` (seconds, e.g. `0.01`).
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from airbyte_cdk.destinations import Destination
from airbyte_cdk.models import (
    AirbyteConnectionStatus,
    AirbyteLogMessage,
    AirbyteMessage,
    AirbyteStateStats,
    AirbyteStateType,
    ConfiguredAirbyteCatalog,
    ConnectorSpecification,
    DestinationSyncMode,
    FailureType,
    Level,
    Status,
    Type,
)
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from destination_crmone.client import CallRecord, CrmOneClient, CrmOneError
from destination_crmone.commerce_sinks import COMMERCE_SINKS, write_abandoned_carts
from destination_crmone.config import ConfigError, DestinationConfig, spec_schema
from destination_crmone.journal import Journal, JournalError, QueuePolicy, open_journal
from destination_crmone.mapping import configured_list_ids, unwritable_properties
from destination_crmone.sinks import SINKS, SinkSet, WriteContext
from destination_crmone.stats import RunStats, summary_text
from destination_crmone.validate import ContactSchema

ORDER_ACTIVITY_TYPES = ("order_placed", "order_cancelled", "order_updated", "order_returned")
CART_ACTIVITY_TYPES = ("checkout_started", "cart_abandoned")
# The source streams this destination writes something for; a catalog needs no others.
USED_STREAMS = ("customers", "carts", "orders", "messages")
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


def make_client(config: DestinationConfig, observer: Any = None) -> CrmOneClient:
    return CrmOneClient(
        config.base_url,
        config.client_id,
        config.client_secret.get_secret_value(),
        max_concurrency=config.concurrency,
        call_observer=observer,
        backoff_base=backoff_base(),
    )


def journal_spec(config: DestinationConfig) -> dict[str, Any]:
    spec = config.journal.model_dump()
    if config.journal.type == "postgres":
        spec["dsn"] = config.journal.dsn.get_secret_value()
    return spec


def limit(limits: Mapping[str, Any], name: str) -> int:
    """A positive integer limit of `/v1/account`, or the contract's default."""
    value = limits.get(name)
    return value if isinstance(value, int) and value > 0 else DEFAULT_LIMITS[name]


def required_scopes(config: DestinationConfig) -> list[str]:
    scopes = ["contacts:write"]
    if config.consents:
        scopes.append("consents:write")
    if configured_list_ids(config):
        scopes.append("lists:write")
    if config.orders_as in ("activities", "both") or config.carts_as == "activities":
        scopes.append("activities:write")
    if config.orders_as in ("objects", "both"):
        scopes.append("objects:write")
    return scopes


def config_failure(message: str) -> AirbyteTracedException:
    return AirbyteTracedException(
        message=message, internal_message=message, failure_type=FailureType.config_error
    )


def new_run_id() -> str:
    return f"run_{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}_{uuid.uuid4().hex[:8]}"


class DestinationCrmOne(Destination):
    def spec(self, logger: logging.Logger) -> ConnectorSpecification:
        return ConnectorSpecification(
            documentationUrl=DOCUMENTATION_URL,
            connectionSpecification=spec_schema(),
            supportsIncremental=True,
            supported_destination_sync_modes=[
                DestinationSyncMode.append,
                DestinationSyncMode.append_dedup,
                DestinationSyncMode.overwrite,
            ],
        )

    # --- check ---------------------------------------------------------------------------

    def check(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteConnectionStatus:
        """Every problem of the config, the journal and the CRM One tenant, in one message."""
        try:
            parsed = DestinationConfig.parse_config(dict(config))
        except ConfigError as error:
            return AirbyteConnectionStatus(status=Status.FAILED, message=str(error))
        problems = self.problems(parsed)
        if problems:
            return AirbyteConnectionStatus(
                status=Status.FAILED,
                message=f"{len(problems)} problem(s): " + " | ".join(problems),
            )
        return AirbyteConnectionStatus(status=Status.SUCCEEDED)

    def problems(self, config: DestinationConfig) -> list[str]:
        problems: list[str] = []
        try:
            open_journal(journal_spec(config), redact_pii=config.redact_pii).close()
        except JournalError as error:
            problems.append(str(error))
        client = make_client(config)
        try:
            account = client.account()
        except CrmOneError as error:
            return [*problems, f"base_url/client_id/client_secret: {error}"]
        granted = account.get("scopes") if isinstance(account, dict) else None
        if isinstance(granted, list):
            absent = [s for s in required_scopes(config) if s not in granted]
            if absent:
                problems.append(f"the CRM One account lacks the scopes {', '.join(absent)}")
        for check in (self._check_schema, self._check_lists, self._check_order_types):
            try:
                problems += check(client, config)
            except (CrmOneError, KeyError, TypeError, ValueError) as error:
                problems.append(f"{check.__name__.removeprefix('_check_')}: {error}")
        return problems

    @staticmethod
    def _check_schema(client: CrmOneClient, config: DestinationConfig) -> list[str]:
        schema = ContactSchema.from_api(client.contact_schema())
        missing = unwritable_properties(config, schema)
        if not missing:
            return []
        return [
            "CRM One's contact schema lacks (or marks read-only) mapped properties: "
            + ", ".join(missing)
        ]

    @staticmethod
    def _check_lists(client: CrmOneClient, config: DestinationConfig) -> list[str]:
        wanted = configured_list_ids(config)
        if not wanted:
            return []
        known = {str(found.get("id")) for found in client.lists()}
        unknown = [list_id for list_id in wanted if list_id not in known]
        return (
            [f"store_routing names unknown CRM One lists: {', '.join(unknown)}"] if unknown else []
        )

    @staticmethod
    def _check_order_types(client: CrmOneClient, config: DestinationConfig) -> list[str]:
        problems = []
        wanted = list(ORDER_ACTIVITY_TYPES) if config.orders_as in ("activities", "both") else []
        wanted += CART_ACTIVITY_TYPES if config.carts_as == "activities" else ()
        if wanted:
            types = set(client.activity_types())
            absent = [name for name in wanted if name not in types]
            if absent:
                problems.append(f"CRM One lacks the activity types {', '.join(absent)}")
        if config.orders_as in ("objects", "both") and "orders" not in client.object_types():
            problems.append(f"CRM One has no 'orders' object type (orders_as={config.orders_as})")
        return problems

    # --- write ---------------------------------------------------------------------------

    def write(
        self,
        config: Mapping[str, Any],
        configured_catalog: ConfiguredAirbyteCatalog,
        input_messages: Iterable[AirbyteMessage],
    ) -> Iterable[AirbyteMessage]:
        parsed = self._parse(config)
        journal = self._with_queue_policy(self._open_journal(parsed), parsed)
        run_id = new_run_id()
        stats = RunStats(dry_run=parsed.dry_run)
        streams = [configured.stream.name for configured in configured_catalog.streams]
        journal.start_run(
            run_id, {"dry_run": parsed.dry_run, "base_url": parsed.base_url, "streams": streams}
        )

        def observe(call: CallRecord) -> None:
            journal.log_call(run_id, call)
            stats.observe_call(call)

        status = "failed"
        try:
            client = make_client(parsed, observe)
            ctx = self._context(parsed, client, journal, stats, run_id)
            sinks = SinkSet(ctx, streams, {**SINKS, **COMMERCE_SINKS})
            sinks.resend_queue()
            yield from relay(input_messages, sinks)
            sinks.resend_queue(woken_only=True)  # what waited for a contact written now
            if "carts" in streams:
                write_abandoned_carts(ctx)
            status = "succeeded"
        finally:
            for name, count in journal.queue_counts().items():
                stats.add_queue(f"{name}_total", count)
            summary = stats.as_dict()
            try:
                journal.end_run(run_id, status, summary)
                journal.prune(parsed.sync_log_retention_days)
            finally:
                journal.close()
        yield AirbyteMessage(
            type=Type.LOG,
            log=AirbyteLogMessage(level=Level.INFO, message=summary_text(summary, run_id)),
        )

    @staticmethod
    def _parse(config: Mapping[str, Any]) -> DestinationConfig:
        try:
            return DestinationConfig.parse_config(dict(config))
        except ConfigError as error:
            raise config_failure(str(error)) from None

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
        )


def relay(messages: Iterable[AirbyteMessage], sinks: SinkSet) -> Iterator[AirbyteMessage]:
    """Records into the sinks; each STATE once every record before it is written or queued.

    `destinationStats.recordCount` mirrors the CDK's `sourceStats`: for a per-stream state, the
    records of that stream since its previous state; for a global (or legacy) state, every
    record since the previous state.
    """
    per_stream: Counter[tuple[str, str | None]] = Counter()
    since_state = 0
    for message in messages:
        if message.type == Type.RECORD and message.record is not None:
            record = message.record
            sinks.add(record.stream, record.data)
            per_stream[(record.stream, record.namespace)] += 1
            since_state += 1
        elif message.type == Type.STATE and message.state is not None:
            sinks.drain()
            state = message.state
            descriptor = state.stream.stream_descriptor if state.stream else None
            if state.type == AirbyteStateType.STREAM and descriptor is not None:
                count = per_stream.pop((descriptor.name, descriptor.namespace), 0)
            else:
                count = since_state
                per_stream.clear()
            since_state = 0
            state.destinationStats = AirbyteStateStats(recordCount=float(count))
            yield message
    sinks.drain()
