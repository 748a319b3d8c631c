"""Row estimates: Airbyte draws a sync's progress bar from `TRACE` `ESTIMATE` messages.

At the start of a full read (full refresh, or incremental without saved state) each stream is
counted with one query (`limit=1`, `withTotal=true`, per store for in-store streams), with the
stream's authenticator, in one attempt within the request bounds (an estimate is worth no
retry). The count is of the whole collection as the stream would read it without
`start_date` (commercetools counts a query that has a `where` only up to 10,000; without one
the count is exact): with a later `start_date` it is an
upper bound. An incremental read from saved state gets no estimate (its size is the changes
since the cursor, which one query cannot count exactly). A count that fails costs nothing but
the estimate: the read itself reports any real problem.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
from airbyte_cdk.models import (
    AirbyteEstimateTraceMessage,
    AirbyteMessage,
    AirbyteStateMessage,
    AirbyteTraceMessage,
    ConfiguredAirbyteCatalog,
    EstimateType,
    SyncMode,
    TraceType,
    Type,
)
from airbyte_cdk.utils.datetime_helpers import ab_datetime_now

from source_commercetools.bounds import CORRELATION, CORRELATION_HEADER, bounded_session
from source_commercetools.http import read_body
from source_commercetools.streams import CommercetoolsStream

COUNT_QUERY = {"limit": 1, "withTotal": "true"}
COUNT_BODY_CAP = 1 << 20  # a one-record page; anything larger is not a count worth reading


def full_reads(
    catalog: ConfiguredAirbyteCatalog, state: Iterable[AirbyteStateMessage] | None
) -> list[str]:
    """The configured streams this run reads from the start."""
    saved = {
        message.stream.stream_descriptor.name
        for message in state or []
        if message.stream is not None and message.stream.stream_state
    }
    return [
        configured.stream.name
        for configured in catalog.streams
        if configured.sync_mode == SyncMode.full_refresh or configured.stream.name not in saved
    ]


def count(stream: CommercetoolsStream, store: str | None) -> int | None:
    """commercetools' `total` for the stream's query (its filters, no start_date), or None."""
    predicates, variables = stream.declaration.filters(stream.config)
    params: dict[str, Any] = {**COUNT_QUERY}
    if predicates:
        params.update(where=predicates, **variables)
    # One attempt, within the request bounds: an estimate is worth no retry (a server that
    # stalls costs the read its own bounded attempts, not those and as many again).
    with bounded_session(stream.bounds) as session:
        response = session.get(
            stream.url_base + stream.resource_path(store),
            params=params,
            headers={CORRELATION_HEADER: CORRELATION.next_id()},
            auth=stream.auth,
            timeout=stream.bounds.timeout,
            allow_redirects=False,
            stream=True,
        )
        if response.status_code != 200:
            response.close()
            return None
        body = orjson.loads(read_body(response, COUNT_BODY_CAP, stream.name, stream.bounds))
    total = body.get("total") if isinstance(body, dict) else None
    return total if isinstance(total, int) and not isinstance(total, bool) and total >= 0 else None


def row_estimate(stream: CommercetoolsStream, logger: logging.Logger) -> int | None:
    """The stream's rows over all its stores, or None when any count is unknown."""
    try:
        counts = [count(stream, store) for store in stream.stores or [None]]
    except Exception as error:  # the estimate is a nicety; the read reports real problems
        logger.info("No row estimate for stream '%s': %s", stream.name, error)
        return None
    return None if None in counts else sum(counts)  # type: ignore[arg-type]


def estimate_message(stream_name: str, rows: int) -> AirbyteMessage:
    return AirbyteMessage(
        type=Type.TRACE,
        trace=AirbyteTraceMessage(
            type=TraceType.ESTIMATE,
            emitted_at=ab_datetime_now().to_epoch_millis(),
            estimate=AirbyteEstimateTraceMessage(
                name=stream_name, type=EstimateType.STREAM, row_estimate=rows
            ),
        ),
    )


def estimates(
    streams: Mapping[str, CommercetoolsStream],
    names: Iterable[str],
    logger: logging.Logger,
    concurrency: int,
) -> Iterator[AirbyteMessage]:
    """One ESTIMATE per stream of `names` whose count is known, counted `concurrency` at once."""
    wanted = [streams[name] for name in names if name in streams]
    if not wanted:
        return
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        counted = list(pool.map(lambda stream: row_estimate(stream, logger), wanted))
    for stream, rows in zip(wanted, counted, strict=True):
        if rows is not None:
            yield estimate_message(stream.name, rows)
