"""The project's Messages settings, and what they mean for deletions.

commercetools keeps Messages `messages.deleteDaysAfterCreation` days (1 to 90, default 15; "not
guaranteed to be accessible" afterwards) and only while `messages.enabled`. Reading the
settings (`GET /{projectKey}`) needs `view_project_settings:{projectKey}`, asked for in a
token of its own so that the streams' token never carries it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
import requests
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from connectors_common import secrets
from source_commercetools.auth import basic_auth_header, post_token
from source_commercetools.bounds import (
    CORRELATION,
    CORRELATION_HEADER,
    BodyTooLarge,
    RequestBounds,
    bounded_session,
    read_capped,
)
from source_commercetools.config import SourceConfig, format_datetime

PROJECT_BODY_BYTES = 1 << 20  # the project's settings are a few KiB
MIN_RETENTION_DAYS = 1  # deleteDaysAfterCreation is 1 to 90


@dataclass(frozen=True)
class MessagesSettings:
    enabled: bool
    retention_days: int | None  # None: not said (commercetools' default is 15)


def read_messages_settings(config: SourceConfig, logger: logging.Logger) -> MessagesSettings | None:
    """The project's Messages settings; None (with one line naming the scope) when the client
    may not read them or the project does not answer. Both requests keep the request bounds
    (timeouts, deadline, body cap, correlation id) and refuse redirects."""
    pk = config.project_key
    bounds = RequestBounds.of(config)
    secret = config.client_secret.get_secret_value()
    try:
        response = post_token(
            f"{config.auth_root}/oauth/token",
            {"grant_type": "client_credentials", "scope": f"view_project_settings:{pk}"},
            {"Authorization": basic_auth_header(config.client_id, secret)},
            bounds,
        )
        token = response.json().get("access_token") if response.ok else None
    except (requests.RequestException, ValueError, AirbyteTracedException) as error:
        logger.warning("Could not read the project's Messages settings: %s", type(error).__name__)
        return None
    if not token:
        logger.warning(
            "Could not read the project's Messages settings: the API client lacks "
            "view_project_settings:%s. Deletions arrive only while Messages are enabled and "
            "kept; without that scope the source cannot tell when some were lost.",
            pk,
        )
        return None
    secrets.remember(str(token))
    project = project_settings(config, str(token), bounds)
    if project is None:
        logger.warning("Could not read the project's Messages settings: GET /%s failed", pk)
        return None
    settings = project.get("messages") or {}
    if not isinstance(settings, Mapping):
        return None
    days = settings.get("deleteDaysAfterCreation")
    return MessagesSettings(
        enabled=bool(settings.get("enabled", False)),
        retention_days=days if type(days) is int and days > 0 else None,
    )


def project_settings(
    config: SourceConfig, token: str, bounds: RequestBounds
) -> Mapping[str, Any] | None:
    """`GET /{pk}` within the request bounds; None when it cannot be read."""
    started = time.monotonic()
    try:
        with bounded_session(bounds) as session:
            project = session.get(
                f"{config.api_root}/{config.project_key}",
                headers={
                    "Authorization": f"Bearer {token}",
                    CORRELATION_HEADER: CORRELATION.next_id(),
                },
                timeout=bounds.timeout,
                allow_redirects=False,
                stream=True,
            )
            if not project.ok:
                project.close()
                return None
            body = orjson.loads(
                read_capped(project, PROJECT_BODY_BYTES, bounds.deadline_seconds, started)
            )
    except (requests.RequestException, BodyTooLarge, orjson.JSONDecodeError):
        return None
    return body if isinstance(body, Mapping) else None


def may_have_lost(messages_position: str | None, now: datetime) -> bool:
    """Whether the settings are worth two requests: Messages are kept at least a day, so a
    position younger than that lost nothing whatever the retention (and an idle sync running
    more often than daily costs nothing more); Messages disabled show as a position that
    stops moving, or none."""
    return messages_position is None or messages_position < format_datetime(
        now - timedelta(days=MIN_RETENTION_DAYS)
    )


def lost_deletions(
    settings: MessagesSettings | None, messages_position: str | None, now: datetime
) -> str | None:
    """Why deletions announced by Messages may have been lost since the last run (None: they
    were not). Messages disabled; or the saved messages position older than the retention,
    so that Messages written after it may have expired before this run."""
    if settings is None:
        return None
    if not settings.enabled:
        return "Messages are disabled in the project, so no deletion is announced"
    if messages_position is None or settings.retention_days is None:
        return None
    horizon = format_datetime(now - timedelta(days=settings.retention_days))
    if messages_position < horizon:
        return (
            f"the last sync read Messages until {messages_position}, but the project keeps "
            f"them {settings.retention_days} days (until {horizon} is gone): deletions made "
            "in between may have expired unread"
        )
    return None
