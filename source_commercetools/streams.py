"""Key-set paged commercetools streams.

Every stream, in full refresh and incremental alike, walks its collection in
`(cursor, id)` order and asks for the records strictly after the last one it saw:

    sort=lastModifiedAt asc & sort=id asc
    where=lastModifiedAt > :t or (lastModifiedAt = :t and id > :id)   (var.t, var.id)

so it never uses `offset` (capped at 10,000 by commercetools), never skips rows that
share a millisecond, and never misses a row updated while it reads: the update moves
the row past the current position, where a later page picks it up again.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, MutableMapping
from datetime import timedelta
from typing import Any

import requests
from airbyte_cdk.models import FailureType, SyncMode
from airbyte_cdk.sources.streams.core import CheckpointMixin
from airbyte_cdk.sources.streams.http import HttpStream
from airbyte_cdk.sources.streams.http.error_handlers import (
    BackoffStrategy,
    ErrorHandler,
    ErrorResolution,
    HttpStatusErrorHandler,
    ResponseAction,
)
from airbyte_cdk.sources.streams.http.error_handlers.default_error_mapping import (
    DEFAULT_ERROR_MAPPING,
)

from source_commercetools.config import SourceConfig, format_datetime, parse_datetime

RETRYABLE_STATUSES = (429, 500, 502, 503, 504)
Position = dict[str, str]  # {"cursor": <RFC 3339 ms Z>, "id": <resource id>}


def commercetools_error_message(response: requests.Response) -> str:
    """commercetools' own words from an error body, else the raw text."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or response.reason
    if isinstance(body, dict):
        message = body.get("message") or body.get("error_description") or body.get("error")
        if message:
            return str(message)
    return response.text[:300]


class CommercetoolsBackoff(BackoffStrategy):
    """Retry-After when the server says; else exponential back-off with jitter."""

    def __init__(self, base_seconds: float) -> None:
        self._base = base_seconds

    def backoff_time(self, response_or_exception, attempt_count: int) -> float | None:  # type: ignore[override]
        if isinstance(response_or_exception, requests.Response):
            retry_after = response_or_exception.headers.get("Retry-After")
            if retry_after:
                try:
                    return max(0.0, float(retry_after))
                except ValueError:
                    pass
        ceiling = self._base * 2 ** max(0, attempt_count - 1)
        return ceiling / 2 + random.uniform(0, ceiling / 2)


class CommercetoolsErrorHandler(HttpStatusErrorHandler):
    """The CDK's defaults, plus: 401 refreshes the token once; failures name stream and status."""

    def __init__(self, stream_name: str, logger: Any) -> None:
        mapping = dict(DEFAULT_ERROR_MAPPING)
        mapping[401] = ErrorResolution(
            response_action=ResponseAction.REFRESH_TOKEN_THEN_RETRY,
            failure_type=FailureType.config_error,
            error_message="commercetools rejected the access token",
        )
        for status in RETRYABLE_STATUSES:
            mapping[status] = ErrorResolution(
                response_action=ResponseAction.RATE_LIMITED
                if status == 429
                else ResponseAction.RETRY,
                failure_type=FailureType.transient_error,
                error_message=f"commercetools answered {status}; retrying",
            )
        super().__init__(logger=logger, error_mapping=mapping, max_retries=8)
        self._stream_name = stream_name

    def interpret_response(self, response_or_exception=None) -> ErrorResolution:  # type: ignore[override]
        resolution = super().interpret_response(response_or_exception)
        if resolution.response_action == ResponseAction.FAIL and isinstance(
            response_or_exception, requests.Response
        ):
            status = response_or_exception.status_code
            message = commercetools_error_message(response_or_exception)
            return ErrorResolution(
                response_action=ResponseAction.FAIL,
                failure_type=FailureType.config_error
                if status in (401, 403, 404)
                else FailureType.system_error,
                error_message=f"Stream '{self._stream_name}' failed: commercetools answered "
                f"HTTP {status}: {message}",
            )
        return resolution


class KeySetStream(HttpStream, CheckpointMixin):
    """One commercetools resource collection, read in (cursor, id) order."""

    primary_key = "id"
    cursor_field = "lastModifiedAt"
    resource: str = ""  # path segment after the project key
    store_scoped = False  # readable through /in-store/key={storeKey}/...

    def __init__(self, config: SourceConfig, authenticator: Any) -> None:
        self.config = config  # before super(): it asks for the error handler and back-off
        super().__init__(authenticator=authenticator)
        self._state: MutableMapping[str, Any] = {}
        self._seen: set[tuple[str, Any]] = set()
        self.custom_field_schema: dict[str, Any] | None = None

    # --- where and how -------------------------------------------------------------

    @property
    def url_base(self) -> str:
        return f"{self.config.api_root}/{self.config.project_key}/"

    @property
    def state_checkpoint_interval(self) -> int:
        return self.config.page_size

    @property
    def stores(self) -> list[str]:
        return list(self.config.store_keys) if self.store_scoped else []

    def path(self, *, stream_slice: Mapping[str, Any] | None = None, **_: Any) -> str:
        store = (stream_slice or {}).get("store_key")
        return f"in-store/key={store}/{self.resource}" if store else self.resource

    def stream_slices(self, **_: Any) -> Iterable[Mapping[str, Any]]:
        if self.stores:
            for store in self.stores:
                yield {"store_key": store}
        else:
            yield {}

    def get_error_handler(self) -> ErrorHandler:
        return CommercetoolsErrorHandler(self.name, self.logger)

    def get_backoff_strategy(self) -> BackoffStrategy:
        return CommercetoolsBackoff(self.config.retry_backoff_seconds)

    # --- key-set paging ------------------------------------------------------------

    def extra_predicates(self) -> list[str]:
        return []

    def start_position(
        self, stream_state: Mapping[str, Any] | None, stream_slice: Mapping[str, Any] | None
    ) -> Position:
        saved = partition_state(stream_state or {}, (stream_slice or {}).get("store_key"))
        if not saved:
            return {"cursor": self.config.start_cursor, "id": ""}
        if self.config.lookback_window_seconds:
            moment = parse_datetime(saved["cursor"]) - timedelta(
                seconds=self.config.lookback_window_seconds
            )
            return {"cursor": max(format_datetime(moment), self.config.start_cursor), "id": ""}
        return {"cursor": saved["cursor"], "id": saved["id"]}

    def request_params(
        self,
        stream_state: Mapping[str, Any] | None,
        stream_slice: Mapping[str, Any] | None = None,
        next_page_token: Mapping[str, Any] | None = None,
    ) -> MutableMapping[str, Any]:
        position = next_page_token or self.start_position(stream_state, stream_slice)
        field = self.cursor_field
        return {
            "sort": [f"{field} asc", "id asc"],
            "where": [f"{field} > :t or ({field} = :t and id > :id)", *self.extra_predicates()],
            "var.t": position["cursor"],
            "var.id": position["id"],
            "limit": self.config.page_size,
            "withTotal": "false",
        }

    def next_page_token(self, response: requests.Response) -> Mapping[str, Any] | None:
        results = response.json().get("results", [])
        if len(results) < self.config.page_size:
            return None
        last = results[-1]
        return {"cursor": last[self.cursor_field], "id": last["id"]}

    def parse_response(
        self,
        response: requests.Response,
        *,
        stream_slice: Mapping[str, Any] | None = None,
        **_: Any,
    ) -> Iterable[Mapping[str, Any]]:
        store = (stream_slice or {}).get("store_key")
        for record in response.json().get("results", []):
            key = (record["id"], record.get("version"))
            if key in self._seen:  # re-read by the look-back window
                continue
            self._seen.add(key)
            self._advance(store, record)
            yield self.clean(record, store)

    def clean(self, record: dict[str, Any], store: str | None) -> dict[str, Any]:
        if store:
            record["_ab_store_key"] = store
        return record

    # --- state ---------------------------------------------------------------------

    @property
    def state(self) -> MutableMapping[str, Any]:
        return self._state

    @state.setter
    def state(self, value: MutableMapping[str, Any]) -> None:
        self._state = dict(value or {})

    def _advance(self, store: str | None, record: Mapping[str, Any]) -> None:
        position = (record[self.cursor_field], record["id"])
        saved = partition_state(self._state, store)
        if saved and (saved["cursor"], saved["id"]) >= position:
            return
        new = {"cursor": position[0], "id": position[1]}
        if store:
            self._state.setdefault("stores", {})[store] = new
        else:
            self._state.update(new)

    def read_records(
        self,
        sync_mode: SyncMode,
        cursor_field: list[str] | None = None,
        stream_slice: Mapping[str, Any] | None = None,
        stream_state: Mapping[str, Any] | None = None,
    ) -> Iterable[Mapping[str, Any]]:
        if sync_mode == SyncMode.full_refresh:
            stream_state = {}
        elif stream_state and not self._state:
            self._state = dict(stream_state)
        yield from super().read_records(
            sync_mode,
            cursor_field=cursor_field,
            stream_slice=stream_slice,
            stream_state=stream_state,
        )

    def get_json_schema(self) -> Mapping[str, Any]:
        schema = dict(super().get_json_schema())
        if self.custom_field_schema:
            custom = schema.setdefault("properties", {}).setdefault(
                "custom", {"type": ["null", "object"], "properties": {}}
            )
            custom.setdefault("properties", {})["fields"] = {
                "type": ["null", "object"],
                "additionalProperties": True,
                "properties": self.custom_field_schema,
            }
        return schema


def partition_state(state: Mapping[str, Any], store: str | None) -> Position | None:
    """The saved position of one partition (a store, or the whole project)."""
    part = state.get("stores", {}).get(store) if store else state
    if part and part.get("cursor") and "id" in part:
        return {"cursor": part["cursor"], "id": part["id"]}
    return None


class Customers(KeySetStream):
    resource = "customers"
    store_scoped = True

    def clean(self, record: dict[str, Any], store: str | None) -> dict[str, Any]:
        record.pop("password", None)  # a password hash is never emitted
        return super().clean(record, store)


class Orders(KeySetStream):
    resource = "orders"
    store_scoped = True


class Carts(KeySetStream):
    resource = "carts"
    store_scoped = True


class Payments(KeySetStream):
    resource = "payments"


class Products(KeySetStream):
    resource = "products"


class DiscountCodes(KeySetStream):
    resource = "discount-codes"


class Stores(KeySetStream):
    resource = "stores"


class CustomerGroups(KeySetStream):
    resource = "customer-groups"


class Types(KeySetStream):
    resource = "types"


class Messages(KeySetStream):
    """Change messages: deletions and state changes that queries cannot show."""

    resource = "messages"
    cursor_field = "createdAt"

    def extra_predicates(self) -> list[str]:
        if not self.config.message_types:
            return []
        quoted = ", ".join('"' + t.replace('"', "") + '"' for t in self.config.message_types)
        return [f"type in ({quoted})"]


STREAM_CLASSES: dict[str, type[KeySetStream]] = {
    "customers": Customers,
    "orders": Orders,
    "carts": Carts,
    "payments": Payments,
    "products": Products,
    "discount_codes": DiscountCodes,
    "stores": Stores,
    "customer_groups": CustomerGroups,
    "types": Types,
    "messages": Messages,
}
