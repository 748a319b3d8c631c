"""CRM One HTTP client: token, correlation ids, idempotency keys, retries, concurrency.

One logical call (`CrmOneClient.call`) gets one `X-Correlation-Id`; each of its HTTP attempts
is handed to `call_observer` as a `CallRecord` (the journal's sync log). Batch writes carry an
`Idempotency-Key` that every retry of that batch reuses, with the very same body bytes (the
server fingerprints the raw body).

Why requests and a small `RetryPolicy` rather than airbyte-cdk's `HttpClient` (read in
airbyte_cdk/sources/streams/http/http_client.py and rate_limiting.py, CDK 7.39):
- its backoff handlers are `backoff.expo(..., jitter=None)`: no jitter, while the contract
  asks for exponential backoff *with* jitter; a rate-limit wait is `Retry-After + 1 s`;
- an attempt is only observable through `log_formatter` + `message_repository`, and only when
  a response arrived: a dropped connection or a timeout is not seen per attempt, so the sync
  log could not hold every attempt;
- its 401 handling (`REFRESH_TOKEN_THEN_RETRY`) needs an `Oauth2Authenticator`, which posts
  `refresh_token`-shaped bodies; the contract wants form-encoded client credentials;
- retries exhausted or a non-retryable status end in `AirbyteTracedException`, losing the
  problem+json `code`, the correlation id and the body the senders need per record;
- "409 only on idempotency races" depends on the request (does it carry a key?), which an
  `ErrorHandler` that sees only the response cannot tell.
The whole policy is `RetryPolicy.wait_before_retry` below: one place, readable top-down.
"""

from __future__ import annotations

import email.utils
import hashlib
import logging
import random
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import quote, urlencode

import orjson
import requests
from requests.adapters import HTTPAdapter

from connectors_common import location_host, secrets
from destination_crmone.crmone.calllog import CallRecord, now_text
from destination_crmone.crmone.pacing import TokenBucket

TOKEN_PATH = "/oauth/token"
EXCERPT_CHARS = 120  # of a response's text in an error message
# 408 and the contract's "nothing was applied; retry" statuses.
TRANSIENT_STATUSES = frozenset({408, 502, 503, 504})
# A 409 with these codes is about the data, not an idempotency race: never retried.
DATA_CONFLICT_CODES = frozenset({"email_conflict", "external_id_conflict", "already_exists"})
IDEMPOTENCY_KEY_MAX = 128
# Refresh a token this long before it expires (at most a tenth of its lifetime).
TOKEN_MARGIN_SECONDS = 60.0
# A rate-limit reset further away than this is treated as clock skew and ignored.
RATE_LIMIT_RESET_MAX_WAIT = 60.0


class CrmOneError(Exception):
    """A call that failed for good, in words a user understands (never with a secret)."""

    def __init__(
        self,
        status: int | None,
        code: str,
        detail: str,
        correlation_id: str = "",
        *,
        method: str = "",
        path: str = "",
        request_id: str | None = None,
        body: Any = None,
        attempts: int = 1,
    ) -> None:
        self.status, self.code, self.detail = status, code, secrets.scrub(detail)
        self.correlation_id, self.request_id, self.body = correlation_id, request_id, body
        self.method, self.path, self.attempts = method, path, attempts
        super().__init__(self._message())

    def _message(self) -> str:
        call = f"{self.method} {self.path}".strip() or "a call"
        tries = f" after {self.attempts} attempts" if self.attempts > 1 else ""
        if self.status is None:
            head = f"CRM One did not answer {call}{tries} ({self.code}): {self.detail}"
        else:
            head = f"CRM One answered {call} with {self.status} {self.code}{tries}: {self.detail}"
        ids = [f"correlation id {self.correlation_id}"] if self.correlation_id else []
        if self.request_id:
            ids.append(f"request id {self.request_id}")
        return f"{head} ({', '.join(ids)})" if ids else head

    @property
    def transient(self) -> bool:
        """True when a later run may succeed unchanged (no answer, 408, 429 or 5xx)."""
        return self.status is None or self.status in (408, 429) or self.status >= 500


# --- the retry rules --------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """The contract's retry rules (CONTRACT.md, "What a conforming client must do", 3).

    401 is not here: the client renews its token once and retries (see `CrmOneClient.call`).
    """

    max_retries: int | None = 8  # None: as many as the time budget allows
    backoff_base: float = 1.0
    backoff_cap: float = 60.0
    max_retry_after: float = 300.0
    budget_seconds: float = 300.0  # the longest one logical call keeps retrying

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with full jitter: uniform(0, base * 2^(attempt-1)), capped."""
        return random.uniform(0, min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1)))

    def retry_after(self, headers: Mapping[str, str]) -> float | None:
        """`Retry-After` as seconds (delta-seconds or an HTTP date), capped; None if absent."""
        value = headers.get("Retry-After")
        if value is None:
            return None
        try:
            seconds = float(value)
        except ValueError:
            try:
                moment = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                return None
            seconds = (moment - datetime.now(UTC)).total_seconds()
        return min(self.max_retry_after, max(0.0, seconds))

    def wait_before_retry(
        self,
        attempt: int,
        status: int | None,
        headers: Mapping[str, str],
        code: str | None,
        idempotency_key: str | None,
    ) -> float | None:
        """Seconds to wait before the next attempt, or None: do not retry."""
        if self.max_retries is not None and attempt > self.max_retries:
            return None
        if status is None:  # dropped connection or timeout
            return self.backoff(attempt)
        if status == 429 or status in TRANSIENT_STATUSES:
            after = self.retry_after(headers)
            return self.backoff(attempt) if after is None else after
        if status == 409 and idempotency_key and code not in DATA_CONFLICT_CODES:
            return self.backoff(attempt)  # the first request with this key is still running
        return None


# --- concurrency and rate limit ---------------------------------------------------------


class ConcurrencyGate:
    """At most `limit` requests in flight; the limit may be lowered or raised at any time."""

    def __init__(self, limit: int) -> None:
        self._limit = max(1, limit)
        self._in_flight = 0
        self.max_in_flight = 0
        self._changed = threading.Condition()

    @property
    def limit(self) -> int:
        return self._limit

    def set_limit(self, limit: int) -> None:
        with self._changed:
            self._limit = max(1, limit)
            self._changed.notify_all()

    @contextmanager
    def slot(self) -> Iterator[None]:
        with self._changed:
            while self._in_flight >= self._limit:
                self._changed.wait()
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            yield
        finally:
            with self._changed:
                self._in_flight -= 1
                self._changed.notify()


class RateLimitHint:
    """`X-RateLimit-Remaining: 0` → hold new requests until `X-RateLimit-Reset` (epoch s)."""

    def __init__(self) -> None:
        self._not_before = 0.0  # epoch seconds
        self._lock = threading.Lock()

    def note(self, headers: Mapping[str, str]) -> None:
        try:
            remaining = int(headers.get("X-RateLimit-Remaining", "1"))
            reset = float(headers.get("X-RateLimit-Reset", "0"))
        except ValueError:
            return
        if remaining <= 0 and 0 < reset - time.time() <= RATE_LIMIT_RESET_MAX_WAIT:
            with self._lock:
                self._not_before = max(self._not_before, reset)

    def delay(self) -> float:
        with self._lock:
            return max(0.0, self._not_before - time.time())


# --- results ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply(Mapping[str, Any]):
    """A successful call: the JSON body (read it like a dict) plus the call's ids."""

    body: Any
    status: int
    correlation_id: str
    request_id: str | None
    attempts: int

    def __getitem__(self, key: str) -> Any:
        if not isinstance(self.body, dict):
            raise KeyError(key)
        return self.body[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.body if isinstance(self.body, dict) else {})

    def __len__(self) -> int:
        return len(self.body) if isinstance(self.body, dict) else 0


@dataclass(frozen=True)
class _Request:
    """One logical call, prepared once: every attempt sends exactly these bytes."""

    method: str
    path: str  # with the query string
    body: bytes | None
    content_type: str | None
    logged_body: Any  # what the sync log keeps (the token call: without the secret)
    idempotency_key: str | None
    correlation_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    authorized: bool = True

    @property
    def route(self) -> str:
        """The path without its query string (which may hold an email): for messages."""
        return self.path.split("?", 1)[0]


def batch_key(run_id: str, stream: str, kind: str, seq: int | str, body: Any) -> str:
    """A deterministic Idempotency-Key (≤ 128 chars) for one batch of one run.

    The same (run, stream, kind, seq, body) gives the same key, so a batch sent again in the
    same run reuses it; another run gets another key, so a later run re-applies for real.
    """
    canonical = orjson.dumps(body, option=orjson.OPT_SORT_KEYS, default=str)
    seed = "\x00".join((run_id, stream, kind, str(seq))).encode() + b"\x00" + canonical
    label = re.sub(r"[^A-Za-z0-9_.:-]", "_", f"{stream}.{kind}")[:48]
    return f"{label}-{str(seq)[:12]}-{hashlib.sha256(seed).hexdigest()}"


def _decode(response: requests.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:  # secrets out before the cut: a cut one would escape the filter
        return secrets.scrub(response.text)[:2000]


def _reason_phrase(status: int | None) -> str:
    try:
        return HTTPStatus(status or 0).phrase
    except ValueError:
        return "no detail given"


def _error_code(payload: Any) -> str | None:
    if isinstance(payload, dict):
        code = payload.get("code") or payload.get("error")
        return str(code) if code else None
    return None


def _error_detail(payload: Any, status: int | None) -> str:
    if not isinstance(payload, dict):
        text = secrets.scrub(str(payload or "").strip())
        return text[:EXCERPT_CHARS] or _reason_phrase(status)
    detail = secrets.scrub(
        str(
            payload.get("detail")
            or payload.get("error_description")
            or payload.get("title")
            or payload.get("error")
            or "no detail given"
        )
    )[:EXCERPT_CHARS]
    fields = [
        f"{e.get('field')}: {e.get('message') or e.get('code')}"
        for e in (payload.get("errors") or [])[:3]
        if isinstance(e, dict)
    ]
    return f"{detail} ({'; '.join(fields)})" if fields else detail


def redirect_error(
    request: _Request, response: requests.Response, record: CallRecord, attempts: int
) -> CrmOneError:
    """A 3xx is never followed (the token form holds the secret, a batch personal data): it is
    an error that names the Location's host, never its path or query."""
    location = response.headers.get("Location", "")
    host = location_host(location)
    where = f"to host {host}" if host else "to the same host" if location else "without a Location"
    return CrmOneError(
        response.status_code,
        "redirect",
        f"CRM One answered with a redirect {where}; redirects are not followed (check base_url)",
        request.correlation_id,
        method=request.method,
        path=request.route,
        request_id=record.request_id,
        attempts=attempts,
    )


# --- the client -------------------------------------------------------------------------


class CrmOneClient:
    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        max_concurrency: int = 4,
        call_observer: Callable[[CallRecord], None] | None = None,
        logger: logging.Logger | None = None,
        backoff_base: float = 1.0,
        max_retries: int | None = 8,
        retry_budget_seconds: float = 300.0,
        timeout: float = 60,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._client_id, self._client_secret = client_id, client_secret
        self._observers: list[Callable[[CallRecord], None]] = (
            [call_observer] if call_observer else []
        )
        self._logger = logger or logging.getLogger("airbyte")
        self.policy = RetryPolicy(
            max_retries=max_retries,
            backoff_base=backoff_base,
            budget_seconds=retry_budget_seconds,
        )
        self.pacer = TokenBucket()
        self.timeout = timeout
        self._sleep = sleep
        self.gate = ConcurrencyGate(max_concurrency)
        self._rate_limit = RateLimitHint()
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_maxsize=max(10, 2 * max_concurrency), max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self._token: str | None = None
        self._token_renew_at = 0.0  # time.monotonic()
        self._token_lock = threading.Lock()
        self._count_lock = threading.Lock()
        self.requests_made = 0  # HTTP attempts, token calls included
        self.retries = 0  # attempts after the first of a logical call

    # --- concurrency ---------------------------------------------------------------------

    @property
    def max_concurrency(self) -> int:
        return self.gate.limit

    def limit_concurrency(self, max_concurrency: int) -> None:
        """Change the ceiling, e.g. to min(config, the account's `max_concurrency`)."""
        self.gate.set_limit(max_concurrency)

    def pace(self, requests_per_second: float | None) -> None:
        """Space requests to stay under the account's `requests_per_second` (None: no pacing)."""
        self.pacer.set_rate(requests_per_second)

    # --- the token -----------------------------------------------------------------------

    def _bearer(self) -> str:
        with self._token_lock:
            if self._token is None or time.monotonic() >= self._token_renew_at:
                self._fetch_token()
            return self._token  # type: ignore[return-value]

    def _renew(self, rejected: str) -> None:
        """A 401 for `rejected`: fetch a new token, unless another call already did."""
        with self._token_lock:
            if self._token == rejected or self._token is None:
                self._fetch_token()

    def _fetch_token(self) -> None:
        form = {
            "grant_type": "client_credentials",
            "client_id": self._client_id,
            "client_secret": self._client_secret,
        }
        request = _Request(
            method="POST",
            path=TOKEN_PATH,
            body=urlencode(form).encode(),
            content_type="application/x-www-form-urlencoded",
            logged_body={"grant_type": "client_credentials", "client_id": self._client_id},
            idempotency_key=None,
            authorized=False,
        )
        reply = self._exchange(request)
        body = reply.body if isinstance(reply.body, dict) else {}
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise CrmOneError(
                reply.status,
                "invalid_token_response",
                "the token endpoint answered without an access_token",
                request.correlation_id,
                method="POST",
                path=TOKEN_PATH,
            )
        try:
            lifetime = float(body.get("expires_in", 3600))
        except (TypeError, ValueError):
            lifetime = 3600.0
        secrets.remember(token)  # filtered out of every text from now on
        self._token = token
        self._token_renew_at = (
            time.monotonic() + lifetime - min(TOKEN_MARGIN_SECONDS, lifetime / 10)
        )

    # --- one logical call ----------------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Reply:
        """Send one logical call with the contract's retries; a `Reply` or `CrmOneError`."""
        if idempotency_key is not None and not 0 < len(idempotency_key) <= IDEMPOTENCY_KEY_MAX:
            raise ValueError(f"Idempotency-Key must be 1..{IDEMPOTENCY_KEY_MAX} characters")
        query = f"?{urlencode(params)}" if params else ""
        return self._exchange(
            _Request(
                method=method,
                path=f"{path}{query}",
                body=None if body is None else orjson.dumps(body, default=str),
                content_type=None if body is None else "application/json; charset=utf-8",
                logged_body=body,
                idempotency_key=idempotency_key,
            )
        )

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """`call(...)` and return only the JSON body."""
        return self.call(method, path, **kwargs).body

    def post_batch(self, path: str, body: Any, *, idempotency_key: str) -> Reply:
        """A `POST …/batch…` write: the same Idempotency-Key (and body) on every retry."""
        if not idempotency_key:
            raise ValueError("a batch write needs an Idempotency-Key")
        return self.call("POST", path, body=body, idempotency_key=idempotency_key)

    def _exchange(self, request: _Request) -> Reply:
        attempt = 0
        renewed = False
        first_try = time.monotonic()
        while True:
            attempt += 1
            headers = {"X-Correlation-Id": request.correlation_id, "Accept": "application/json"}
            token = self._bearer() if request.authorized else None
            if token is not None:
                headers["Authorization"] = f"Bearer {token}"
            if request.content_type:
                headers["Content-Type"] = request.content_type
            if request.idempotency_key:
                headers["Idempotency-Key"] = request.idempotency_key
            # Paced by the account's rate, a full window (`Remaining: 0`) is normal at full
            # speed: waiting for the next whole-second `Reset` would stall every call. Without
            # pacing the hint is all there is.
            hold = 0.0 if self.pacer.interval else self._rate_limit.delay()
            if hold > 0:
                self._sleep(hold)
            response, failure, record = self._attempt(request, headers, attempt)
            status = response.status_code if response is not None else None
            if response is not None and status is not None and status < 300:
                return Reply(
                    record.response_body if request.authorized else _decode(response),
                    status,
                    request.correlation_id,
                    record.request_id,
                    attempt,
                )
            if response is not None and status is not None and status < 400:
                raise redirect_error(request, response, record, attempt)
            payload = _decode(response) if response is not None else None
            code = _error_code(payload)
            if status == 401 and token is not None and not renewed and code != "invalid_client":
                renewed = True  # the contract: one new token, one retry
                self._renew(token)
                self._count_retry()
                continue
            pause = self.policy.wait_before_retry(
                attempt,
                status,
                response.headers if response is not None else {},
                code,
                request.idempotency_key,
            )
            if pause is not None and self._out_of_budget(first_try, pause):
                pause = None
            if pause is None:
                raise self._failure(request, status, code, payload, failure, attempt, record)
            self._logger.info(
                "CRM One %s %s: %s; attempt %d in %.2f s (correlation id %s)",
                request.method,
                request.route,
                status if status is not None else record.error,
                attempt + 1,
                pause,
                request.correlation_id,
            )
            self._count_retry()
            self._sleep(pause)

    def _attempt(
        self, request: _Request, headers: dict[str, str], attempt: int
    ) -> tuple[requests.Response | None, Exception | None, CallRecord]:
        """One HTTP attempt inside a concurrency slot, handed to the observers."""
        response: requests.Response | None = None
        failure: Exception | None = None
        with self.gate.slot():
            # Paced once a slot is held: calls queued at a full gate would otherwise leave
            # together when slots free up, and arrive as a burst.
            self.pacer.wait()
            started, clock = now_text(), time.monotonic()
            try:
                response = self.session.request(
                    request.method,
                    f"{self.base_url}{request.path}",
                    data=request.body,
                    headers=headers,
                    timeout=self.timeout,
                    allow_redirects=False,  # a redirect would re-send the secret or the batch
                )
            except requests.RequestException as error:
                failure = error
        duration = int((time.monotonic() - clock) * 1000)
        if response is not None:
            self._rate_limit.note(response.headers)
        payload = _decode(response) if response is not None else None
        if not request.authorized and isinstance(payload, dict):
            payload = {
                k: v for k, v in payload.items() if k not in ("access_token", "refresh_token")
            }
        record = CallRecord(
            method=request.method,
            path=request.path,
            request_body=request.logged_body,
            response_body=payload,
            status=response.status_code if response is not None else None,
            started_at=started,
            ended_at=now_text(),
            attempt=attempt,
            correlation_id=request.correlation_id,
            request_id=response.headers.get("X-Request-Id") if response is not None else None,
            idempotency_key=request.idempotency_key,
            error=self._scrub(f"{type(failure).__name__}: {failure}") if failure else None,
            duration_ms=duration,
        )
        with self._count_lock:
            self.requests_made += 1
        for observer in self._observers:
            observer(record)
        return response, failure, record

    def _out_of_budget(self, first_try: float, pause: float) -> bool:
        return time.monotonic() - first_try + pause > self.policy.budget_seconds

    def _count_retry(self) -> None:
        with self._count_lock:
            self.retries += 1

    def _scrub(self, text: str) -> str:
        """No secret or token in any text this client produces."""
        for secret in (self._client_secret, self._token):
            if secret:
                text = text.replace(secret, "***")
        return text

    def _failure(
        self,
        request: _Request,
        status: int | None,
        code: str | None,
        payload: Any,
        failure: Exception | None,
        attempts: int,
        record: CallRecord,
    ) -> CrmOneError:
        if status is None:
            code = "timeout" if isinstance(failure, requests.Timeout) else "connection_failed"
            detail = f"no response from {self.base_url} ({type(failure).__name__})"
        elif request.path == TOKEN_PATH and status in (400, 401):
            code = code or "invalid_client"
            detail = (
                "CRM One refused the client credentials; check client_id and client_secret"
                if code == "invalid_client"
                else f"the token request was refused: {_error_detail(payload, status)}"
            )
        elif status == 401:
            code = code or "unauthorized"
            detail = f"a freshly issued token was refused too: {_error_detail(payload, status)}"
        else:
            detail = _error_detail(payload, status)
        return CrmOneError(
            status,
            code or "http_error",
            self._scrub(detail),
            request.correlation_id,
            method=request.method,
            path=request.route,
            request_id=record.request_id,
            body=payload if request.authorized else None,
            attempts=attempts,
        )

    # --- the contract's endpoints --------------------------------------------------------

    def account(self) -> dict[str, Any]:
        """`GET /v1/account`: tenant, api_version, limits (batch_max, max_concurrency…)."""
        return self.request("GET", "/v1/account")

    def contact_schema(self) -> dict[str, Any]:
        """`GET /v1/schema/contacts`: `{"properties": [definition…]}`."""
        return self.request("GET", "/v1/schema/contacts")

    def add_contact_property(self, definition: Mapping[str, Any]) -> dict[str, Any]:
        """`POST /v1/schema/contacts/properties` → the stored definition (409: it exists)."""
        return self.request("POST", "/v1/schema/contacts/properties", body=dict(definition))

    def activity_types(self) -> list[str]:
        """Names of the tenant's activity types."""
        return [t["name"] for t in self.request("GET", "/v1/activity-types")["results"]]

    def object_properties(self) -> dict[str, frozenset[str]]:
        """`GET /v1/objects`: the tenant's object types (every tenant has `orders`), each with
        its property names."""
        found = {}
        for kind in self.request("GET", "/v1/objects")["results"]:
            names = [
                p.get("name") if isinstance(p, dict) else p for p in kind.get("properties") or []
            ]
            found[kind["name"]] = frozenset(str(name) for name in names if name)
        return found

    def lists(self) -> list[dict[str, Any]]:
        """`[{"id", "name", "kind"}…]`."""
        return self.request("GET", "/v1/lists")["results"]

    def upsert_contacts(
        self,
        records: list[dict[str, Any]],
        *,
        id_property: str,
        idempotency_key: str,
        allow_recreate_erased: bool = False,
    ) -> Reply:
        """`POST /v1/contacts/batch/upsert`: `results` and per-record `errors`."""
        body: dict[str, Any] = {"id_property": id_property, "records": records}
        if allow_recreate_erased:
            body["allow_recreate_erased"] = True
        return self.post_batch("/v1/contacts/batch/upsert", body, idempotency_key=idempotency_key)

    def read_contacts(
        self,
        ids: list[str],
        *,
        id_property: str = "external_id",
        properties: list[str] | None = None,
    ) -> Reply:
        """`POST /v1/contacts/batch/read`: `results` (with `property_meta`) and `missing`."""
        body: dict[str, Any] = {"id_property": id_property, "ids": ids}
        if properties is not None:
            body["properties"] = properties
        return self.call("POST", "/v1/contacts/batch/read", body=body)

    def find_contact(
        self, external_id: str | None = None, email: str | None = None
    ) -> dict[str, Any] | None:
        """The contact with this external_id (or email), or None."""
        if (external_id is None) == (email is None):
            raise ValueError("find_contact needs exactly one of external_id or email")
        params = {"external_id": external_id} if external_id is not None else {"email": email}
        results = self.request("GET", "/v1/contacts", params=params).get("results") or []
        return results[0] if results else None

    def get_contact(self, contact_id: str) -> dict[str, Any]:
        """`GET /v1/contacts/{id}` (404 as `CrmOneError` if unknown or erased)."""
        return self.request("GET", f"/v1/contacts/{_segment(contact_id)}")

    def archive_contact(self, contact_id: str) -> None:
        """`DELETE /v1/contacts/{id}`: hidden from lists and segments; an upsert restores it."""
        self.call("DELETE", f"/v1/contacts/{_segment(contact_id)}")

    def erase_contact(self, contact_id: str) -> None:
        """`POST /v1/contacts/{id}/erase`: GDPR erasure, for good."""
        self.call("POST", f"/v1/contacts/{_segment(contact_id)}/erase")

    def upsert_consents(self, records: list[dict[str, Any]], *, idempotency_key: str) -> Reply:
        """`POST /v1/consents/batch`: results `applied|stale|unchanged`, per-record `errors`."""
        return self.post_batch(
            "/v1/consents/batch", {"records": records}, idempotency_key=idempotency_key
        )

    def upsert_activities(self, records: list[dict[str, Any]], *, idempotency_key: str) -> Reply:
        """`POST /v1/activities/batch` (idempotent by each activity's external_id)."""
        return self.post_batch(
            "/v1/activities/batch", {"records": records}, idempotency_key=idempotency_key
        )

    def upsert_objects(
        self, object_type: str, records: list[dict[str, Any]], *, idempotency_key: str
    ) -> Reply:
        """`POST /v1/objects/{type}/batch/upsert`."""
        return self.post_batch(
            f"/v1/objects/{_segment(object_type)}/batch/upsert",
            {"records": records},
            idempotency_key=idempotency_key,
        )

    def list_members(
        self,
        list_id: str,
        add: list[str],
        remove: list[str] | None = None,
        *,
        idempotency_key: str,
    ) -> Reply:
        """`POST /v1/lists/{id}/members/batch` by contact external_id: `added`, `removed`."""
        return self.post_batch(
            f"/v1/lists/{_segment(list_id)}/members/batch",
            {"add": list(add), "remove": list(remove or [])},
            idempotency_key=idempotency_key,
        )


def _segment(value: str) -> str:
    return quote(str(value), safe="")
