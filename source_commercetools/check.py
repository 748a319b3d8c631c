"""`check`: a token and one cheap call per readable stream, through the same authenticator
and request path as `read`, with every failure in a user's words."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import orjson
import requests
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from connectors_common import secrets
from connectors_common.urls import check_resolved_host
from source_commercetools.auth import CommercetoolsAuthenticator, basic_auth_header, post_token
from source_commercetools.bounds import (
    CORRELATION,
    CORRELATION_HEADER,
    BodyTooLarge,
    RequestBounds,
    bounded_session,
    read_capped,
)
from source_commercetools.config import SourceConfig
from source_commercetools.scopes import over_privileged
from source_commercetools.streams import STREAMS, CommercetoolsStream, build_streams

PROBE = {"limit": 1, "withTotal": "false"}
PROJECT_BODY_BYTES = 1 << 20  # the project's settings are a few KiB


class CheckFailed(Exception):
    """A check problem, worded for the user."""


class ConnectionCheck:
    def __init__(self, config: SourceConfig, logger: logging.Logger) -> None:
        self.config = config
        self.logger = logger
        self.authenticator = CommercetoolsAuthenticator(config, STREAMS, logger)
        self.streams = build_streams(config, self.authenticator)
        self.bounds = RequestBounds.of(config)

    def run(self) -> None:
        """Raise CheckFailed with what is wrong; log warnings for what merely limits the sync."""
        for field in ("api_url", "auth_url"):  # where a host name points now (DNS)
            url = getattr(self.config, field)
            if url and (problem := check_resolved_host(url, self.config.allow_private_network)):
                raise CheckFailed(f"{field}: its host {problem}")
        try:
            self.authenticator.get_access_token()
            for stream in self.readable_streams():
                for store in stream.stores or [None]:
                    stream.fetch(store, dict(PROBE))
        except AirbyteTracedException as error:
            raise CheckFailed(error.message or str(error)) from None
        self.warn_if_over_privileged()
        self.warn_if_messages_disabled()

    def readable_streams(self) -> list[CommercetoolsStream]:
        """The streams the granted scopes cover; the others are named in a warning (they will
        fail if selected). None at all is a failure."""
        plan = self.authenticator.plan
        unreadable = dict(plan.unreadable) if plan else {}
        if self.config.scopes:
            kinds = {scope.split(":")[0] for scope in self.config.scopes}
            for stream in self.streams:
                if stream.declaration.scope not in kinds:
                    unreadable[stream.name] = (
                        f"{stream.declaration.scope}:{self.config.project_key}"
                    )
            if unreadable:
                self.logger.warning(
                    "The configured scopes do not cover these streams; do not select them, or "
                    "add the scope to `scopes` and to the API client: %s",
                    "; ".join(f"{name} needs {scope}" for name, scope in unreadable.items()),
                )
        readable = [stream for stream in self.streams if stream.name not in unreadable]
        if not readable:
            raise CheckFailed(
                "The API client can read none of the streams: "
                + "; ".join(f"{name} needs {scope}" for name, scope in unreadable.items())
                + ". Give it the view_* scopes (Merchant Center > Settings > Developer settings "
                "> API clients)."
            )
        return readable

    # --- messages --------------------------------------------------------------------

    def warn_if_over_privileged(self) -> None:
        """A client that may change data is worth a warning even when the token asked for is
        read-only (negotiated plans have warned already)."""
        plan = self.authenticator.plan
        if plan is not None and plan.warnings:
            return
        held = self.authenticator.held_scopes()
        warning = over_privileged(held or ())
        if warning:
            self.logger.warning(warning)

    def warn_if_messages_disabled(self) -> None:
        """Messages off is a warning: the other streams work, deletions will not arrive.
        Reading the setting needs view_project_settings, asked for here only."""
        pk = self.config.project_key
        secret = self.config.client_secret.get_secret_value()
        try:
            response = post_token(
                f"{self.config.auth_root}/oauth/token",
                {"grant_type": "client_credentials", "scope": f"view_project_settings:{pk}"},
                {"Authorization": basic_auth_header(self.config.client_id, secret)},
                self.bounds,
            )
            token = response.json().get("access_token") if response.ok else None
        except (requests.RequestException, ValueError, AirbyteTracedException):
            token = None
        if not token:
            self.logger.info(
                "Could not verify that messages are enabled (the client lacks "
                "view_project_settings:%s); deletions arrive only if they are.",
                pk,
            )
            return
        secrets.remember(str(token))
        settings = self.project_settings(str(token)).get("messages", {})
        if isinstance(settings, Mapping) and settings.get("enabled") is False:
            self.logger.warning(
                "Messages are disabled in project '%s': the messages stream (deletions, state "
                "changes) will stay empty. Enable them in Settings > Project settings > Messages.",
                pk,
            )

    def project_settings(self, token: str) -> Mapping[str, Any]:
        """`GET /{pk}` within the request bounds; {} when it cannot be read."""
        started = time.monotonic()
        try:
            with bounded_session(self.bounds) as session:
                project = session.get(
                    f"{self.config.api_root}/{self.config.project_key}",
                    headers={
                        "Authorization": f"Bearer {token}",
                        CORRELATION_HEADER: CORRELATION.next_id(),
                    },
                    timeout=self.bounds.timeout,
                    allow_redirects=False,
                    stream=True,
                )
                if not project.ok:
                    project.close()
                    return {}
                body = orjson.loads(
                    read_capped(project, PROJECT_BODY_BYTES, self.bounds.deadline_seconds, started)
                )
        except (requests.RequestException, BodyTooLarge, orjson.JSONDecodeError):
            return {}
        return body if isinstance(body, Mapping) else {}
