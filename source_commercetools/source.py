"""source-commercetools: spec, check, discover and the list of streams."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

import requests
from airbyte_cdk.models import (
    AirbyteCatalog,
    AirbyteConnectionStatus,
    AirbyteMessage,
    AirbyteStateMessage,
    ConfiguredAirbyteCatalog,
    ConnectorSpecification,
    FailureType,
    Status,
)
from airbyte_cdk.sources import AbstractSource
from airbyte_cdk.sources.streams import Stream
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from connectors_common import secrets
from source_commercetools.auth import CommercetoolsAuthenticator
from source_commercetools.check import CheckFailed, ConnectionCheck
from source_commercetools.config import ConfigError, SourceConfig, spec_schema
from source_commercetools.custom_fields import custom_field_schemas
from source_commercetools.streams import DECLARATIONS, STREAMS, CommercetoolsStream, build_streams

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
        parsed = parse_config(config)
        # Default scopes: what the selected streams need (all of them outside `read`).
        selected = [
            DECLARATIONS[name] for name in self._selected_streams or [] if name in DECLARATIONS
        ]
        authenticator = self._authenticator or CommercetoolsAuthenticator(
            parsed, selected or STREAMS
        )
        return list(build_streams(parsed, authenticator))

    def discover(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteCatalog:
        """Every stream, with `custom.fields` typed from ALL the project's Types (read from the
        very first, whatever start_date says), asking only for view_types."""
        parsed = parse_config(config)
        streams = {stream.name: stream for stream in build_streams(parsed, None)}
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
        parsed = parse_config(config)
        selected = [DECLARATIONS[name] for name in self._selected_streams if name in DECLARATIONS]
        self._authenticator = CommercetoolsAuthenticator(parsed, selected or STREAMS, logger)
        try:
            self._authenticator.get_access_token()
            yield from super().read(logger, config, catalog, state)
        finally:
            self._selected_streams = None
            self._authenticator = None
