"""OAuth client credentials against the commercetools auth host (HTTP Basic, never the body)."""

from __future__ import annotations

import base64

from airbyte_cdk.sources.streams.http.requests_native_auth import Oauth2Authenticator

from source_commercetools.config import SourceConfig


def basic_auth_header(client_id: str, client_secret: str) -> str:
    pair = f"{client_id}:{client_secret}".encode()
    return "Basic " + base64.b64encode(pair).decode()


class CommercetoolsAuthenticator(Oauth2Authenticator):
    """One token per run, shared by every stream; refreshed before it expires (48 h)."""

    def __init__(self, config: SourceConfig) -> None:
        secret = config.client_secret.get_secret_value()
        super().__init__(
            token_refresh_endpoint=f"{config.auth_root}/oauth/token",
            client_id=config.client_id,
            client_secret=secret,
            refresh_token=None,  # type: ignore[arg-type]
            grant_type="client_credentials",
            refresh_request_body={"scope": " ".join(config.requested_scopes())},
            refresh_request_headers={"Authorization": basic_auth_header(config.client_id, secret)},
        )

    def build_refresh_request_body(self):  # type: ignore[override]
        # Credentials travel in the Basic header only: commercetools wants them there.
        return {"grant_type": "client_credentials", **self.get_refresh_request_body()}
