"""Id reconciliation: `customer_ids`, `order_ids`, `cart_ids`.

commercetools announces some deletions with a Message (customers, orders) that expires after
the project's retention, and others with none at all (carts, also when deleted by their time
to live; a customer leaving a store). A snapshot of every live id is the one way to see them:
what the destination wrote and the snapshot lacks was deleted.

A snapshot reads `{id, version, lastModifiedAt}` of every live record through GraphQL (the
REST API has no field selection: a customer is ~2 KB, its id and version ~60 bytes), in-store
for each `store_keys` entry, key-set paged by `(lastModifiedAt, id)` like every other stream,
in concurrent time slices after a full first page (a record changed during the read moves
ahead of the position and is met again; none is missed). It
emits one RECORD per record and, once every partition is read, one last RECORD

    {"_ab_snapshot": {"complete": true, "started_at", "safe_before", "count", "stores"}}

and a STATE `{"snapshot": {"completed_at", "started_at", "count"}}`. Only that last record
makes a snapshot usable: a sync stopped before it leaves nothing the destination may act on.
`safe_before` is `started_at` less the look-back window: a record changed after it may be
missing from the snapshot because it was not visible yet, so the destination leaves it alone.

A snapshot runs when the last complete one is `reconcile_every_hours` old (0: every run), or
when the source found that announced deletions may have been lost (`forced_by`). The streams
offer incremental sync (cursor `lastModifiedAt`, source-defined) only so that Airbyte keeps
their state from one sync to the next (it starts full-refresh streams without one): every
snapshot is whole, whatever the mode.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from airbyte_cdk.models import (
    AirbyteMessage,
    AirbyteRecordMessage,
    FailureType,
    SyncMode,
    Type,
)
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_commercetools.config import SourceConfig, format_datetime, parse_datetime
from source_commercetools.cursor import KeySetCursor, position_of
from source_commercetools.http import read_body, redirect_problem
from source_commercetools.streams import (
    GLOBAL,
    GLOBAL_PREDICATE,
    CommercetoolsStream,
    StreamDeclaration,
)

MARKER = "_ab_snapshot"
VARIABLE = re.compile(r":([A-Za-z0-9]+)")
# GraphQL query fields of the collections a snapshot reads (in-store: the same names).
GRAPHQL_FIELDS = {"customers": "customers", "orders": "orders", "carts": "carts"}
SNAPSHOTS: tuple[StreamDeclaration, ...] = (
    StreamDeclaration("customer_ids", "customers", "view_customers", store_scoped=True),
    StreamDeclaration("order_ids", "orders", "view_orders", store_scoped=True),
    StreamDeclaration("cart_ids", "carts", "view_orders", store_scoped=True),
)
# Which snapshot finds the deletions a lost Message would have announced.
RECONCILES = {"customers": "customer_ids", "orders": "order_ids"}
SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "additionalProperties": True,
    "properties": {
        "id": {"type": ["null", "string"]},
        "version": {"type": ["null", "integer"]},
        "lastModifiedAt": {"type": ["null", "string"], "format": "date-time"},
        "_ab_store_key": {"type": ["null", "string"]},
        MARKER: {
            "type": ["null", "object"],
            "properties": {
                "complete": {"type": "boolean"},
                "started_at": {"type": "string", "format": "date-time"},
                "safe_before": {"type": "string", "format": "date-time"},
                "count": {"type": "integer"},
                "stores": {"type": ["null", "array"], "items": {"type": "string"}},
            },
        },
    },
}


def graphql_query(field: str, in_store: bool) -> str:
    arguments = "where: $where, sort: $sort, limit: $limit"
    page = f"{field}({arguments}) {{ results {{ id version lastModifiedAt }} }}"
    if in_store:
        return (
            "query Ids($store: String!, $where: String, $sort: [String!], $limit: Int) "
            f"{{ inStore(key: $store) {{ {page} }} }}"
        )
    return f"query Ids($where: String, $sort: [String!], $limit: Int) {{ {page} }}"


def literal(value: str) -> str:
    """A string literal of the predicate language (GraphQL takes no `var.*` variables)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def inline(predicate: str, params: Mapping[str, Any]) -> str:
    """A predicate with its `:name` input variables replaced by quoted literals of their
    values (GraphQL's `where` takes none); names are the key-set reader's own (t, id, end)."""

    def value(match: re.Match[str]) -> str:
        values = params.get(f"var.{match[1]}")
        if not isinstance(values, str | list) or not values:
            raise ValueError(f"no value for :{match[1]}")
        return literal(values if isinstance(values, str) else values[0])

    return VARIABLE.sub(value, predicate)


class IdSnapshotStream(CommercetoolsStream):
    """Every live id (and version) of one collection; full refresh, at an interval."""

    def __init__(
        self, declaration: StreamDeclaration, config: SourceConfig, authenticator: Any
    ) -> None:
        super().__init__(declaration, config, authenticator)
        self.forced_by: str | None = None  # why this run must reconcile whatever the interval
        self._started_at: datetime | None = None
        self._count = 0
        self._due: bool | None = None

    def get_json_schema(self) -> Mapping[str, Any]:
        return SCHEMA

    def stream_slices(self, **_: Any) -> Iterable[Mapping[str, Any]]:
        stores = self.stores or [None]
        for at, store in enumerate(stores):
            yield {"store_key": store, "last": at == len(stores) - 1} if store else {"last": True}

    # --- when ----------------------------------------------------------------------

    def due(self, now: datetime) -> bool:
        """A snapshot is due: forced, every run (0), never completed, or the last complete one
        is `reconcile_every_hours` old."""
        if self.forced_by or not self.config.reconcile_every_hours:
            return True
        completed = (self._start_state.get("snapshot") or {}).get("completed_at")
        if not isinstance(completed, str):
            return True
        try:
            last = parse_datetime(completed)
        except ValueError:
            return True
        return now - last >= timedelta(hours=self.config.reconcile_every_hours)

    # --- reading -------------------------------------------------------------------

    def read_records(
        self,
        sync_mode: SyncMode,
        cursor_field: list[str] | None = None,
        stream_slice: Mapping[str, Any] | None = None,
        stream_state: Mapping[str, Any] | None = None,
    ) -> Iterable[Mapping[str, Any] | AirbyteMessage]:
        stream_slice = stream_slice or {"last": True}
        if self._due is None:  # the first slice of this run decides for all of them
            now = datetime.now(UTC)
            self._due = self.due(now)
            if not self._due:
                completed = self._start_state["snapshot"]["completed_at"]
                self.logger.info(
                    "Stream '%s': the last complete snapshot is from %s; the next is due %s "
                    "hours after it (reconcile_every_hours).",
                    self.name,
                    completed,
                    self.config.reconcile_every_hours,
                )
            else:
                self._started_at, self._count = now, 0
                if self.forced_by:
                    self.logger.warning(
                        "Stream '%s': reconciling now because %s.", self.name, self.forced_by
                    )
        if not self._due:
            return
        store = stream_slice.get("store_key")
        yield from self.read_snapshot(store)
        if stream_slice.get("last"):
            yield self.marker()

    def read_snapshot(self, store: str | None) -> Iterator[Mapping[str, Any] | AirbyteMessage]:
        """Every id of one partition, with the streams' concurrent key-set reading (time
        slices after a full first page); no look-back, no margin: a snapshot starts afresh."""
        cursor = KeySetCursor.fresh(self.declaration.cursor_field, None)
        yield from self.read_guarded(store, [cursor])

    def emitted(
        self, cursor: KeySetCursor, records: list[dict[str, Any]], store: str | None
    ) -> list[dict[str, Any]]:
        field = self.declaration.cursor_field
        if any(position_of(record, field) is None for record in records):
            raise AirbyteTracedException(
                message=f"Stream '{self.name}': a GraphQL result without {field} and id; "
                "cannot page further",
                failure_type=FailureType.system_error,
            )
        kept = super().emitted(cursor, records, store)
        self._count += len(kept)
        return kept

    def set_progress(self, store: str | None, state: dict[str, Any]) -> None:
        """A snapshot's progress is not state: cut short, the next one starts afresh."""

    def marker(self) -> AirbyteMessage:
        """The record that makes this run's snapshot complete, and the state that says so."""
        assert self._started_at is not None
        started = format_datetime(self._started_at)
        safe_before = format_datetime(
            self._started_at - timedelta(seconds=self.config.lookback_window_seconds)
        )
        self._progress[None] = {
            "snapshot": {
                "completed_at": format_datetime(datetime.now(UTC)),
                "started_at": started,
                "count": self._count,
            }
        }
        self._state_cache = None
        data = {
            MARKER: {
                "complete": True,
                "started_at": started,
                "safe_before": safe_before,
                "count": self._count,
                "stores": list(self.stores) or None,
            }
        }
        return AirbyteMessage(
            type=Type.RECORD,
            record=AirbyteRecordMessage(
                stream=self.name, data=data, emitted_at=time.time_ns() // 1_000_000
            ),
        )

    def _current_state(self) -> dict[str, Any]:
        # a snapshot state is one value: the last complete snapshot (kept until a new one is)
        return dict(self._progress.get(None) or self._start_state)

    # --- the request ---------------------------------------------------------------

    def fetch(self, store: str | None, params: dict[str, Any]) -> list[dict[str, Any]]:
        """One page of ids through GraphQL, for the REST-style page parameters the key-set
        reader builds (`where` with `var.*` → the same predicates with quoted literals),
        with the streams' retries, back-off and token."""
        self.backoff.pause()
        where = [inline(predicate, params) for predicate in params.get("where", [])]
        if store == GLOBAL:  # customers of no store, read project-wide
            where.insert(0, GLOBAL_PREDICATE)
        in_store = bool(store) and store != GLOBAL
        variables: dict[str, Any] = {
            "where": " and ".join(f"({w})" for w in where) if where else None,
            "sort": params.get("sort"),
            "limit": params.get("limit"),
        }
        if in_store:
            variables["store"] = store
        name = GRAPHQL_FIELDS[self.declaration.resource]
        body = {"query": graphql_query(name, in_store), "variables": variables}
        _, response = self._http_client.send_request(
            "POST",
            f"{self.url_base}graphql",
            request_kwargs={
                "allow_redirects": False,
                "stream": True,
                "timeout": self.bounds.timeout,
            },
            json=body,
        )
        if 300 <= response.status_code < 400:
            response.close()
            raise AirbyteTracedException(
                message=redirect_problem(self.name, response),
                failure_type=FailureType.config_error,
            )
        answer = orjson.loads(
            read_body(response, self.config.max_response_mib << 20, self.name, self.bounds)
        )
        errors = answer.get("errors") if isinstance(answer, dict) else None
        if errors:
            first = errors[0] if isinstance(errors, list) and errors else {}
            message = first.get("message") if isinstance(first, dict) else str(first)
            raise AirbyteTracedException(
                message=f"Stream '{self.name}': commercetools' GraphQL API answered: {message}",
                failure_type=FailureType.config_error
                if "scope" in str(message).lower()
                else FailureType.system_error,
            )
        data = (answer or {}).get("data") or {}
        node = data.get("inStore") if in_store else data
        results = ((node or {}).get(name) or {}).get("results")
        if not isinstance(results, list):
            raise AirbyteTracedException(
                message=f"Stream '{self.name}': GraphQL answered without a results list",
                internal_message=str(answer)[:300],
                failure_type=FailureType.system_error,
            )
        return results


def build_snapshots(config: SourceConfig, authenticator: Any) -> list[IdSnapshotStream]:
    return [IdSnapshotStream(declaration, config, authenticator) for declaration in SNAPSHOTS]
