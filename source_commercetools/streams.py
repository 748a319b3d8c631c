"""Key-set paged commercetools streams.

Every stream, in full refresh and incremental alike, walks its collection in
`(cursor, id)` order and asks for the records strictly after the last one it saw:

    sort=lastModifiedAt asc & sort=id asc
    where=lastModifiedAt > :t or (lastModifiedAt = :t and id > :id)   (var.t, var.id)

so it never uses `offset` (capped at 10,000 by commercetools), never skips rows that
share a millisecond, and never misses a row updated while it reads: the update moves
the row past the current position, where a later page picks it up again.

The position travels in the page token; the state (per store when `store_keys` is set)
is the last `(cursor, id)` emitted and is checkpointed after every page.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from datetime import timedelta
from email.utils import parsedate_to_datetime
from functools import cached_property
from typing import Any

import orjson
import requests
from airbyte_cdk.models import (
    AirbyteMessage,
    AirbyteStateBlob,
    AirbyteStateMessage,
    AirbyteStateType,
    AirbyteStreamState,
    FailureType,
    StreamDescriptor,
    SyncMode,
    Type,
)
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
from airbyte_cdk.utils.datetime_helpers import ab_datetime_now
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_commercetools.auth import error_text
from source_commercetools.config import SourceConfig, format_datetime, parse_datetime

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
Position = tuple[str, str]  # (cursor value in commercetools' form, resource id)


def cursor_value(value: str) -> str:
    """A datetime in commercetools' own form (`2026-11-26T18:40:00.123Z`), so that positions
    compare as strings and are sent back exactly as commercetools writes them."""
    if len(value) == 24 and value[-1] == "Z" and value[19] == ".":
        return value
    return format_datetime(parse_datetime(value))


class CommercetoolsBackoff(BackoffStrategy):
    """Retry-After when commercetools says; else exponential back-off with jitter.

    The CDK adds one second to whatever this returns before it sleeps.
    """

    def __init__(self, base_seconds: float) -> None:
        self._base = base_seconds

    def backoff_time(
        self,
        response_or_exception: requests.Response | requests.RequestException | None,
        attempt_count: int,
    ) -> float | None:
        if isinstance(response_or_exception, requests.Response):
            retry_after = retry_after_seconds(response_or_exception)
            if retry_after is not None:
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
        # Anything not retryable fails here, including statuses the CDK would retry blindly.
        retryable = resolution.response_action in RETRY_ACTIONS and status in self._error_mapping
        if not response_or_exception.ok and not retryable:
            return ErrorResolution(
                response_action=ResponseAction.FAIL,
                failure_type=FailureType.config_error
                if status in (401, 403, 404)
                else FailureType.system_error,
                error_message=f"Stream '{self._stream_name}' failed: commercetools answered "
                f"HTTP {status}: {error_text(response_or_exception)}",
            )
        return resolution


class KeySetStream(HttpStream, CheckpointMixin):
    """One commercetools resource collection, read in (cursor, id) order."""

    primary_key = "id"
    cursor_field = "lastModifiedAt"
    resource: str = ""  # path segment after the project key
    store_scoped = False  # also readable through /in-store/key={storeKey}/...

    def __init__(self, config: SourceConfig, authenticator: Any) -> None:
        self.config = config  # before super(): it asks for the error handler and back-off
        self._start_state: dict[str, Any] = {}  # the state this run started from
        super().__init__(authenticator=authenticator)
        self._positions: dict[str | None, Position] = {}  # progress of this run, per store
        self._margin_seen: set[tuple[str | None, str, Any]] = set()
        self._full_refresh = False
        self._body_cache: tuple[requests.Response, dict[str, Any]] | None = None
        self.custom_field_schema: dict[str, Any] | None = None

    # --- where and how -------------------------------------------------------------

    @property
    def url_base(self) -> str:
        return f"{self.config.api_root}/{self.config.project_key}/"

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

    def get_error_display_message(self, exception: BaseException) -> str | None:
        if isinstance(exception, requests.HTTPError) and exception.response is not None:
            return (
                f"Stream '{self.name}' failed: commercetools answered HTTP "
                f"{exception.response.status_code}: {error_text(exception.response)}"
            )
        return f"Stream '{self.name}' failed: {exception}"

    # --- key-set paging ------------------------------------------------------------

    def extra_predicates(self) -> list[str]:
        return []

    def extra_variables(self) -> dict[str, Any]:
        return {}

    def start_position(self, stream_state: Mapping[str, Any] | None, store: str | None) -> Position:
        """Where a partition starts: after the saved position, minus the look-back window."""
        start = cursor_value(self.config.start_cursor)
        saved = None if self._full_refresh else self.saved_position(stream_state, store)
        if saved is None or saved[0] < start:
            return (start, "")
        if self.config.lookback_window_seconds:
            moment = parse_datetime(saved[0]) - timedelta(
                seconds=self.config.lookback_window_seconds
            )
            return (max(format_datetime(moment), start), "")
        return saved

    def saved_position(
        self, stream_state: Mapping[str, Any] | None, store: str | None
    ) -> Position | None:
        part = (stream_state or {}).get("stores", {}).get(store) if store else stream_state
        if not isinstance(part, Mapping):
            return None
        cursor, record_id = part.get(self.cursor_field), part.get("id")
        if not isinstance(cursor, str) or not isinstance(record_id, str):
            return None
        try:
            return (cursor_value(cursor), record_id)
        except ValueError:
            self.logger.warning("Ignoring an unreadable saved state for %s: %r", self.name, part)
            return None

    def request_params(
        self,
        stream_state: Mapping[str, Any] | None,
        stream_slice: Mapping[str, Any] | None = None,
        next_page_token: Mapping[str, Any] | None = None,
    ) -> MutableMapping[str, Any]:
        if next_page_token:
            position = (next_page_token["cursor"], next_page_token["id"])
        else:
            position = self.start_position(stream_state, (stream_slice or {}).get("store_key"))
        field = self.cursor_field
        return {
            "sort": [f"{field} asc", "id asc"],
            "where": [f"{field} > :t or ({field} = :t and id > :id)", *self.extra_predicates()],
            "var.t": position[0],
            "var.id": position[1],
            **self.extra_variables(),
            "limit": self.config.page_size,
            "withTotal": "false",
        }

    def _results(self, response: requests.Response) -> list[dict[str, Any]]:
        """The page's results, parsed once (orjson) for both parse_response and next_page_token."""
        if self._body_cache is None or self._body_cache[0] is not response:
            body = orjson.loads(response.content)
            if not isinstance(body, dict) or not isinstance(body.get("results"), list):
                raise AirbyteTracedException(
                    message=f"Stream '{self.name}': commercetools answered without a results list",
                    internal_message=response.text[:300],
                    failure_type=FailureType.system_error,
                )
            self._body_cache = (response, body)
        return self._body_cache[1]["results"]

    def next_page_token(self, response: requests.Response) -> Mapping[str, Any] | None:
        results = self._results(response)
        if len(results) < self.config.page_size:
            return None
        for record in reversed(results):
            position = self.position_of(record)
            if position:
                return {"cursor": position[0], "id": position[1]}
        raise AirbyteTracedException(
            message=f"Stream '{self.name}': a full page without {self.cursor_field} and id; "
            "cannot page further",
            failure_type=FailureType.system_error,
        )

    def position_of(self, record: Mapping[str, Any]) -> Position | None:
        cursor, record_id = record.get(self.cursor_field), record.get("id")
        if not isinstance(cursor, str) or not isinstance(record_id, str):
            return None
        try:
            return (cursor_value(cursor), record_id)
        except ValueError:
            return None

    def parse_response(
        self,
        response: requests.Response,
        *,
        stream_state: Mapping[str, Any] | None = None,
        stream_slice: Mapping[str, Any] | None = None,
        **_: Any,
    ) -> Iterable[Mapping[str, Any] | AirbyteMessage]:
        store = (stream_slice or {}).get("store_key")
        results = self._results(response)
        margin_end = None if self._full_refresh else self.saved_position(stream_state, store)
        for record in results:
            position = self.position_of(record)
            if position is None:
                self.logger.warning(
                    "%s: record %s has no usable %s; emitted, cursor not moved",
                    self.name,
                    record.get("id"),
                    self.cursor_field,
                )
            else:
                if margin_end and self.config.lookback_window_seconds and position <= margin_end:
                    # the look-back margin: each (id, version) once per run
                    key = (store, position[1], record.get("version"))
                    if key in self._margin_seen:
                        continue
                    self._margin_seen.add(key)
                current = self._positions.get(store)
                if current and position <= current:
                    if position == current:  # the same record again: already emitted
                        continue
                    raise AirbyteTracedException(
                        message=f"Stream '{self.name}': commercetools returned records out of "
                        f"({self.cursor_field}, id) order; stopping rather than skipping records",
                        internal_message=f"{position} after {current}",
                        failure_type=FailureType.system_error,
                    )
                self._positions[store] = position
            yield self.clean(record, store)
        if len(results) >= self.config.page_size:  # another page follows: checkpoint here
            yield self.state_message()

    def clean(self, record: dict[str, Any], store: str | None) -> dict[str, Any]:
        if store:
            record["_ab_store_key"] = store
        return record

    def read_records(
        self,
        sync_mode: SyncMode,
        cursor_field: list[str] | None = None,
        stream_slice: Mapping[str, Any] | None = None,
        stream_state: Mapping[str, Any] | None = None,
    ) -> Iterable[Mapping[str, Any] | AirbyteMessage]:
        """`stream_state` is the state the run started from; progress lives in the page token."""
        self._full_refresh = sync_mode == SyncMode.full_refresh
        if self._full_refresh:
            stream_state = {}
        yield from super().read_records(
            sync_mode,
            cursor_field=cursor_field,
            stream_slice=stream_slice,
            stream_state=stream_state,
        )

    def iter_records(self) -> Iterator[Mapping[str, Any]]:
        """Every record of every partition (full refresh), without checkpoints: for discover."""
        for stream_slice in self.stream_slices():
            for item in self.read_records(SyncMode.full_refresh, stream_slice=stream_slice):
                if isinstance(item, Mapping):
                    yield item

    # --- state ---------------------------------------------------------------------

    @property
    def state(self) -> MutableMapping[str, Any]:
        state = {} if self._full_refresh else dict(self._start_state)
        stores = dict(state.get("stores") or {})
        for store, (cursor, record_id) in self._positions.items():
            position = {self.cursor_field: cursor, "id": record_id}
            if store is None:
                state.update(position)
            else:
                stores[store] = position
        if stores:
            state["stores"] = stores
        return state

    @state.setter
    def state(self, value: MutableMapping[str, Any]) -> None:
        self._start_state = dict(value or {})
        self._positions = {}

    def state_message(self) -> AirbyteMessage:
        return AirbyteMessage(
            type=Type.STATE,
            state=AirbyteStateMessage(
                type=AirbyteStateType.STREAM,
                stream=AirbyteStreamState(
                    stream_descriptor=StreamDescriptor(name=self.name, namespace=self.namespace),
                    stream_state=AirbyteStateBlob(self.state),
                ),
            ),
        )

    # --- schema --------------------------------------------------------------------

    def get_json_schema(self) -> Mapping[str, Any]:
        return self._json_schema

    @cached_property
    def _json_schema(self) -> dict[str, Any]:
        schema = dict(super().get_json_schema())
        if self.custom_field_schema:
            properties = schema.setdefault("properties", {})
            custom = dict(properties.get("custom") or {"type": ["null", "object"]})
            custom_properties = dict(custom.get("properties") or {})
            custom_properties["fields"] = {
                "type": ["null", "object"],
                "additionalProperties": True,
                "properties": self.custom_field_schema,
            }
            custom["properties"] = custom_properties
            properties["custom"] = custom
        return schema

    def set_custom_field_schema(self, fields: dict[str, Any]) -> None:
        self.custom_field_schema = fields
        self.__dict__.pop("_json_schema", None)


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
        return ["type in :types"] if self.config.message_types else []

    def extra_variables(self) -> dict[str, Any]:
        return {"var.types": list(self.config.message_types)} if self.config.message_types else {}


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
