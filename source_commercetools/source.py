"""source-commercetools: spec, check, discover and the list of streams."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import requests
from airbyte_cdk.models import (
    AirbyteAnalyticsTraceMessage,
    AirbyteCatalog,
    AirbyteConnectionStatus,
    AirbyteMessage,
    AirbyteStateMessage,
    AirbyteTraceMessage,
    ConfiguredAirbyteCatalog,
    ConnectorSpecification,
    FailureType,
    Status,
    TraceType,
    Type,
)
from airbyte_cdk.sources import AbstractSource
from airbyte_cdk.sources.streams import Stream
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from connectors_common import secrets
from source_commercetools.auth import CommercetoolsAuthenticator
from source_commercetools.check import CheckFailed, ConnectionCheck
from source_commercetools.config import ConfigError, SourceConfig, spec_schema
from source_commercetools.custom_fields import custom_field_schemas
from source_commercetools.estimates import estimates, full_reads
from source_commercetools.project import lost_deletions, may_have_lost, read_messages_settings
from source_commercetools.snapshots import (
    RECONCILES,
    SNAPSHOTS,
    IdSnapshotStream,
    build_snapshots,
)
from source_commercetools.state import messages_read_until
from source_commercetools.streams import DECLARATIONS, STREAMS, CommercetoolsStream, build_streams

READABLE = {**DECLARATIONS, **{d.name: d for d in SNAPSHOTS}}  # every stream, by name

DOCUMENTATION_URL = (
    "https://github.com/crmone/airbyte-commercetools-crmone/blob/main/docs/source-commercetools.md"
)


def parse_config(config: Mapping[str, Any]) -> SourceConfig:
    try:
        return SourceConfig.parse(dict(config))
    except ConfigError as error:
        raise AirbyteTracedException(
            message=str(error), internal_message=str(error), failure_type=FailureType.config_error
        ) from None


class SourceCommercetools(AbstractSource):
    def __init__(self) -> None:
        super().__init__()
        self._selected_streams: list[str] | None = None  # set by read: the catalog's streams
        self._read_streams: list[Stream] | None = None  # built once per read
        self._reconcile_now: dict[str, str] = {}  # set by read: snapshot stream → why forced
        self._authenticator: CommercetoolsAuthenticator | None = None  # read's, shared

    def spec(self, logger: logging.Logger) -> ConnectorSpecification:
        return ConnectorSpecification(
            documentationUrl=DOCUMENTATION_URL,
            connectionSpecification=spec_schema(),
            supportsIncremental=True,
        )

    # --- check ---------------------------------------------------------------------

    def check(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteConnectionStatus:
        ok, message = self.check_connection(logger, config)
        return AirbyteConnectionStatus(
            status=Status.SUCCEEDED if ok else Status.FAILED, message=message
        )

    def check_connection(
        self, logger: logging.Logger, config: Mapping[str, Any]
    ) -> tuple[bool, str | None]:
        try:
            ConnectionCheck(SourceConfig.parse(dict(config)), logger).run()
        except (ConfigError, CheckFailed) as problem:
            return False, secrets.scrub(str(problem))
        except requests.RequestException as error:
            return False, secrets.scrub(
                f"Could not reach commercetools: {type(error).__name__}: {error}"
            )
        return True, None

    # --- streams, discover, read ---------------------------------------------------

    def streams(self, config: Mapping[str, Any]) -> list[Stream]:
        if self._read_streams is not None:
            return self._read_streams
        parsed = parse_config(config)
        # Default scopes: what the selected streams need (all of them outside `read`).
        selected = [READABLE[name] for name in self._selected_streams or [] if name in READABLE]
        authenticator = self._authenticator or CommercetoolsAuthenticator(
            parsed, selected or STREAMS
        )
        snapshots = build_snapshots(parsed, authenticator)
        for snapshot in snapshots:
            snapshot.forced_by = self._reconcile_now.get(snapshot.name)
        return [*build_streams(parsed, authenticator, self._selected_streams), *snapshots]

    def discover(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteCatalog:
        """Every stream, with `custom.fields` typed from ALL the project's Types (read from the
        very first, whatever start_date says), asking only for view_types."""
        parsed = parse_config(config)
        streams = {
            stream.name: stream
            for stream in [*build_streams(parsed, None), *build_snapshots(parsed, None)]
        }
        types_stream = CommercetoolsStream(
            DECLARATIONS["types"],
            parsed,
            CommercetoolsAuthenticator(parsed, [DECLARATIONS["types"]], logger),
        )
        try:
            typed = custom_field_schemas(types_stream.iter_records())
        except Exception as error:  # discover still works, with untyped custom fields
            logger.warning(
                "Could not read the project's Types to type custom fields (the API client "
                "needs view_types:%s): %s",
                parsed.project_key,
                error,
            )
            typed = {}
        for stream_name, fields in typed.items():
            streams[stream_name].set_custom_field_schema(fields)
        return AirbyteCatalog(streams=[stream.as_airbyte_stream() for stream in streams.values()])

    def read(
        self,
        logger: logging.Logger,
        config: Mapping[str, Any],
        catalog: ConfiguredAirbyteCatalog,
        state: list[AirbyteStateMessage] | None = None,
    ) -> Iterator[AirbyteMessage]:
        """The token first: a refusal (bad credentials, scopes) or an unreachable token endpoint
        ends the sync once, with one token request, instead of failing every stream."""
        self._selected_streams = [configured.stream.name for configured in catalog.streams]
        try:
            parsed = parse_config(config)
            selected = [READABLE[name] for name in self._selected_streams if name in READABLE]
            self._authenticator = CommercetoolsAuthenticator(parsed, selected or STREAMS, logger)
            self._authenticator.get_access_token()
            yield from self.watch_deletions(logger, parsed, state)  # before the streams exist
            self._read_streams = self.streams(config)
            streams = {
                stream.name: stream
                for stream in self._read_streams
                if not isinstance(stream, IdSnapshotStream)  # a snapshot costs no REST query
            }
            yield from estimates(streams, full_reads(catalog, state), logger, parsed.concurrency)
            yield from super().read(logger, config, catalog, state)
        finally:
            self._selected_streams = self._read_streams = None
            self._reconcile_now = {}
            self._authenticator = None

    def watch_deletions(
        self,
        logger: logging.Logger,
        config: SourceConfig,
        state: list[AirbyteStateMessage] | None,
    ) -> Iterator[AirbyteMessage]:
        """Before reading: may deletions announced by Messages have been lost since the last
        sync (Messages disabled, or expired unread)? Then say so (a log line and an ANALYTICS
        trace) and, by default, reconcile ids in this run."""
        selected = set(self._selected_streams or [])
        position, now = messages_read_until(state), datetime.now(UTC)
        if not selected & {"messages", *RECONCILES.values()} or not may_have_lost(position, now):
            return
        settings = read_messages_settings(config, logger)
        reason = lost_deletions(settings, position, now)
        if reason is None:
            return
        snapshots = [name for name in RECONCILES.values() if name in selected]
        if config.reconcile_on_lost_messages and snapshots:
            self._reconcile_now = {name: reason for name in snapshots}
            consequence = f"reconciling ids in this run: {', '.join(snapshots)}"
        elif snapshots:
            consequence = (
                f"{', '.join(snapshots)} will find them at their next interval "
                "(reconcile_on_lost_messages is off)"
            )
        else:
            consequence = (
                "select the customer_ids and order_ids streams to find them (id reconciliation)"
            )
        message = f"Deletions may have been lost: {reason}; {consequence}."
        logger.warning(message)
        yield AirbyteMessage(
            type=Type.TRACE,
            trace=AirbyteTraceMessage(
                type=TraceType.ANALYTICS,
                emitted_at=time.time() * 1000,
                analytics=AirbyteAnalyticsTraceMessage(type="deletions_may_be_lost", value=message),
            ),
        )
