"""destination-crmone: spec, check and write."""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from airbyte_cdk.destinations import Destination
from airbyte_cdk.models import (
    AirbyteConnectionStatus,
    AirbyteLogMessage,
    AirbyteMessage,
    AirbyteStateStats,
    ConfiguredAirbyteCatalog,
    ConnectorSpecification,
    DestinationSyncMode,
    Level,
    Status,
    Type,
)

from destination_crmone.client import CrmOneClient, CrmOneError
from destination_crmone.config import ConfigError, DestinationConfig, spec_schema
from destination_crmone.journal import Journal, JournalError, open_journal
from destination_crmone.mapping import configured_list_ids, unwritable_properties
from destination_crmone.sinks import Sink, WriteContext, drain_in_order, make_sink, record_version
from destination_crmone.stats import RunStats, summary_text
from destination_crmone.validate import ContactSchema

ORDER_ACTIVITY_TYPES = ("order_placed", "order_cancelled")
# Tests and drills shorten the back-off; production keeps the default.
BACKOFF_ENV = "CRMONE_BACKOFF_BASE"


def make_client(config: DestinationConfig, journal: Journal | None, run_id: str) -> CrmOneClient:
    observer = (lambda call: journal.log_call(run_id, call)) if journal else None
    return CrmOneClient(
        config.base_url,
        config.client_id,
        config.client_secret.get_secret_value(),
        max_concurrency=config.concurrency,
        call_observer=observer,
        backoff_base=float(os.environ.get(BACKOFF_ENV, "1.0")),
    )


def journal_spec(config: DestinationConfig) -> dict[str, Any]:
    spec = config.journal.model_dump()
    if "dsn" in spec:
        spec["dsn"] = config.journal.dsn.get_secret_value()  # type: ignore[union-attr]
    return spec


class DestinationCrmOne(Destination):
    def spec(self, logger: logging.Logger) -> ConnectorSpecification:
        return ConnectorSpecification(
            documentationUrl="https://github.com/crmone/airbyte-commercetools-crmone/blob/main/docs/destination-crmone.md",
            connectionSpecification=spec_schema(),
            supported_destination_sync_modes=[
                DestinationSyncMode.append,
                DestinationSyncMode.append_dedup,
                DestinationSyncMode.overwrite,
            ],
        )

    # --- check ---------------------------------------------------------------------

    def check(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteConnectionStatus:
        try:
            parsed = DestinationConfig.parse_config(dict(config))
        except ConfigError as error:
            return AirbyteConnectionStatus(status=Status.FAILED, message=str(error))
        problems = self.problems(parsed)
        if problems:
            return AirbyteConnectionStatus(status=Status.FAILED, message="; ".join(problems))
        return AirbyteConnectionStatus(status=Status.SUCCEEDED)

    def problems(self, config: DestinationConfig) -> list[str]:
        problems: list[str] = []
        try:
            open_journal(journal_spec(config), redact_pii=config.redact_pii).close()
        except JournalError as error:
            problems.append(str(error))
        client = make_client(config, None, "check")
        try:
            client.account()
            schema = ContactSchema.from_api(client.contact_schema())
            missing = unwritable_properties(config, schema)
            if missing:
                problems.append(
                    "CRM One's contact schema lacks (or marks read-only) mapped "
                    f"properties: {', '.join(missing)}"
                )
            list_ids = {lst["id"] for lst in client.lists()}
            unknown_lists = [i for i in configured_list_ids(config) if i not in list_ids]
            if unknown_lists:
                problems.append(f"store_routing names unknown lists: {', '.join(unknown_lists)}")
            if config.orders_as in ("activities", "both"):
                types = set(client.activity_types())
                absent = [t for t in ORDER_ACTIVITY_TYPES if t not in types]
                if absent:
                    problems.append(f"CRM One lacks activity types: {', '.join(absent)}")
            if config.orders_as in ("objects", "both") and "orders" not in client.object_types():
                problems.append("CRM One has no 'orders' object type (orders_as=objects)")
        except CrmOneError as error:
            problems.append(f"base_url/client_id/client_secret: {error}")
        return problems

    # --- write ---------------------------------------------------------------------

    def write(
        self,
        config: Mapping[str, Any],
        configured_catalog: ConfiguredAirbyteCatalog,
        input_messages: Iterable[AirbyteMessage],
    ) -> Iterable[AirbyteMessage]:
        parsed = DestinationConfig.parse_config(dict(config))
        run_id = f"run_{time.strftime('%Y%m%dT%H%M%S')}_{uuid.uuid4().hex[:8]}"
        journal = open_journal(journal_spec(parsed), redact_pii=parsed.redact_pii)
        journal.start_run(run_id, {"dry_run": parsed.dry_run, "base_url": parsed.base_url})
        started = time.monotonic()
        client = make_client(parsed, journal, run_id)
        stats = RunStats()
        status = "failed"
        try:
            account = client.account()
            limits = account.get("limits", {})
            client.limit_concurrency(min(parsed.concurrency, int(limits.get("max_concurrency", 8))))
            ctx = WriteContext(
                config=parsed,
                client=client,
                journal=journal,
                stats=stats,
                run_id=run_id,
                schema=ContactSchema.from_api(client.contact_schema()),
                batch_size=min(parsed.batch_size, int(limits.get("batch_max", 100))),
                dry_run=parsed.dry_run,
            )
            streams = [s.stream.name for s in configured_catalog.streams]
            sinks: dict[str, Sink] = {name: make_sink(name, ctx) for name in streams}
            self._resend_queue(journal, sinks)
            yield from self._consume(input_messages, sinks, journal, stats)
            status = "succeeded"
        finally:
            summary = stats.as_dict(
                requests=client.requests_made,
                retries=client.retries,
                duration_seconds=time.monotonic() - started,
            )
            journal.end_run(run_id, status, summary)
            journal.prune(parsed.sync_log_retention_days)
            journal.close()
        yield AirbyteMessage(
            type=Type.LOG,
            log=AirbyteLogMessage(level=Level.INFO, message=f"{run_id}\n{summary_text(summary)}"),
        )

    @staticmethod
    def _resend_queue(journal: Journal, sinks: dict[str, Sink]) -> None:
        """Queued records go first, through the same sinks."""
        for name, sink in sinks.items():
            for item in journal.pending(name):
                sink.add(item.payload, queue_id=item.id)
                if sink.full:
                    drain_in_order(sinks)
        drain_in_order(sinks)

    @staticmethod
    def _consume(
        messages: Iterable[AirbyteMessage],
        sinks: dict[str, Sink],
        journal: Journal,
        stats: RunStats,
    ) -> Iterable[AirbyteMessage]:
        queued = {name: journal.pending_keys(name) for name in sinks}
        since_state = 0
        for message in messages:
            if message.type == Type.RECORD and message.record is not None:
                name, data = message.record.stream, message.record.data
                sink = sinks.get(name)
                if sink is None:
                    stats.add(name, "not_in_catalog")
                    continue
                key = str(data.get("id"))
                if key in queued[name]:  # a newer version supersedes the queued one
                    stats.add(name, "superseded_in_queue",
                              journal.supersede_older(name, key, record_version(data)))
                sink.add(data)
                since_state += 1
                if sink.full:
                    drain_in_order(sinks)
            elif message.type == Type.STATE and message.state is not None:
                drain_in_order(sinks)  # everything before this state is written or queued
                message.state.destinationStats = AirbyteStateStats(recordCount=float(since_state))
                since_state = 0
                yield message
        drain_in_order(sinks)
