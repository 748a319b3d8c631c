"""OAuth 2.0 client credentials as commercetools does them, and scope checks per endpoint.

`POST /oauth/token?grant_type=client_credentials&scope=…` (grant type and scope also read
from a form body) with the client id and secret in HTTP Basic auth only. No scope asked:
every scope of the client. A scope the client lacks: 400 invalid_scope.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import threading
import time
from dataclasses import dataclass

TOKEN_LIFETIME_S = 172_800  # 48 h
DEFAULT_CLIENT = ("sandbox-client", "sandbox-secret")
# Endpoint → the scope family that reads it (carts are read with the orders scopes).
SCOPE_FAMILY = {
    "customers": "customers",
    "orders": "orders",
    "carts": "orders",
    "payments": "payments",
    "products": "products",
    "discount-codes": "discount_codes",
    "stores": "stores",
    "customer-groups": "customer_groups",
    "types": "types",
    "messages": "messages",
}
STORE_SCOPED = {"customers", "orders"}  # families with view_X:{pk}:{storeKey} variants


def default_scopes(project_key: str) -> list[str]:
    """Every read-only scope, as the sandbox's default client holds them."""
    families = [*sorted(set(SCOPE_FAMILY.values())), "project_settings"]
    return [f"view_{family}:{project_key}" for family in families]


class OAuthError(Exception):
    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.description = status, error, description

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


@dataclass
class Grant:
    scopes: frozenset[str]
    expires_at: float


class Authority:
    """API clients, the tokens handed out to them, and what a token may read."""

    def __init__(self, project_key: str, clients: dict[str, tuple[str, list[str]]] | None) -> None:
        self.project_key = project_key
        self._lock = threading.Lock()
        self._clients: dict[str, tuple[str, frozenset[str]]] = {}
        self._tokens: dict[str, Grant] = {}
        self.add_client(*DEFAULT_CLIENT, default_scopes(project_key))
        for client_id, (secret, scopes) in (clients or {}).items():
            self.add_client(client_id, secret, scopes)

    def add_client(self, client_id: str, secret: str, scopes: list[str]) -> None:
        with self._lock:
            self._clients[client_id] = (secret, frozenset(scopes))

    def expire_tokens(self) -> None:
        """Every token handed out so far stops working (tests of token refresh)."""
        with self._lock:
            self._tokens.clear()

    # --- token endpoint ------------------------------------------------------------

    def issue(self, authorization: str, grant_type: str | None, scope: str | None) -> dict:
        client_id, secret = _basic_credentials(authorization)
        with self._lock:
            known = self._clients.get(client_id)
        if known is None or not secrets.compare_digest(known[0], secret):
            raise OAuthError(401, "invalid_client", "Please provide valid client credentials.")
        if grant_type != "client_credentials":
            raise OAuthError(
                400, "unsupported_grant_type", "Only grant_type=client_credentials is supported."
            )
        asked = frozenset((scope or "").split())
        missing = sorted(asked - known[1])
        if missing:
            raise OAuthError(400, "invalid_scope", f"Invalid scope: {' '.join(missing)}")
        granted = asked or known[1]
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = Grant(granted, time.monotonic() + TOKEN_LIFETIME_S)
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME_S,
            "scope": " ".join(sorted(granted)),
        }

    # --- API requests --------------------------------------------------------------

    def scopes_of(self, authorization: str) -> frozenset[str] | None:
        """The scopes of a valid bearer token, None for a missing, unknown or expired one."""
        if not authorization.startswith("Bearer "):
            return None
        with self._lock:
            grant = self._tokens.get(authorization.removeprefix("Bearer ").strip())
        if grant is None or grant.expires_at < time.monotonic():
            return None
        return grant.scopes

    def missing_scope(
        self, scopes: frozenset[str], endpoint: str, store_key: str | None = None
    ) -> str | None:
        """None when the scopes allow reading `endpoint` ("" is the project itself), else
        the scopes of which one is missing, worded as commercetools words it."""
        pk = self.project_key
        family = SCOPE_FAMILY.get(endpoint, "project_settings")
        accepted = {f"view_{family}:{pk}", f"manage_{family}:{pk}", f"manage_project:{pk}"}
        needed = [f"view_{family}:{pk}"]
        if store_key and family in STORE_SCOPED:
            accepted |= {f"view_{family}:{pk}:{store_key}", f"manage_{family}:{pk}:{store_key}"}
            needed.append(f"view_{family}:{pk}:{store_key}")
        return None if accepted & scopes else ", ".join(needed)


def _basic_credentials(authorization: str) -> tuple[str, str]:
    if not authorization.startswith("Basic "):
        raise OAuthError(
            401, "invalid_client", "Send the client id and secret in HTTP Basic authentication."
        )
    try:
        decoded = base64.b64decode(authorization.removeprefix("Basic ").strip(), validate=True)
        client_id, secret = decoded.decode("utf-8").split(":", 1)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise OAuthError(401, "invalid_client", "Malformed Basic authentication.") from None
    return client_id, secret
