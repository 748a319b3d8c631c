"""`check`: a token and one cheap call per readable stream, through the same authenticator
and request path as `read`, with every failure in a user's words."""

from __future__ import annotations

import logging

from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from connectors_common.urls import check_resolved_host
from source_commercetools.auth import CommercetoolsAuthenticator
from source_commercetools.config import SourceConfig
from source_commercetools.project import read_messages_settings
from source_commercetools.scopes import over_privileged
from source_commercetools.streams import STREAMS, CommercetoolsStream, build_streams

PROBE = {"limit": 1, "withTotal": "false"}


class CheckFailed(Exception):
    """A check problem, worded for the user."""


class ConnectionCheck:
    def __init__(self, config: SourceConfig, logger: logging.Logger) -> None:
        self.config = config
        self.logger = logger
        self.authenticator = CommercetoolsAuthenticator(config, STREAMS, logger)
        self.streams = build_streams(config, self.authenticator)

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
        settings = read_messages_settings(self.config, self.logger)
        if settings is not None and not settings.enabled:
            self.logger.warning(
                "Messages are disabled in project '%s': the messages stream (deletions, state "
                "changes) will stay empty. Enable them in Settings > Project settings > Messages.",
                self.config.project_key,
            )
