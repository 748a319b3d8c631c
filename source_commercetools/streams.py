"""The commercetools streams: one table of declarations, one key-set stream class.

Every stream, in full refresh and incremental alike, walks its collection in `(cursor, id)`
order with a `KeySetCursor` (see cursor.py): no `offset` (capped at 10,000 by commercetools),
no rows skipped in a crowded millisecond, none missed when updated while being read (the
update moves the row past the position, where a later page meets it again).

The state (per store when `store_keys` is set) is the cursor's: the newest `(cursor, id)`
emitted and the `(id, version)` of the records within the look-back margin; it is
checkpointed after every page. A first read of a large partition is split into time slices
read concurrently (`concurrency` requests at most); their exact progress is the state until
they are all done.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

import requests
from airbyte_cdk.models import (
    AirbyteMessage,
    AirbyteRecordMessage,
    AirbyteStateBlob,
    AirbyteStateMessage,
    AirbyteStateType,
    AirbyteStreamState,
    FailureType,
    StreamDescriptor,
    SyncMode,
    Type,
)
from airbyte_cdk.sources.http_config import MAX_CONNECTION_POOL_SIZE
from airbyte_cdk.sources.streams.core import CheckpointMixin
from airbyte_cdk.sources.streams.http import HttpStream
from airbyte_cdk.sources.streams.http.error_handlers import BackoffStrategy, ErrorHandler
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_commercetools.bounds import RequestBounds, bound_session
from source_commercetools.config import SourceConfig, format_datetime, parse_datetime
from source_commercetools.cursor import KeySetCursor, OutOfOrder, position_of
from source_commercetools.http import (
    CommercetoolsBackoff,
    CommercetoolsErrorHandler,
    PageFetcher,
    error_text,
    limit_of,
)
from source_commercetools.pages import NoPosition, PageReader
from source_commercetools.state import (
    merged_state,
    partition_cursors,
    partition_memory,
    partition_state,
    whole_state,
    with_read_time,
)

Record = dict[str, Any]
GLOBAL = "(global)"  # the partition of customers in no store (never a valid store key)
GLOBAL_PREDICATE = "stores is empty"
SLICES_PER_REQUEST_SLOT = 2  # more slices than workers evens out unevenly filled time ranges


def keep(record: Record) -> Record:
    return record


def without_password(record: Record) -> Record:
    record.pop("password", None)  # a password hash is never emitted
    return record


def message_type_filter(config: SourceConfig) -> tuple[list[str], dict[str, Any]]:
    if not config.message_types:
        return [], {}
    return ["type in :types"], {"var.types": list(config.message_types)}


def no_filter(config: SourceConfig) -> tuple[list[str], dict[str, Any]]:
    return [], {}


@dataclass(frozen=True)
class StreamDeclaration:
    name: str
    resource: str  # path segment after the project key
    scope: str  # the read-only scope family ({scope}:{projectKey}[:{storeKey}])
    cursor_field: str = "lastModifiedAt"
    store_scoped: bool = False  # also readable through /in-store/key={storeKey}/...
    clean: Callable[[Record], Record] = keep
    filters: Callable[[SourceConfig], tuple[list[str], dict[str, Any]]] = field(default=no_filter)
    keeps_read_time: bool = False  # state `read_at`: when the last complete read started


STREAMS: tuple[StreamDeclaration, ...] = (
    StreamDeclaration(
        "customers", "customers", "view_customers", store_scoped=True, clean=without_password
    ),
    StreamDeclaration("orders", "orders", "view_orders", store_scoped=True),
    StreamDeclaration("carts", "carts", "view_orders", store_scoped=True),
    StreamDeclaration("payments", "payments", "view_payments"),
    StreamDeclaration("products", "products", "view_products"),
    StreamDeclaration("discount_codes", "discount-codes", "view_discount_codes"),
    StreamDeclaration("stores", "stores", "view_stores"),
    StreamDeclaration("customer_groups", "customer-groups", "view_customer_groups"),
    StreamDeclaration("types", "types", "view_types"),
    # Change messages: deletions and state changes that queries cannot show.
    StreamDeclaration(
        "messages",
        "messages",
        "view_messages",
        cursor_field="createdAt",
        filters=message_type_filter,
        keeps_read_time=True,  # the retention check asks how long ago Messages were read
    ),
)
DECLARATIONS: dict[str, StreamDeclaration] = {d.name: d for d in STREAMS}


class CommercetoolsStream(HttpStream, CheckpointMixin):
    """One commercetools resource collection, read in (cursor, id) order."""

    primary_key = "id"

    def __init__(
        self, declaration: StreamDeclaration, config: SourceConfig, authenticator: Any
    ) -> None:
        self.declaration = declaration
        self.config = config  # before super(): it asks for the error handler and back-off
        self.backoff = CommercetoolsBackoff(config.retry_backoff_seconds)  # shared by slices
        self.bounds = RequestBounds.of(config)
        self.auth = authenticator  # for the one-attempt requests outside the CDK client
        super().__init__(authenticator=authenticator)
        # The CDK's client has no public hook for its session's adapters.
        bound_session(self._http_client._session, self.bounds, MAX_CONNECTION_POOL_SIZE)
        self._start_state: dict[str, Any] = {}  # the state this run started from
        self._progress: dict[str | None, dict[str, Any]] = {}  # per store, this run
        self._full_refresh = False
        self._state_cache: dict[str, Any] | None = None
        self.custom_field_schema: dict[str, Any] | None = None
        partitions = max(len(self.stores), 1)
        self.margin_memory = partition_memory(  # entries per partition; see build_streams
            config.lookback_memory_max, partitions, partitions, config.lookback_window_seconds
        )
        self._told_memory_bound = False

    # --- what and where ------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.declaration.name

    @property
    def cursor_field(self) -> str:
        return self.declaration.cursor_field

    @property
    def url_base(self) -> str:
        return f"{self.config.api_root}/{self.config.project_key}/"

    @property
    def stores(self) -> list[str]:
        """The partitions read through stores; with `include_global_customers`, customers
        also have `GLOBAL`: the project's customers of no store (`stores is empty`)."""
        if not self.declaration.store_scoped or not self.config.store_keys:
            return []
        extra = [GLOBAL] if self.reads_global_customers else []
        return [*self.config.store_keys, *extra]

    @property
    def reads_global_customers(self) -> bool:
        return self.config.include_global_customers and self.declaration.resource == "customers"

    def resource_path(self, store: str | None) -> str:
        resource = self.declaration.resource
        return f"in-store/key={store}/{resource}" if store and store != GLOBAL else resource

    def path(self, *, stream_slice: Mapping[str, Any] | None = None, **_: Any) -> str:
        return self.resource_path((stream_slice or {}).get("store_key"))

    def stream_slices(self, **_: Any) -> Iterable[Mapping[str, Any]]:
        if self.stores:
            for store in self.stores:
                yield {"store_key": store}
        else:
            yield {}

    def get_error_handler(self) -> ErrorHandler:
        return CommercetoolsErrorHandler(self.name, self.logger, self.bounds)

    def get_backoff_strategy(self) -> BackoffStrategy:
        return self.backoff

    def get_error_display_message(self, exception: BaseException) -> str | None:
        if isinstance(exception, requests.HTTPError) and exception.response is not None:
            return (
                f"Stream '{self.name}' failed: commercetools answered HTTP "
                f"{exception.response.status_code}: {error_text(exception.response)}"
            )
        return f"Stream '{self.name}' failed: {exception}"

    # --- requests ------------------------------------------------------------------

    def fetch(self, store: str | None, params: dict[str, Any]) -> list[Record]:
        """One page: the request path `check` and `read` share."""
        self.backoff.pause()  # a 429 to any slice holds every new request of the stream
        predicates, variables = self.declaration.filters(self.config)
        if store == GLOBAL:
            predicates = [*predicates, GLOBAL_PREDICATE]
        if predicates:
            params = {
                **params,
                "where": [*params.get("where", []), *predicates],
                **variables,
            }
        return self.pages.page(self.url_base + self.resource_path(store), params)

    @cached_property
    def pages(self) -> PageFetcher:
        return PageFetcher(
            self._http_client,
            self.name,
            self.config.max_response_mib << 20,
            self.bounds,
            self.backoff,
        )

    def newest(self, store: str | None) -> Record | None:
        """The record last in (cursor, id) order, to place slice boundaries."""
        cursor = self.cursor_field
        page = self.fetch(
            store,
            {"sort": [f"{cursor} desc", "id desc"], "limit": 1, "withTotal": "false"},
        )
        return page[0] if page else None

    # HttpStream's paging hooks are unused: read_records pages with the cursor.
    def next_page_token(self, response: requests.Response) -> Mapping[str, Any] | None:
        return None

    def parse_response(self, response: requests.Response, **_: Any) -> Iterable[Mapping]:
        return []

    # --- reading -------------------------------------------------------------------

    def read_records(
        self,
        sync_mode: SyncMode,
        cursor_field: list[str] | None = None,
        stream_slice: Mapping[str, Any] | None = None,
        stream_state: Mapping[str, Any] | None = None,
    ) -> Iterable[Mapping[str, Any] | AirbyteMessage]:
        """`stream_state` is the state the run started from; progress lives in the cursors."""
        self._full_refresh = sync_mode == SyncMode.full_refresh
        self._state_cache = None
        store = (stream_slice or {}).get("store_key")
        saved = {} if self._full_refresh else partition_state(stream_state, store)
        slices = partition_cursors(
            self.cursor_field,
            saved,
            self.config.start_cursor,
            self.config.lookback_window_seconds,
            self.margin_memory,
        )
        started = format_datetime(datetime.now(UTC))
        yield from self.read_guarded(store, slices)
        if self.declaration.keeps_read_time and store in self._progress:
            self.set_progress(store, with_read_time(self._progress[store], started))

    def read_guarded(
        self, store: str | None, slices: list[KeySetCursor]
    ) -> Iterator[Mapping[str, Any] | AirbyteMessage]:
        """`read_partition`, its paging failures worded for the user."""
        try:
            yield from self.read_partition(store, slices)
        except OutOfOrder as problem:
            raise AirbyteTracedException(
                message=f"Stream '{self.name}': commercetools returned records out of "
                f"({self.cursor_field}, id) order; stopping rather than skipping records",
                internal_message=str(problem),
                failure_type=FailureType.system_error,
            ) from None
        except NoPosition as problem:
            raise AirbyteTracedException(
                message=f"Stream '{self.name}': {problem}",
                failure_type=FailureType.system_error,
            ) from None

    def read_partition(
        self, store: str | None, slices: list[KeySetCursor]
    ) -> Iterator[Mapping[str, Any] | AirbyteMessage]:
        """Records and checkpoints of one partition: the first page of a fresh read alone,
        then, if it was full, the rest as concurrent time slices."""
        concurrency = self.config.concurrency
        horizon = None
        if len(slices) == 1 and slices[0].saved is None and slices[0].position is None:
            first = slices[0]
            records = self.fetch(store, first.params(self.config.page_size))
            yield from self.messages(first, records, store)
            if len(records) < limit_of(records, self.config.page_size):
                first.finish()
                self.set_progress(store, merged_state(self.cursor_field, [first]))
                return
            self.set_progress(store, merged_state(self.cursor_field, [first]))
            yield self.state_message()
            if concurrency > 1:
                horizon, boundaries = self.boundaries(store, first, concurrency)
                slices = first.split(boundaries)
        fetch = self.fetch
        reader = PageReader(
            slices,
            lambda params: fetch(store, params),
            self.config.page_size,
            concurrency,
            horizon,
        )
        for page in reader:
            cursor = page.cursor
            yield from self.messages(cursor, page.records, store)
            cursor.trim()
            if page.last:
                cursor.finish()
            current = reader.slices()
            self.set_progress(store, merged_state(self.cursor_field, current))
            self.tell_memory_bound(current)
            if not all(s.done for s in current):
                yield self.state_message()

    def tell_memory_bound(self, slices: list[KeySetCursor]) -> None:
        """Once a run: more records changed within the look-back window than the state keeps."""
        if self._told_memory_bound or not any(s.dropped for s in slices):
            return
        self._told_memory_bound = True
        self.logger.warning(
            "Stream '%s': more than %d records changed within the %s s look-back window; the "
            "state remembers the newest %d, so the next run emits the older ones again (at "
            "least once, never lost). Raise lookback_memory_max to avoid the repeats.",
            self.name,
            self.margin_memory,
            self.config.lookback_window_seconds,
            self.margin_memory,
        )

    def emitted(
        self, cursor: KeySetCursor, records: list[Record], store: str | None
    ) -> list[Record]:
        """The page's records to emit, in order, cleaned (the cursor moves past each)."""
        clean = self.declaration.clean
        kept = []
        for record in records:
            if cursor.advance(record):
                if store and store != GLOBAL:
                    record["_ab_store_key"] = store
                kept.append(clean(record))
        return kept

    def messages(
        self, cursor: KeySetCursor, records: list[Record], store: str | None
    ) -> list[AirbyteMessage]:
        """The page's records as RECORD messages, built here once (the CDK would copy each
        record and wrap it again) and a page at a time (a generator per record costs more
        than the list): the hot path of a large read."""
        emitted_at = time.time_ns() // 1_000_000
        name = self.name
        return [
            AirbyteMessage(
                type=Type.RECORD,
                record=AirbyteRecordMessage(stream=name, data=record, emitted_at=emitted_at),
            )
            for record in self.emitted(cursor, records, store)
        ]

    def boundaries(
        self, store: str | None, cursor: KeySetCursor, concurrency: int
    ) -> tuple[str | None, list[str]]:
        """The newest record's cursor value, and evenly spaced values between the position and
        it (the reader splits slices further where records are dense)."""
        newest = self.newest(store)
        position = cursor.position
        last = position_of(newest, self.cursor_field) if newest else None
        if position is None or last is None or last[0] <= position[0]:
            return None, []
        low, high = parse_datetime(position[0]), parse_datetime(last[0])
        count = concurrency * SLICES_PER_REQUEST_SLOT
        step = (high - low) / count
        if step < timedelta(milliseconds=1):
            return last[0], []
        return last[0], [format_datetime(low + step * i) for i in range(1, count)]

    def iter_records(self) -> Iterator[Record]:
        """Every record of every partition, from the very first (no start date), without
        checkpoints: for discover."""
        for stream_slice in self.stream_slices():
            store = stream_slice.get("store_key")
            cursor = KeySetCursor.fresh(self.cursor_field, None)
            pages = PageReader(
                [cursor], lambda p, s=store: self.fetch(s, p), self.config.page_size, 1
            )
            for page in pages:
                yield from self.emitted(cursor, page.records, store)

    # --- state ---------------------------------------------------------------------

    def set_progress(self, store: str | None, state: dict[str, Any]) -> None:
        self._progress[store] = state
        self._state_cache = None

    @property
    def state(self) -> MutableMapping[str, Any]:
        # The CDK asks for the state after every record: computed once per page.
        if self._state_cache is None:
            self._state_cache = self._current_state()
        return self._state_cache

    def _current_state(self) -> dict[str, Any]:
        return whole_state({} if self._full_refresh else self._start_state, self._progress)

    @state.setter
    def state(self, value: MutableMapping[str, Any]) -> None:
        self._start_state = dict(value or {})
        self._progress = {}
        self._state_cache = None

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


def build_streams(
    config: SourceConfig, authenticator: Any, selected: Iterable[str] | None = None
) -> list[CommercetoolsStream]:
    """Every stream; the look-back memory is shared out among the partitions of the
    `selected` streams (all when not given), so that the whole state stays within budget."""
    streams = [CommercetoolsStream(declaration, config, authenticator) for declaration in STREAMS]
    chosen = set(selected) if selected is not None else {stream.name for stream in streams}
    all_partitions = sum(max(len(s.stores), 1) for s in streams if s.name in chosen)
    for stream in streams:
        stream.margin_memory = partition_memory(
            config.lookback_memory_max,
            max(len(stream.stores), 1),
            all_partitions,
            config.lookback_window_seconds,
        )
    return streams
