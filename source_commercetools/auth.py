"""OAuth client credentials against the commercetools auth host (HTTP Basic, never the body)."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.streams.http.requests_native_auth import Oauth2Authenticator
from airbyte_cdk.utils.airbyte_secrets_utils import add_to_secrets
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_commercetools.config import SourceConfig


def basic_auth_header(client_id: str, client_secret: str) -> str:
    pair = f"{client_id}:{client_secret}".encode()
    return "Basic " + base64.b64encode(pair).decode()


def error_text(response: requests.Response | None) -> str:
    """commercetools' own words from an error body (API or auth host), else the raw text."""
    if response is None:
        return "no response"
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or response.reason or ""
    if isinstance(body, Mapping):
        for key in ("message", "error_description", "error"):
            if body.get(key):
                return str(body[key])
    return response.text[:300]


def token_problem(response: requests.Response, config: SourceConfig, scopes: list[str]) -> str:
    """A token endpoint refusal in the words a user can act on."""
    detail = error_text(response)
    if response.status_code == 401:
        return (
            f"commercetools rejected the client credentials at {config.auth_root}: check "
            f"client_id and client_secret ({detail})."
        )
    if response.status_code == 400 and "scope" in response.text:
        return (
            f"The API client may not request every scope asked for ({' '.join(scopes)}): "
            f"{detail}. Give the client these scopes, or set `scopes` to the ones it has."
        )
    return f"The token request failed with HTTP {response.status_code}: {detail}"


class CommercetoolsAuthenticator(Oauth2Authenticator):
    """One client-credentials token per run, shared by every stream.

    commercetools wants the client id and secret in the Basic header only; the body holds
    `grant_type` and `scope`. Tokens last 48 h, so a run asks once; a 401 on the API makes
    the CDK's HttpClient ask for one fresh token (REFRESH_TOKEN_THEN_RETRY).
    """

    def __init__(self, config: SourceConfig, scopes: list[str]) -> None:
        secret = config.client_secret.get_secret_value()
        self._config = config
        self._token_scopes = scopes
        super().__init__(
            token_refresh_endpoint=f"{config.auth_root}/oauth/token",
            client_id=config.client_id,
            client_secret=secret,
            refresh_token=None,  # type: ignore[arg-type]
            grant_type="client_credentials",
            refresh_request_body={"scope": " ".join(scopes)},
            refresh_request_headers={"Authorization": basic_auth_header(config.client_id, secret)},
        )

    @property
    def scopes(self) -> list[str]:
        return list(self._token_scopes)

    def build_refresh_request_body(self) -> Mapping[str, Any]:
        return {"grant_type": "client_credentials", "scope": " ".join(self._token_scopes)}

    def refresh_access_token(self) -> tuple[str, Any]:
        try:
            token, expiry = super().refresh_access_token()
        except requests.HTTPError as error:
            if error.response is None:
                raise
            raise AirbyteTracedException(
                message=token_problem(error.response, self._config, self._token_scopes),
                internal_message=f"token endpoint answered HTTP {error.response.status_code}",
                failure_type=FailureType.config_error,
            ) from None
        add_to_secrets(token)
        return token, expiry
