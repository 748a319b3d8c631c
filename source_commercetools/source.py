"""source-commercetools: spec, check, discover and the list of streams."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import requests
from airbyte_cdk.models import (
    AirbyteCatalog,
    ConnectorSpecification,
)
from airbyte_cdk.sources import AbstractSource
from airbyte_cdk.sources.streams import Stream

from source_commercetools.auth import CommercetoolsAuthenticator, basic_auth_header
from source_commercetools.config import ConfigError, SourceConfig, spec_schema
from source_commercetools.streams import STREAM_CLASSES, KeySetStream, commercetools_error_message

# commercetools FieldType name → JSON schema of a custom field value.
FIELD_TYPES: dict[str, dict[str, Any]] = {
    "Boolean": {"type": ["null", "boolean"]},
    "String": {"type": ["null", "string"]},
    "Number": {"type": ["null", "number"]},
    "Enum": {"type": ["null", "string"]},
    "Date": {"type": ["null", "string"], "format": "date"},
    "Time": {"type": ["null", "string"]},
    "DateTime": {"type": ["null", "string"], "format": "date-time"},
}
RESOURCE_STREAMS = {"customer": "customers", "order": "orders"}
TIMEOUT = 30


def field_schema(field_type: Mapping[str, Any]) -> dict[str, Any]:
    name = field_type.get("name")
    if name == "Set":
        return {"type": ["null", "array"], "items": field_schema(field_type.get("elementType", {}))}
    return dict(FIELD_TYPES.get(str(name), {"type": ["null", "object", "string", "number"]}))


class CheckFailed(Exception):
    """A check problem, worded for the user."""


class SourceCommercetools(AbstractSource):
    def spec(self, logger: logging.Logger) -> ConnectorSpecification:
        return ConnectorSpecification(
            documentationUrl="https://github.com/crmone/airbyte-commercetools-crmone/blob/main/docs/source-commercetools.md",
            connectionSpecification=spec_schema(),
            supportsIncremental=True,
        )

    # --- check ---------------------------------------------------------------------

    def check_connection(
        self, logger: logging.Logger, config: Mapping[str, Any]
    ) -> tuple[bool, Any]:
        try:
            parsed = SourceConfig.parse(dict(config))
            token = self._token(parsed)
            self._probe(parsed, token, "customers", "customers")
            self._warn_if_messages_disabled(parsed, token, logger)
        except (ConfigError, CheckFailed) as problem:
            return False, str(problem)
        except requests.RequestException as error:
            return False, f"Could not reach commercetools: {type(error).__name__}: {error}"
        return True, None

    def _token(self, config: SourceConfig) -> str:
        secret = config.client_secret.get_secret_value()
        response = requests.post(
            f"{config.auth_root}/oauth/token",
            data={"grant_type": "client_credentials", "scope": " ".join(config.requested_scopes())},
            headers={"Authorization": basic_auth_header(config.client_id, secret)},
            timeout=TIMEOUT,
        )
        if response.status_code == 401:
            raise CheckFailed(
                "commercetools rejected the credentials: check client_id and client_secret."
            )
        if response.status_code == 400 and "scope" in response.text:
            raise CheckFailed(
                "The API client does not have every requested scope "
                f"({', '.join(config.requested_scopes())}): "
                f"{commercetools_error_message(response)}. Give the client these view_* scopes, "
                "or set `scopes` to the ones it has."
            )
        if not response.ok:
            raise CheckFailed(
                f"Token request failed: HTTP {response.status_code}: "
                f"{commercetools_error_message(response)}"
            )
        return str(response.json()["access_token"])

    def _probe(self, config: SourceConfig, token: str, resource: str, stream: str) -> None:
        response = requests.get(
            f"{config.api_root}/{config.project_key}/{resource}",
            params={"limit": 1, "withTotal": "false"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=TIMEOUT,
        )
        if response.status_code == 404:
            raise CheckFailed(
                f"Project '{config.project_key}' was not found: check project_key "
                "(and region or api_url)."
            )
        if response.status_code == 403:
            raise CheckFailed(
                f"Missing scope for stream '{stream}': {commercetools_error_message(response)}"
            )
        if not response.ok:
            raise CheckFailed(
                f"Reading {stream} failed: HTTP {response.status_code}: "
                f"{commercetools_error_message(response)}"
            )

    def _warn_if_messages_disabled(
        self, config: SourceConfig, token: str, logger: logging.Logger
    ) -> None:
        response = requests.get(
            f"{config.api_root}/{config.project_key}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=TIMEOUT,
        )
        if response.ok and not response.json().get("messages", {}).get("enabled", False):
            logger.warning(
                "Messages are disabled in project '%s': the messages stream (deletions, state "
                "changes) will be empty. Enable them in Project settings > Change history.",
                config.project_key,
            )

    # --- streams and discover ------------------------------------------------------

    def streams(self, config: Mapping[str, Any]) -> list[Stream]:
        parsed = SourceConfig.parse(dict(config))
        authenticator = CommercetoolsAuthenticator(parsed)
        return [cls(parsed, authenticator) for cls in STREAM_CLASSES.values()]

    def discover(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteCatalog:
        streams = self.streams(config)
        by_name = {stream.name: stream for stream in streams}
        try:
            typed = self._custom_field_schemas(by_name["types"])  # type: ignore[arg-type]
        except Exception as error:
            logger.warning("Could not read Types to type custom fields: %s", error)
            typed = {}
        for stream_name, fields in typed.items():
            stream = by_name[stream_name]
            assert isinstance(stream, KeySetStream)
            stream.custom_field_schema = fields
        return AirbyteCatalog(streams=[stream.as_airbyte_stream() for stream in streams])

    @staticmethod
    def _custom_field_schemas(types_stream: KeySetStream) -> dict[str, dict[str, Any]]:
        from airbyte_cdk.models import SyncMode

        schemas: dict[str, dict[str, Any]] = {}
        for slice_ in types_stream.stream_slices():
            for type_ in types_stream.read_records(SyncMode.full_refresh, stream_slice=slice_):
                for resource in type_.get("resourceTypeIds", []):
                    stream_name = RESOURCE_STREAMS.get(resource)
                    if not stream_name:
                        continue
                    fields = schemas.setdefault(stream_name, {})
                    for definition in type_.get("fieldDefinitions", []):
                        fields[definition["name"]] = field_schema(definition.get("type", {}))
        return schemas
