"""OAuth client credentials against the commercetools auth host (HTTP Basic, never the body)."""

from __future__ import annotations

import base64
import logging
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import backoff
import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.streams.http.exceptions import DefaultBackoffException
from airbyte_cdk.sources.streams.http.requests_native_auth import Oauth2Authenticator
from airbyte_cdk.utils.airbyte_secrets_utils import add_to_secrets
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from connectors_common import location_host, secrets
from source_commercetools.bounds import (
    CORRELATION,
    CORRELATION_HEADER,
    TOKEN_BODY_BYTES,
    BodyTooLarge,
    RequestBounds,
    bounded_session,
    correlation_id,
    read_capped,
    request_host,
    timed_out,
)
from source_commercetools.config import SourceConfig
from source_commercetools.scopes import Declared, ScopePlan, plan_scopes, project_scopes


def basic_auth_header(client_id: str, client_secret: str) -> str:
    pair = f"{client_id}:{client_secret}".encode()
    return "Basic " + base64.b64encode(pair).decode()


EXCERPT_CHARS = 120  # of a response's text in a message: enough for commercetools' words


def error_text(response: requests.Response | None) -> str:
    """commercetools' own words from an error body (API or auth host), else the raw text: a
    short excerpt, secrets filtered out first (a server may echo the credentials)."""
    if response is None:
        return "no response"
    try:
        body = response.json()
    except ValueError:
        return excerpt(response.text or response.reason or "")
    if isinstance(body, Mapping):
        for key in ("message", "error_description", "error"):
            if body.get(key):
                return excerpt(str(body[key]))
    return excerpt(response.text)


def excerpt(text: str) -> str:
    shown = secrets.scrub(text)
    return shown if len(shown) <= EXCERPT_CHARS else shown[:EXCERPT_CHARS] + "…"


def redirect_host(response: requests.Response) -> str:
    """The host a redirect points to: never its path or query, which may carry secrets."""
    return location_host(response.headers.get("Location")) or "an unnamed location"


LOGGER = logging.getLogger("airbyte")
# commercetools lets each API client set its tokens' lifetime within these bounds (48 h if
# not set); an `expires_in` outside them is clamped to them.
TOKEN_LIFETIME_SECONDS = (3_600, 604_800)
TOKEN_ATTEMPTS = 3  # a token request that times out is tried twice more


def post_token(
    url: str,
    body: Mapping[str, Any],
    headers: Mapping[str, str],
    bounds: RequestBounds | None = None,
) -> requests.Response:
    """One POST to the token endpoint, within `bounds`, its answer read in full (at most
    64 KiB: a token answer is a few hundred bytes). A redirect is refused, not followed:
    following it would send the grant (and, to the same host, the credentials) wherever it
    points."""
    bounds = bounds or RequestBounds()
    correlation = CORRELATION.next_id()
    LOGGER.debug("POST %s (X-Correlation-ID %s)", url, correlation)
    started = time.monotonic()
    with bounded_session(bounds) as session:
        response = session.post(
            url,
            data=body,
            headers={**headers, CORRELATION_HEADER: correlation},
            timeout=bounds.timeout,
            allow_redirects=False,
            stream=True,
        )
        return _token_answer(response, bounds, started)


def _token_answer(
    response: requests.Response, bounds: RequestBounds, started: float
) -> requests.Response:
    """The token endpoint's answer read in full within bounds; a redirect refused."""
    if 300 <= response.status_code < 400:
        response.close()
        raise AirbyteTracedException(
            message=f"The token endpoint answered HTTP {response.status_code}, a redirect to "
            f"{redirect_host(response)}; redirects are never followed. Check region and auth_url. "
            f"(X-Correlation-ID {correlation_id(response.request)})",
            failure_type=FailureType.config_error,
        )
    try:
        content = read_capped(response, TOKEN_BODY_BYTES, bounds.deadline_seconds, started)
    except BodyTooLarge:
        raise AirbyteTracedException(
            message=f"The token endpoint at {request_host(response.request)} answered more than "
            f"{TOKEN_BODY_BYTES >> 10} KiB, which no token is; refusing it (X-Correlation-ID "
            f"{correlation_id(response.request)}). Check region and auth_url.",
            failure_type=FailureType.system_error,
        ) from None
    response._content = content  # type: ignore[attr-defined]
    response._content_consumed = True  # type: ignore[attr-defined]
    return response


def token_lifetime(value: Any, response: requests.Response) -> int:
    """`expires_in` in seconds, clamped to what commercetools allows; a value that is no
    finite number is an error, never a crash."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise AirbyteTracedException(
            message=f"The token endpoint at {request_host(response.request)} answered an "
            f"unusable expires_in ({str(value)[:40]}), not a number of seconds (X-Correlation-ID "
            f"{correlation_id(response.request)}). Check region and auth_url.",
            failure_type=FailureType.system_error,
        )
    low, high = TOKEN_LIFETIME_SECONDS
    return int(min(max(value, low), high))


def token_problem(response: requests.Response, config: SourceConfig, scopes: list[str]) -> str:
    """A token endpoint refusal in the words a user can act on."""
    detail = error_text(response)
    if response.status_code == 401:
        return (
            f"commercetools rejected the client credentials at {config.auth_root}: check "
            f"client_id and client_secret ({detail}; X-Correlation-ID "
            f"{correlation_id(response.request)})."
        )
    if response.status_code == 400 and "scope" in response.text:
        return (
            f"The API client may not request every scope asked for ({' '.join(scopes)}): "
            f"{detail}. Give the client these scopes, or set `scopes` to the ones it has "
            f"(X-Correlation-ID {correlation_id(response.request)})."
        )
    return (
        f"The token request failed with HTTP {response.status_code}: {detail} "
        f"(X-Correlation-ID {correlation_id(response.request)})"
    )


def held_scope_problem(project_key: str, held: set[str], asked: list[str]) -> str | None:
    """Why a token for `asked` was refused, given what the client holds; None if unclear."""
    if not any(scope.split(":")[1:2] == [project_key] for scope in held):
        projects = sorted({scope.split(":")[1] for scope in held if ":" in scope})
        return (
            f"Project '{project_key}' is unknown to this API client (its scopes are for "
            f"{', '.join(projects) or 'no project'}): check project_key."
        )
    missing = [scope for scope in asked if scope not in held]
    if not missing:
        return None
    return (
        f"The API client lacks the scope(s) {', '.join(missing)}. Add them to the client "
        "(Merchant Center > Settings > Developer settings > API clients), or set `scopes` to "
        f"what it has: {' '.join(sorted(held))}."
    )


class CommercetoolsAuthenticator(Oauth2Authenticator):
    """One client-credentials token per run, shared by every stream.

    commercetools wants the client id and secret in the Basic header only; the body holds
    `grant_type` and `scope`. Tokens last 48 h, so a run asks once; a 401 on the API makes
    the CDK's HttpClient ask for one fresh token (REFRESH_TOKEN_THEN_RETRY).

    The first token asks for the project-wide read scopes of `streams` (or the user's
    `scopes`); if commercetools refuses them, the scopes the client holds decide what to ask
    for instead (scopes.py), and `plan` says what was granted and what cannot be read.
    """

    def __init__(
        self,
        config: SourceConfig,
        streams: Sequence[Declared],
        logger: logging.Logger | None = None,
    ) -> None:
        secret = config.client_secret.get_secret_value()
        self._config = config
        self._streams = list(streams)
        self._logger = logger or logging.getLogger("airbyte")
        self._asked: list[str] | None = config.scopes or project_scopes(
            config.project_key, self._streams
        )
        self.plan: ScopePlan | None = None  # known after the first token
        self._bounds = RequestBounds.of(config)
        # A refusal (bad credentials, scopes) is final: every later ask gets it again, without
        # asking the token endpoint again.
        self._refusal: AirbyteTracedException | None = None
        super().__init__(
            token_refresh_endpoint=f"{config.auth_root}/oauth/token",
            client_id=config.client_id,
            client_secret=secret,
            refresh_token=None,  # type: ignore[arg-type]
            grant_type="client_credentials",
            refresh_request_body={},
            refresh_request_headers={"Authorization": basic_auth_header(config.client_id, secret)},
        )

    @property
    def scopes(self) -> list[str] | None:
        return list(self._asked) if self._asked else None

    def build_refresh_request_body(self) -> Mapping[str, Any]:
        body = {"grant_type": "client_credentials"}
        if self._asked:
            body["scope"] = " ".join(self._asked)
        return body

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """The bearer token, and a fresh X-Correlation-ID on every API request (the CDK calls
        this again for each retry)."""
        request = super().__call__(request)
        request.headers[CORRELATION_HEADER] = CORRELATION.next_id()
        return request

    @backoff.on_exception(backoff.expo, DefaultBackoffException, max_time=300)
    def _make_handled_request(self) -> Any:
        """The CDK's token request (same retries: 429 and 5xx for up to 5 minutes), through
        `post_token`, which bounds it and refuses redirects (the CDK's would follow them). A
        timeout or dropped connection is tried TOKEN_ATTEMPTS times, then fails naming the
        host."""
        response = self._post_with_retries()
        if response.status_code == 429 or response.status_code >= 500:
            raise DefaultBackoffException(
                request=response.request,
                response=response,
                failure_type=FailureType.transient_error,
            )
        response.raise_for_status()
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise AirbyteTracedException(
                message=f"The token endpoint at {request_host(response.request)} answered "
                f"without a JSON object (X-Correlation-ID {correlation_id(response.request)}). "
                "Check region and auth_url.",
                failure_type=FailureType.system_error,
            )
        if "expires_in" in body:
            body["expires_in"] = token_lifetime(body["expires_in"], response)
        return body

    def _post_with_retries(self) -> requests.Response:
        for attempt in range(1, TOKEN_ATTEMPTS + 1):
            try:
                return post_token(
                    self.get_token_refresh_endpoint(),
                    self.build_refresh_request_body(),
                    self.build_refresh_request_headers(),
                    self._bounds,
                )
            except (requests.ConnectionError, requests.Timeout) as error:
                if attempt == TOKEN_ATTEMPTS:
                    raise self._unreachable(error, attempt) from None
                time.sleep(self._config.retry_backoff_seconds * 2 ** (attempt - 1))
        raise AssertionError("unreachable")  # the loop returns or raises

    def _unreachable(self, error: requests.RequestException, attempts: int) -> Exception:
        return AirbyteTracedException(
            message=f"The token endpoint at {timed_out(error, attempts, self._bounds)}. Check "
            "region and auth_url, or raise read_timeout_seconds / request_timeout_seconds.",
            internal_message=str(error),
            failure_type=FailureType.transient_error,
        )

    def refresh_access_token(self) -> tuple[str, Any]:
        if self._refusal is not None:
            raise self._refusal
        try:
            return self._refresh_access_token()
        except AirbyteTracedException as error:
            if error.failure_type == FailureType.config_error:
                self._refusal = error
            raise

    def _refresh_access_token(self) -> tuple[str, Any]:
        try:
            token, expiry = super().refresh_access_token()
        except requests.HTTPError as error:
            if error.response is None:
                raise
            if self.plan is None and is_invalid_scope(error.response):
                token, expiry = self._negotiate(error.response)
            else:
                raise self._refused(error.response) from None
        if self.plan is None:
            self.plan = ScopePlan(self.scopes)
        add_to_secrets(token)
        return token, expiry

    def _negotiate(self, refusal: requests.Response) -> tuple[str, Any]:
        """The project-wide scopes were refused: ask for what the client can have."""
        held = self.held_scopes()
        asked = list(self._asked or [])
        pk = self._config.project_key
        problem = held_scope_problem(pk, held, asked) if held is not None else None
        if held is None or (self._config.scopes and problem):
            raise self._refused(refusal, problem)
        if not any(scope.split(":")[1:2] == [pk] for scope in held):
            raise self._refused(refusal, problem)
        self.plan = plan_scopes(pk, self._streams, self._config.store_keys, held)
        for warning in self.plan.warnings:
            self._logger.warning(warning)
        self._asked = self.plan.scopes
        try:
            return super().refresh_access_token()
        except requests.HTTPError as error:
            if error.response is None:
                raise
            raise self._refused(error.response) from None

    def held_scopes(self) -> set[str] | None:
        """The client's scopes, from a token asked without `scope` (not used otherwise)."""
        secret = self._config.client_secret.get_secret_value()
        try:
            response = post_token(
                f"{self._config.auth_root}/oauth/token",
                {"grant_type": "client_credentials"},
                {"Authorization": basic_auth_header(self._config.client_id, secret)},
                self._bounds,
            )
            body = response.json() if response.ok else None
        except (requests.RequestException, ValueError, AirbyteTracedException):
            return None
        return set(str(body.get("scope", "")).split()) if isinstance(body, dict) else None

    def _refused(
        self, response: requests.Response, problem: str | None = None
    ) -> AirbyteTracedException:
        return AirbyteTracedException(
            message=problem or token_problem(response, self._config, list(self._asked or [])),
            internal_message=f"token endpoint answered HTTP {response.status_code}",
            failure_type=FailureType.config_error,
        )


def is_invalid_scope(response: requests.Response) -> bool:
    return response.status_code == 400 and "scope" in response.text
