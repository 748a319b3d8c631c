"""CRM One HTTP client: token, correlation ids, idempotency keys, retries, concurrency.

Why requests and not airbyte-cdk's HttpClient: the sync log must hold every *attempt*
(number, timings, status, body) and the contract's retry rules differ from the CDK's
defaults in ways that are clearer stated once here (401 → one new token; 409 only on
idempotency races; the same Idempotency-Key on every retry of a batch). The policy is
small and lives in `RetryPolicy`.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import requests
from requests.adapters import HTTPAdapter

from destination_crmone.timefmt import format_rfc3339

T = TypeVar("T")
TRANSIENT = {408, 502, 503, 504}


@dataclass(frozen=True)
class CallRecord:
    """One HTTP attempt, as the sync log keeps it."""

    method: str
    path: str
    request_body: Any
    response_body: Any
    status: int | None
    started_at: str
    ended_at: str
    attempt: int
    correlation_id: str
    request_id: str | None
    idempotency_key: str | None
    error: str | None = None


class CrmOneError(Exception):
    """A call that failed for good, in words a user understands (never with a secret)."""

    def __init__(
        self, status: int | None, code: str, detail: str, correlation_id: str = "", body: Any = None
    ) -> None:
        where = f" (correlation id {correlation_id})" if correlation_id else ""
        super().__init__(f"CRM One answered {status or 'no response'} {code}: {detail}{where}")
        self.status, self.code, self.detail = status, code, detail
        self.correlation_id, self.body = correlation_id, body

    @property
    def transient(self) -> bool:
        return self.status is None or self.status in TRANSIENT or self.status in (429, 500)


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 8
    backoff_base: float = 1.0
    backoff_cap: float = 30.0

    def backoff(self, attempt: int) -> float:
        """Exponential back-off with full jitter."""
        return random.uniform(0, min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1)))

    @staticmethod
    def retry_after(response: requests.Response) -> float | None:
        value = response.headers.get("Retry-After")
        try:
            return max(0.0, float(value)) if value is not None else None
        except ValueError:
            return None


def now_text() -> str:
    return format_rfc3339(datetime.now(UTC))


def batch_key(run_id: str, stream: str, kind: str, body: Any) -> str:
    """A deterministic Idempotency-Key: the same batch in the same run gets the same key."""
    payload = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.sha256(f"{run_id}|{stream}|{kind}|{payload}".encode()).hexdigest()
    return f"{kind}-{digest[:56]}"


def _body(response: requests.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text[:2000]


class CrmOneClient:
    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        max_concurrency: int = 4,
        call_observer: Callable[[CallRecord], None] | None = None,
        backoff_base: float = 1.0,
        max_retries: int = 8,
        timeout: float = 60,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._client_id, self._client_secret = client_id, client_secret
        self._observer = call_observer or (lambda record: None)
        self.policy = RetryPolicy(max_retries=max_retries, backoff_base=backoff_base)
        self.timeout = timeout
        self.session = requests.Session()
        self.session.mount("http://", HTTPAdapter(pool_maxsize=32))
        self.session.mount("https://", HTTPAdapter(pool_maxsize=32))
        self._token: str | None = None
        self._token_expiry = 0.0
        self._token_lock = threading.Lock()
        self.max_concurrency = max_concurrency
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self.requests_made = 0
        self.retries = 0
        self._count_lock = threading.Lock()

    def limit_concurrency(self, max_concurrency: int) -> None:
        """Lower the ceiling, e.g. to the account's `max_concurrency`."""
        self.max_concurrency = max(1, max_concurrency)
        self._slots = threading.BoundedSemaphore(self.max_concurrency)

    def run_concurrently(self, calls: Iterable[Callable[[], T]]) -> list[T]:
        calls = list(calls)
        if len(calls) <= 1 or self.max_concurrency == 1:
            return [call() for call in calls]
        with ThreadPoolExecutor(max_workers=self.max_concurrency) as pool:
            return list(pool.map(lambda call: call(), calls))

    # --- token ---------------------------------------------------------------------

    def _access_token(self, force: bool = False) -> str:
        with self._token_lock:
            if force or not self._token or time.time() > self._token_expiry - 60:
                self._fetch_token()
            return self._token  # type: ignore[return-value]

    def _fetch_token(self) -> None:
        form = {
            "grant_type": "client_credentials",
            "client_id": self._client_id,
            "client_secret": self._client_secret,
        }
        logged = {"grant_type": "client_credentials", "client_id": self._client_id}
        correlation = str(uuid.uuid4())
        for attempt in range(1, self.policy.max_retries + 2):
            started = now_text()
            try:
                response = self.session.post(
                    f"{self.base_url}/oauth/token",
                    data=form,
                    headers={"X-Correlation-Id": correlation},
                    timeout=self.timeout,
                )
            except requests.RequestException as error:
                self._record(
                    "POST",
                    "/oauth/token",
                    logged,
                    None,
                    None,
                    started,
                    attempt,
                    correlation,
                    None,
                    None,
                    type(error).__name__,
                )
                if attempt > self.policy.max_retries:
                    raise CrmOneError(
                        None, "connection_failed", str(type(error).__name__), correlation
                    ) from None
                time.sleep(self.policy.backoff(attempt))
                continue
            body = _body(response)
            shown = (
                {k: v for k, v in body.items() if k != "access_token"}
                if isinstance(body, dict)
                else body
            )
            self._record(
                "POST",
                "/oauth/token",
                logged,
                shown,
                response,
                started,
                attempt,
                correlation,
                None,
                None,
            )
            if response.status_code == 200 and isinstance(body, dict):
                self._token = body["access_token"]
                self._token_expiry = time.time() + float(body.get("expires_in", 3600))
                return
            if response.status_code in TRANSIENT | {429} and attempt <= self.policy.max_retries:
                time.sleep(self.policy.retry_after(response) or self.policy.backoff(attempt))
                continue
            if response.status_code == 401:
                raise CrmOneError(
                    401, "invalid_client", "CRM One rejected client_id/client_secret", correlation
                )
            raise CrmOneError(response.status_code, "token_failed", str(shown)[:300], correlation)

    # --- the one request loop ------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        correlation = str(uuid.uuid4())
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            token = self._access_token()
            sent_headers = {
                "Authorization": f"Bearer {token}",
                "X-Correlation-Id": correlation,
                **(headers or {}),
            }
            if idempotency_key:
                sent_headers["Idempotency-Key"] = idempotency_key
            started = now_text()
            try:
                with self._slots:
                    response = self.session.request(
                        method,
                        f"{self.base_url}{path}",
                        json=body,
                        params=params,
                        headers=sent_headers,
                        timeout=self.timeout,
                    )
            except requests.RequestException as error:
                self._record(
                    method,
                    path,
                    body,
                    None,
                    None,
                    started,
                    attempt,
                    correlation,
                    None,
                    idempotency_key,
                    type(error).__name__,
                )
                if attempt > self.policy.max_retries:
                    raise CrmOneError(
                        None, "connection_failed", type(error).__name__, correlation
                    ) from None
                self._retrying(self.policy.backoff(attempt))
                continue
            payload = _body(response)
            request_id = response.headers.get("X-Request-Id")
            self._record(
                method,
                path,
                body,
                payload,
                response,
                started,
                attempt,
                correlation,
                request_id,
                idempotency_key,
            )
            status = response.status_code
            if status < 300:
                return payload
            code = (
                payload.get("code") or payload.get("error") if isinstance(payload, dict) else None
            )
            if status == 401 and not refreshed:
                refreshed = True
                self._access_token(force=True)
                continue
            retryable = (
                status in TRANSIENT
                or status == 429
                or (status == 409 and code and "idempotency" in str(code))
            )
            if retryable and attempt <= self.policy.max_retries:
                wait = self.policy.retry_after(response)
                self._retrying(self.policy.backoff(attempt) if wait is None else wait)
                continue
            detail = (
                payload.get("detail") or payload.get("title")
                if isinstance(payload, dict)
                else str(payload)[:300]
            )
            raise CrmOneError(status, str(code or "http_error"), str(detail), correlation, payload)

    def _retrying(self, wait: float) -> None:
        with self._count_lock:
            self.retries += 1
        time.sleep(wait)

    def _record(
        self,
        method: str,
        path: str,
        request_body: Any,
        response_body: Any,
        response: requests.Response | None,
        started: str,
        attempt: int,
        correlation: str,
        request_id: str | None,
        idempotency_key: str | None,
        error: str | None = None,
    ) -> None:
        with self._count_lock:
            self.requests_made += 1
        self._observer(
            CallRecord(
                method=method,
                path=path,
                request_body=request_body,
                response_body=response_body,
                status=response.status_code if response is not None else None,
                started_at=started,
                ended_at=now_text(),
                attempt=attempt,
                correlation_id=correlation,
                request_id=request_id,
                idempotency_key=idempotency_key,
                error=error,
            )
        )

    # --- the contract's endpoints --------------------------------------------------

    def account(self) -> dict[str, Any]:
        return self.request("GET", "/v1/account")

    def contact_schema(self) -> dict[str, Any]:
        return self.request("GET", "/v1/schema/contacts")

    def activity_types(self) -> list[str]:
        return [t["name"] for t in self.request("GET", "/v1/activity-types")["results"]]

    def object_types(self) -> list[str]:
        return [t["name"] for t in self.request("GET", "/v1/objects")["results"]]

    def lists(self) -> list[dict[str, Any]]:
        return self.request("GET", "/v1/lists")["results"]

    def upsert_contacts(
        self, records: list[dict[str, Any]], *, id_property: str, idempotency_key: str
    ) -> dict[str, Any]:
        return self.request(
            "POST",
            "/v1/contacts/batch/upsert",
            body={"id_property": id_property, "records": records},
            idempotency_key=idempotency_key,
        )

    def read_contacts(
        self,
        ids: list[str],
        *,
        id_property: str = "external_id",
        properties: list[str] | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"id_property": id_property, "ids": ids}
        if properties:
            body["properties"] = properties
        return self.request("POST", "/v1/contacts/batch/read", body=body)

    def find_contact(
        self, *, external_id: str | None = None, email: str | None = None
    ) -> dict[str, Any] | None:
        params = {"external_id": external_id} if external_id else {"email": email}
        results = self.request("GET", "/v1/contacts", params=params)["results"]
        return results[0] if results else None

    def get_contact(self, contact_id: str) -> dict[str, Any]:
        return self.request("GET", f"/v1/contacts/{contact_id}")

    def archive_contact(self, contact_id: str) -> None:
        self.request("DELETE", f"/v1/contacts/{contact_id}")

    def erase_contact(self, contact_id: str) -> None:
        self.request("POST", f"/v1/contacts/{contact_id}/erase")

    def upsert_consents(
        self, records: list[dict[str, Any]], *, idempotency_key: str
    ) -> dict[str, Any]:
        return self.request(
            "POST", "/v1/consents/batch", body={"records": records}, idempotency_key=idempotency_key
        )

    def upsert_activities(
        self, records: list[dict[str, Any]], *, idempotency_key: str
    ) -> dict[str, Any]:
        return self.request(
            "POST",
            "/v1/activities/batch",
            body={"records": records},
            idempotency_key=idempotency_key,
        )

    def upsert_objects(
        self, object_type: str, records: list[dict[str, Any]], *, idempotency_key: str
    ) -> dict[str, Any]:
        return self.request(
            "POST",
            f"/v1/objects/{object_type}/batch/upsert",
            body={"records": records},
            idempotency_key=idempotency_key,
        )

    def list_members(
        self, list_id: str, add: list[str], remove: list[str] | None = None, *, idempotency_key: str
    ) -> dict[str, Any]:
        return self.request(
            "POST",
            f"/v1/lists/{list_id}/members/batch",
            body={"add": add, "remove": remove or []},
            idempotency_key=idempotency_key,
        )
