"""The source's HTTP rules, shared by every stream and by `check`.

- 429, 5xx and dropped connections are retried with back-off (Retry-After first); a 401 gets
  one fresh token; every other failure names the stream, the status and commercetools' words.
- Redirects are never followed: any 3xx fails, naming the host of its Location only (a query
  string may carry secrets).
- Every request is bounded (bounds.py): connect and read timeouts, a total deadline that a
  slow-drip answer meets too, a body cap (64 MiB by default), and a page holding more results
  than its `limit` is refused before its records are built. A timeout is retried twice, then
  fails naming the host.
- `400 QueryTimedOut` (a query too heavy for commercetools) is asked again with half the page
  size, down to a floor; the smaller size then holds for the rest of the stream's run.
- Every failure quotes the request's `X-Correlation-ID`.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import weakref
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import msgspec
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
from airbyte_cdk.sources.streams.http.exceptions import BaseBackoffException
from airbyte_cdk.sources.streams.http.http_client import HttpClient
from airbyte_cdk.utils.datetime_helpers import ab_datetime_now
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_commercetools.auth import error_text, excerpt, redirect_host
from source_commercetools.bounds import (
    ERROR_BODY_BYTES,
    BodyTooLarge,
    RequestBounds,
    correlation_id,
    load_small_body,
    read_capped,
    request_host,
    started_at,
    timed_out,
)

LOGGER = logging.getLogger("airbyte")

RETRYABLE_STATUSES = (429, 500, 502, 503, 504)
# A dropped connection: retried like a 5xx. (The CDK maps exceptions by exact class.)
RETRYABLE_EXCEPTIONS = (
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
)
# Connect, read and deadline timeouts: retried twice (`_timed_out`), before the mapping above.
TIMEOUTS = (requests.exceptions.Timeout,)
MAX_RETRIES = 8
MAX_TIMEOUT_RETRIES = 2  # a stalled server rarely recovers within seconds
QUERY_TIMEOUT_FLOOR = 10  # the smallest page asked again after QueryTimedOut
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
    """The CDK's defaults, plus: 429/5xx and dropped connections retried, a timeout retried
    twice, 401 refreshes the token once, `400 QueryTimedOut` handed back to `PageFetcher`, and
    every other failure names the stream, the status, commercetools' words and the request's
    X-Correlation-ID."""

    def __init__(self, stream_name: str, logger: Any, bounds: RequestBounds) -> None:
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
        self._bounds = bounds
        self._timeouts: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()  # the stream's slices share this handler

    def interpret_response(
        self, response_or_exception: requests.Response | Exception | None = None
    ) -> ErrorResolution:
        if isinstance(response_or_exception, TIMEOUTS):
            return self._timed_out(response_or_exception)
        if isinstance(response_or_exception, requests.Response) and not response_or_exception.ok:
            # An error answer is read here, within bounds: nothing after may read it unbounded.
            load_small_body(response_or_exception, ERROR_BODY_BYTES, self._bounds.deadline_seconds)
        resolution = super().interpret_response(response_or_exception)
        if not isinstance(response_or_exception, requests.Response):
            return resolution
        status = response_or_exception.status_code
        if 300 <= status < 400:  # handed back as it is: PageFetcher refuses it
            return ErrorResolution(
                response_action=ResponseAction.IGNORE,
                failure_type=FailureType.config_error,
                error_message=redirect_problem(self._stream_name, response_or_exception),
            )
        if is_query_timeout(response_or_exception):  # handed back: PageFetcher asks smaller
            return ErrorResolution(
                response_action=ResponseAction.IGNORE,
                failure_type=FailureType.transient_error,
                error_message=f"Stream '{self._stream_name}': commercetools answered "
                "QueryTimedOut; asking again with a smaller page",
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

    def _timed_out(self, error: requests.RequestException) -> ErrorResolution:
        """Retried twice per request, then a transient failure naming the host."""
        request = error.request
        count = 1
        if request is not None:
            with self._lock:
                count = self._timeouts.get(request, 0) + 1
                self._timeouts[request] = count
        if count > MAX_TIMEOUT_RETRIES:
            return ErrorResolution(
                response_action=ResponseAction.FAIL,
                failure_type=FailureType.transient_error,
                error_message=timeout_text(self._stream_name, error, count, self._bounds),
            )
        return ErrorResolution(
            response_action=ResponseAction.RETRY,
            failure_type=FailureType.transient_error,
            error_message=f"Stream '{self._stream_name}': {request_host(request)} did not "
            f"answer in time ({type(error).__name__}, X-Correlation-ID "
            f"{correlation_id(request)}); retrying",
        )


def timeout_text(stream_name: str, error: Exception, attempts: int, bounds: RequestBounds) -> str:
    return (
        f"Stream '{stream_name}': {timed_out(error, attempts, bounds)}. Check that the host is "
        "reachable and healthy, or raise read_timeout_seconds / request_timeout_seconds."
    )


def is_query_timeout(response: requests.Response) -> bool:
    """commercetools' `400 QueryTimedOut`: the query was too heavy to finish in time."""
    if response.status_code != 400:
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    errors = body.get("errors") if isinstance(body, dict) else None
    return isinstance(errors, list) and any(
        isinstance(item, dict) and item.get("code") == "QueryTimedOut" for item in errors
    )


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
    return f"{text} (X-Correlation-ID {correlation_id(response.request)})"


def redirect_problem(stream_name: str, response: requests.Response) -> str:
    """A redirect in words, naming only the host it points to (never its path or query)."""
    host = redirect_host(response)
    return (
        f"Stream '{stream_name}': commercetools answered HTTP {response.status_code}, a redirect "
        f"to {host}; redirects are never followed. Check region, api_url and auth_url. "
        f"(X-Correlation-ID {correlation_id(response.request)})"
    )


class Results(list[dict[str, Any]]):
    """A page's records, and the `limit` they were asked with (lower than the page size after
    a QueryTimedOut): fewer records than `limit` means the last page."""

    def __init__(self, records: list[dict[str, Any]], limit: int) -> None:
        super().__init__(records)
        self.limit = limit


def limit_of(records: list[dict[str, Any]], asked: int) -> int:
    return records.limit if isinstance(records, Results) else asked


class PageLimit:
    """The largest page a stream asks for this run: halved on each QueryTimedOut."""

    def __init__(self) -> None:
        self.cap: int | None = None

    def apply(self, limit: int) -> int:
        return min(limit, self.cap) if self.cap else limit


class QueryTimedOut(Exception):
    """commercetools answered `400 QueryTimedOut`."""


class _Page(msgspec.Struct):
    """A query answer with its records left unparsed, so their count is known first."""

    results: list[msgspec.Raw]


PAGE_DECODER = msgspec.json.Decoder(_Page)


@dataclass
class PageFetcher:
    """How one stream asks a query endpoint for pages: through the CDK's client (retries,
    back-off, token), within its bounds, with its page size halved for the run by a
    QueryTimedOut."""

    client: HttpClient
    stream_name: str
    cap_bytes: int
    bounds: RequestBounds
    backoff: CommercetoolsBackoff
    page_limit: PageLimit = field(default_factory=PageLimit)

    def page(self, url: str, params: dict[str, Any]) -> Results:
        """One page: asked again with half the page size while commercetools answers
        QueryTimedOut (and failing past the floor)."""
        limit = self.page_limit.apply(int(params.get("limit", 20)))
        while True:
            try:
                return Results(self.results(url, {**params, "limit": limit}), limit)
            except QueryTimedOut as timed_out:
                smaller = limit // 2
                if smaller < QUERY_TIMEOUT_FLOOR:
                    raise AirbyteTracedException(
                        message=f"Stream '{self.stream_name}': commercetools could not finish "
                        f"the query in time (400 QueryTimedOut) even with pages of {limit}; its "
                        f"predicate is {predicate_size(params)} ({timed_out}). Narrow the query "
                        "(fewer message_types or store_keys), or ask commercetools support with "
                        "the X-Correlation-ID.",
                        failure_type=FailureType.system_error,
                    ) from None
                LOGGER.warning(
                    "Stream '%s': commercetools answered QueryTimedOut to a page of %d (%s); "
                    "asking pages of %d from now on.",
                    self.stream_name,
                    limit,
                    timed_out,
                    smaller,
                )
                limit = self.page_limit.cap = smaller

    def results(self, url: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """One GET: the `results` of the page. Redirects are not followed; the body is read
        within the deadline and the cap; a timeout while it arrives is retried twice."""
        name, bounds = self.stream_name, self.bounds
        for attempt in range(1, MAX_TIMEOUT_RETRIES + 2):
            try:
                _, response = self.client.send_request(
                    "GET",
                    url,
                    request_kwargs={
                        "allow_redirects": False,
                        "stream": True,
                        "timeout": bounds.timeout,
                    },
                    params=params,
                )
            except AirbyteTracedException as error:
                raise clearer(error, name) from None
            request = response.request
            LOGGER.debug(
                "GET %s: HTTP %s (X-Correlation-ID %s)",
                request.path_url if request else url,
                response.status_code,
                correlation_id(request),
            )
            if 300 <= response.status_code < 400:
                response.close()
                raise AirbyteTracedException(
                    message=redirect_problem(name, response),
                    failure_type=FailureType.config_error,
                )
            if is_query_timeout(response):
                raise QueryTimedOut(f"X-Correlation-ID {correlation_id(request)}")
            try:
                body = read_capped(
                    response, self.cap_bytes, bounds.deadline_seconds, started_at(response)
                )
            except BodyTooLarge:
                raise AirbyteTracedException(
                    message=f"Stream '{name}': a commercetools response exceeded "
                    f"{self.cap_bytes // (1 << 20)} MiB (max_response_mib); lower page_size or "
                    f"raise the cap (X-Correlation-ID {correlation_id(request)}).",
                    failure_type=FailureType.system_error,
                ) from None
            except (requests.ConnectionError, requests.Timeout) as error:
                if attempt > MAX_TIMEOUT_RETRIES:
                    raise AirbyteTracedException(
                        message=timeout_text(name, error, attempt, bounds),
                        internal_message=str(error),
                        failure_type=FailureType.transient_error,
                    ) from None
                wait = self.backoff.backoff_time(error, attempt) or 0.0
                LOGGER.info(
                    "Stream '%s': the answer from %s broke off (%s, X-Correlation-ID %s); "
                    "retrying in %.1f s",
                    name,
                    request_host(request),
                    type(error).__name__,
                    correlation_id(request),
                    wait,
                )
                time.sleep(wait)
                continue
            return page_records(body, int(params.get("limit", 0)), name, request)
        raise AssertionError("unreachable")  # the loop returns or raises


def read_body(
    response: requests.Response, cap_bytes: int, stream_name: str, bounds: RequestBounds
) -> bytes:
    """The whole body of a streamed response within the request bounds (the deadline counts
    while it arrives), refusing one larger than `cap_bytes`: for the requests that do not go
    through `PageFetcher` (counts, id snapshots)."""
    try:
        return read_capped(response, cap_bytes, bounds.deadline_seconds, started_at(response))
    except BodyTooLarge:
        raise AirbyteTracedException(
            message=f"Stream '{stream_name}': a commercetools response exceeded "
            f"{cap_bytes // (1 << 20)} MiB (max_response_mib); lower page_size or raise the cap "
            f"(X-Correlation-ID {correlation_id(response.request)}).",
            failure_type=FailureType.system_error,
        ) from None


def predicate_size(params: dict[str, Any]) -> str:
    where = params.get("where") or []
    clauses = [where] if isinstance(where, str) else list(where)
    values = sum(
        len(value) if isinstance(value, list) else 1
        for key, value in params.items()
        if key.startswith("var.")
    )
    characters = sum(len(clause) for clause in clauses)
    return f"{len(clauses)} clause(s), {characters} characters, {values} input value(s)"


def page_records(
    body: bytes, limit: int, stream_name: str, request: requests.PreparedRequest | None
) -> list[dict[str, Any]]:
    """The records of a page; a page with more than `limit` of them is refused before they
    are built (10^6 tiny records would fill the memory)."""
    try:
        page = PAGE_DECODER.decode(body)
    except msgspec.DecodeError as problem:  # also a body without a results list
        raise AirbyteTracedException(
            message=f"Stream '{stream_name}': commercetools answered without a results list "
            f"(X-Correlation-ID {correlation_id(request)})",
            internal_message=f"{problem}: {excerpt(body[:4096].decode(errors='replace'))!r}",
            failure_type=FailureType.system_error,
        ) from None
    if limit and len(page.results) > limit:
        raise AirbyteTracedException(
            message=f"Stream '{stream_name}': commercetools answered {len(page.results)} results "
            f"to a query for at most {limit} (from {request_host(request)}, X-Correlation-ID "
            f"{correlation_id(request)}); refusing the page. Check api_url.",
            failure_type=FailureType.system_error,
        )
    return [orjson.loads(memoryview(raw)) for raw in page.results]


def clearer(error: AirbyteTracedException, stream_name: str) -> Exception:
    """The CDK's "Exhausted available request attempts" in words naming the host, the last
    answer and the X-Correlation-ID; any other failure as it is."""
    cause = getattr(error, "_exception", None)  # the CDK keeps it there
    if not isinstance(cause, BaseBackoffException):
        return error
    last = cause.response
    if isinstance(last, requests.Response):
        what = f"answered HTTP {last.status_code}: {error_text(last)}"
        request = last.request
    else:
        what = f"could not be reached ({type(last).__name__})"
        request = cause.request
    return AirbyteTracedException(
        message=f"Stream '{stream_name}': {request_host(request)} {what}; giving up after "
        f"{MAX_RETRIES + 1} attempts (last X-Correlation-ID {correlation_id(request)}).",
        internal_message=error.internal_message,
        failure_type=error.failure_type or FailureType.transient_error,
    )
