"""`check`: a token and one cheap call per stream, with failures in a user's words."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import requests

from source_commercetools.auth import basic_auth_header, error_text, token_problem
from source_commercetools.config import STREAM_SCOPES, SourceConfig
from source_commercetools.streams import STREAM_CLASSES

TIMEOUT = 30


class CheckFailed(Exception):
    """A check problem, worded for the user."""


class ConnectionCheck:
    def __init__(self, config: SourceConfig, logger: logging.Logger) -> None:
        self.config = config
        self.logger = logger
        self.session = requests.Session()

    def run(self) -> None:
        """Raise CheckFailed with what is wrong; log warnings for what merely limits the sync."""
        scopes = self.config.requested_scopes()
        token = self.token(scopes)
        for stream in self.readable_streams(scopes):
            for path in self.paths(stream):
                self.probe(token, stream, path)
        self.warn_if_messages_disabled()

    # --- token ---------------------------------------------------------------------

    def request_token(self, scopes: list[str] | None) -> requests.Response:
        secret = self.config.client_secret.get_secret_value()
        data = {"grant_type": "client_credentials"}
        if scopes:
            data["scope"] = " ".join(scopes)
        return self.session.post(
            f"{self.config.auth_root}/oauth/token",
            data=data,
            headers={"Authorization": basic_auth_header(self.config.client_id, secret)},
            timeout=TIMEOUT,
        )

    def token(self, scopes: list[str]) -> str:
        response = self.request_token(scopes)
        if response.ok:
            return str(response.json()["access_token"])
        if response.status_code == 400 and "scope" in response.text:
            problem = self.scope_problem(scopes) or token_problem(response, self.config, scopes)
            raise CheckFailed(problem)
        raise CheckFailed(token_problem(response, self.config, scopes))

    def scope_problem(self, asked: list[str]) -> str | None:
        """Which asked-for scopes the client lacks, learned from a token without `scope`
        (it lists what the client holds; the token itself is not used)."""
        response = self.request_token(None)
        if not response.ok:
            return None
        held = set(str(response.json().get("scope", "")).split())
        pk = self.config.project_key
        if not any(scope.split(":")[1:2] == [pk] for scope in held):
            projects = sorted({scope.split(":")[1] for scope in held if ":" in scope})
            return (
                f"Project '{pk}' is unknown to this API client (its scopes are for "
                f"{', '.join(projects) or 'no project'}): check project_key."
            )
        missing = [scope for scope in asked if scope not in held]
        if not missing:
            return None
        return (
            f"The API client lacks the scope(s) {', '.join(missing)}. Add them to the client "
            "(Merchant Center > Settings > Developer settings), or set `scopes` to what it has."
        )

    # --- probes --------------------------------------------------------------------

    def readable_streams(self, scopes: list[str]) -> list[str]:
        """Every stream when the scopes are ours; with the user's own scopes, the streams they
        cover (the others are named in a warning: they will fail if selected)."""
        if not self.config.scopes:
            return list(STREAM_CLASSES)
        kinds = {scope.split(":")[0] for scope in scopes}
        covered = [name for name, kind in STREAM_SCOPES.items() if kind in kinds]
        uncovered = [name for name in STREAM_CLASSES if name not in covered]
        if uncovered:
            self.logger.warning(
                "The configured scopes do not cover these streams; do not select them: %s",
                ", ".join(uncovered),
            )
        return covered

    def paths(self, stream: str) -> list[str]:
        cls = STREAM_CLASSES[stream]
        if cls.store_scoped and self.config.store_keys:
            return [f"in-store/key={store}/{cls.resource}" for store in self.config.store_keys]
        return [cls.resource]

    def probe(self, token: str, stream: str, path: str) -> None:
        pk = self.config.project_key
        response = self.session.get(
            f"{self.config.api_root}/{pk}/{path}",
            params={"limit": 1, "withTotal": "false"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=TIMEOUT,
        )
        if response.ok:
            return
        detail = error_text(response)
        if response.status_code == 404:
            where = f"store '{path.split('=')[1].split('/')[0]}' of " if "in-store" in path else ""
            raise CheckFailed(
                f"Not found: {where}project '{pk}' at {self.config.api_root} ({detail}). "
                "Check project_key, store_keys and region or api_url."
            )
        if response.status_code == 403:
            raise CheckFailed(
                f"The API client is missing scope {STREAM_SCOPES[stream]}:{pk} for stream "
                f"'{stream}' ({detail})."
            )
        raise CheckFailed(
            f"Reading stream '{stream}' failed with HTTP {response.status_code}: {detail}"
        )

    # --- messages --------------------------------------------------------------------

    def warn_if_messages_disabled(self) -> None:
        """Messages off is a warning: the other streams work, deletions will not arrive.
        Reading the setting needs view_project_settings, asked for here only."""
        pk = self.config.project_key
        response = self.request_token([f"view_project_settings:{pk}"])
        if not response.ok:
            self.logger.info(
                "Could not verify that messages are enabled (the client lacks "
                "view_project_settings:%s); deletions arrive only if they are.",
                pk,
            )
            return
        project = self.session.get(
            f"{self.config.api_root}/{pk}",
            headers={"Authorization": f"Bearer {response.json()['access_token']}"},
            timeout=TIMEOUT,
        )
        settings: Mapping[str, Any] = project.json().get("messages", {}) if project.ok else {}
        if project.ok and not settings.get("enabled", False):
            self.logger.warning(
                "Messages are disabled in project '%s': the messages stream (deletions, state "
                "changes) will stay empty. Enable them in Settings > Project settings > Messages.",
                pk,
            )
