"""The source's HTTP rules, shared by every stream and by `check`.

- 429, 5xx and dropped connections are retried with back-off (Retry-After first); a 401 gets
  one fresh token; every other failure names the stream, the status and commercetools' words.
- Redirects are never followed: any 3xx fails, naming the host of its Location only (a query
  string may carry secrets).
- A response body larger than the cap (64 MiB by default) fails as a clear error instead of
  filling the memory.
"""

from __future__ import annotations

import random
import time
from email.utils import parsedate_to_datetime
from typing import Any

import orjson
import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.streams.http.error_handlers import (
    BackoffStrategy,
    ErrorResolution,
    HttpStatusErrorHandler,
    ResponseAction,
)
from airbyte_cdk.sources.streams.http.error_handlers.default_error_mapping import (
    DEFAULT_ERROR_MAPPING,
)
from airbyte_cdk.sources.streams.http.http_client import HttpClient
from airbyte_cdk.utils.datetime_helpers import ab_datetime_now
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_commercetools.auth import error_text, redirect_host

RETRYABLE_STATUSES = (429, 500, 502, 503, 504)
# A dropped or stalled connection: retried like a 5xx. (The CDK maps exceptions by exact class.)
RETRYABLE_EXCEPTIONS = (
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ConnectTimeout,
    requests.exceptions.ReadTimeout,
    requests.exceptions.Timeout,
)
MAX_RETRIES = 8
RETRY_ACTIONS = (
    ResponseAction.RETRY,
    ResponseAction.RATE_LIMITED,
    ResponseAction.REFRESH_TOKEN_THEN_RETRY,
)


class CommercetoolsBackoff(BackoffStrategy):
    """Retry-After when commercetools says; else exponential back-off with jitter.

    The CDK adds one second to whatever this returns before it sleeps. A 429 also pauses the
    stream's other requests (its concurrent slices): `pause()` waits until the Retry-After
    given to any of them has passed.
    """

    def __init__(self, base_seconds: float) -> None:
        self._base = base_seconds
        self._resume_at = 0.0  # time.monotonic() before which no new request starts

    def pause(self) -> None:
        wait = self._resume_at - time.monotonic()
        if wait > 0:
            time.sleep(wait)

    def backoff_time(
        self,
        response_or_exception: requests.Response | requests.RequestException | None,
        attempt_count: int,
    ) -> float | None:
        if isinstance(response_or_exception, requests.Response):
            retry_after = retry_after_seconds(response_or_exception)
            if retry_after is not None:
                if response_or_exception.status_code == 429:
                    self._resume_at = max(self._resume_at, time.monotonic() + retry_after)
                return max(retry_after, 0.001)  # 0 would mean "no advice" to the CDK
        ceiling = self._base * 2 ** max(0, attempt_count - 1)
        return ceiling / 2 + random.uniform(0, ceiling / 2)


def retry_after_seconds(response: requests.Response) -> float | None:
    header = response.headers.get("Retry-After")
    if not header:
        return None
    try:
        return float(header)
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    return (moment - ab_datetime_now()).total_seconds()


class CommercetoolsErrorHandler(HttpStatusErrorHandler):
    """The CDK's defaults, plus: 429/5xx and dropped connections retried, 401 refreshes the
    token once, and every other failure names the stream, the status and commercetools' words."""

    def __init__(self, stream_name: str, logger: Any) -> None:
        mapping: dict[Any, ErrorResolution] = dict(DEFAULT_ERROR_MAPPING)
        mapping[401] = ErrorResolution(
            response_action=ResponseAction.REFRESH_TOKEN_THEN_RETRY,
            failure_type=FailureType.config_error,
            error_message=f"Stream '{stream_name}': commercetools rejected the access token "
            "(HTTP 401); asking for a fresh one",
        )
        for status in RETRYABLE_STATUSES:
            mapping[status] = ErrorResolution(
                response_action=ResponseAction.RATE_LIMITED
                if status == 429
                else ResponseAction.RETRY,
                failure_type=FailureType.transient_error,
                error_message=f"Stream '{stream_name}': commercetools answered HTTP {status}; "
                "retrying",
            )
        for exception in RETRYABLE_EXCEPTIONS:
            mapping[exception] = ErrorResolution(
                response_action=ResponseAction.RETRY,
                failure_type=FailureType.transient_error,
                error_message=f"Stream '{stream_name}': the connection to commercetools failed; "
                "retrying",
            )
        super().__init__(logger=logger, error_mapping=mapping, max_retries=MAX_RETRIES)
        self._stream_name = stream_name

    def interpret_response(
        self, response_or_exception: requests.Response | Exception | None = None
    ) -> ErrorResolution:
        resolution = super().interpret_response(response_or_exception)
        if not isinstance(response_or_exception, requests.Response):
            return resolution
        status = response_or_exception.status_code
        if 300 <= status < 400:  # handed back as it is: fetch_results refuses it, in clean words
            return ErrorResolution(
                response_action=ResponseAction.IGNORE,
                failure_type=FailureType.config_error,
                error_message=redirect_problem(self._stream_name, response_or_exception),
            )
        # Anything not retryable fails here, including statuses the CDK would retry blindly.
        retryable = resolution.response_action in RETRY_ACTIONS and status in self._error_mapping
        if not response_or_exception.ok and not retryable:
            return ErrorResolution(
                response_action=ResponseAction.FAIL,
                failure_type=FailureType.config_error
                if status in (401, 403, 404)
                else FailureType.system_error,
                error_message=failure_text(self._stream_name, response_or_exception),
            )
        return resolution


def failure_text(stream_name: str, response: requests.Response) -> str:
    text = (
        f"Stream '{stream_name}' failed: commercetools answered HTTP {response.status_code}: "
        f"{error_text(response)}"
    )
    if response.status_code == 403:
        text += (
            ". Add that scope to the API client (Merchant Center > Settings > Developer "
            f"settings > API clients), or do not select stream '{stream_name}'."
        )
    elif response.status_code == 404:
        text += ". Check project_key, store_keys and region (or api_url)."
    return text


def redirect_problem(stream_name: str, response: requests.Response) -> str:
    """A redirect in words, naming only the host it points to (never its path or query)."""
    host = redirect_host(response)
    return (
        f"Stream '{stream_name}': commercetools answered HTTP {response.status_code}, a redirect "
        f"to {host}; redirects are never followed. Check region, api_url and auth_url."
    )


def read_body(response: requests.Response, cap_bytes: int, stream_name: str) -> bytes:
    """The whole body of a streamed response, refusing one larger than `cap_bytes`."""
    declared = response.headers.get("Content-Length")
    too_large = AirbyteTracedException(
        message=f"Stream '{stream_name}': a commercetools response exceeded "
        f"{cap_bytes // (1 << 20)} MiB (max_response_mib); lower page_size or raise the cap.",
        failure_type=FailureType.system_error,
    )
    if declared and declared.isdigit() and int(declared) > cap_bytes:
        response.close()
        raise too_large
    chunks, size = [], 0
    for chunk in response.iter_content(1 << 16):
        size += len(chunk)
        if size > cap_bytes:
            response.close()
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def fetch_results(
    client: HttpClient,
    url: str,
    params: dict[str, Any],
    cap_bytes: int,
    stream_name: str,
) -> list[dict[str, Any]]:
    """One GET of a query endpoint through the CDK's client (retries, back-off, token): the
    `results` of the page. Redirects are not followed; the body is capped."""
    _, response = client.send_request(
        "GET", url, request_kwargs={"allow_redirects": False, "stream": True}, params=params
    )
    if 300 <= response.status_code < 400:
        response.close()
        raise AirbyteTracedException(
            message=redirect_problem(stream_name, response),
            failure_type=FailureType.config_error,
        )
    body = orjson.loads(read_body(response, cap_bytes, stream_name))
    if not isinstance(body, dict) or not isinstance(body.get("results"), list):
        raise AirbyteTracedException(
            message=f"Stream '{stream_name}': commercetools answered without a results list",
            internal_message=str(body)[:300],
            failure_type=FailureType.system_error,
        )
    return body["results"]
