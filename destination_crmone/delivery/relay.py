"""The relay: input messages into the writer, each STATE out as soon as the writer releases it.

`relay` counts records per STATE (`Tally`) the way the CDK's `sourceStats` does, hands records
to the writer, ticks it, and yields released STATEs with `destinationStats` (records and
rejected records, `StateStats`). `serialize` is the one output line of a message. Knows no
stream.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import orjson
from airbyte_cdk.models import (
    AirbyteLogMessage,
    AirbyteMessage,
    AirbyteMessageSerializer,
    AirbyteStateStats,
    AirbyteStateType,
    Level,
    Type,
)

from destination_crmone.delivery.context import Tally
from destination_crmone.delivery.writer import Writer
from destination_crmone.input import RejectedInput
from destination_crmone.journal import Journal
from destination_crmone.stats import RunStats

UNREAD = ("unknown", None)  # the tally of refused input lines that name no stream


def reject_input(
    journal: Journal, stats: RunStats, run_id: str, dry_run: bool, rejected: RejectedInput
) -> None:
    """A record line over a limit: into the retry queue (no payload: there is none to keep)."""
    stream = rejected.stream or "unknown"
    if not dry_run:
        key = f"input:{run_id}:line-{rejected.line}"
        journal.enqueue(run_id, stream, key, None, {}, rejected.reason, rejected.code, "rejected")
    stats.reject(stream, "rejected", rejected.code, rejected.reason)


def relay(
    messages: Iterable[AirbyteMessage],
    writer: Writer,
    unread: list[RejectedInput] | None = None,
    on_unread: Callable[[RejectedInput], None] | None = None,
) -> Iterator[AirbyteMessage]:
    """Records into the writer; each STATE as soon as every record before it is settled.

    `destinationStats.recordCount` mirrors the CDK's `sourceStats`: for a per-stream state, the
    records of that stream since its previous state; for a global (or legacy) state, every
    record since the previous state. `rejectedRecordCount` counts those of them that went to
    the retry queue for good (rejected by validation or by CRM One, or refused by an input
    limit: `unread`, filled by the input reader, handed to `on_unread` in input order).
    """
    tallies: dict[tuple[str, str | None], Tally] = {}
    unread = [] if unread is None else unread

    def count_unread() -> None:
        while unread:
            refused = unread.pop(0)
            if on_unread is not None:
                on_unread(refused)
            key = (refused.stream, None) if refused.stream else UNREAD
            writer.rejected_unread(tallies.setdefault(key, Tally()))

    try:
        for message in messages:
            count_unread()  # refused while the reader looked for this message: before it
            if message.type == Type.RECORD and message.record is not None:
                record = message.record
                tally = tallies.setdefault((record.stream, record.namespace), Tally())
                tally.records += 1
                writer.add(record.stream, record.data, tally)
            elif message.type == Type.STATE and message.state is not None:
                state = message.state
                descriptor = state.stream.stream_descriptor if state.stream else None
                if state.type == AirbyteStateType.STREAM and descriptor is not None:
                    closed = [tallies.pop((descriptor.name, descriptor.namespace), Tally())]
                    # Lines of no known stream (unreadable): counted by the next state.
                    closed += [tallies.pop(key) for key in [UNREAD] if key in tallies]
                else:
                    closed, tallies = list(tallies.values()), {}
                writer.state(message, closed)
            writer.tick()
            yield from with_stats(writer.released())
        count_unread()
        yield from with_stats(writer.finish())
    except Exception:
        yield from with_stats(writer.abort())
        raise


@dataclass
class StateStats(AirbyteStateStats):
    """`AirbyteStateStats` with the protocol's `rejectedRecordCount` (airbyte-protocol #139),
    which the installed dataclass lacks; `serialize` writes it."""

    rejectedRecordCount: float | None = None


def with_stats(released: Iterable[tuple[AirbyteMessage, int, int]]) -> Iterator[AirbyteMessage]:
    for message, records, rejected in released:
        message.state.destinationStats = StateStats(  # type: ignore[union-attr]
            recordCount=float(records), rejectedRecordCount=float(rejected)
        )
        yield message


def serialize(message: AirbyteMessage) -> str:
    """One output line; a STATE's `destinationStats` keeps `rejectedRecordCount`."""
    payload = AirbyteMessageSerializer.dump(message)
    stats = message.state.destinationStats if message.state is not None else None
    if isinstance(stats, StateStats) and stats.rejectedRecordCount is not None:
        payload["state"]["destinationStats"]["rejectedRecordCount"] = stats.rejectedRecordCount
    return orjson.dumps(payload).decode()


def log_message(level: Level, text: str) -> AirbyteMessage:
    return AirbyteMessage(type=Type.LOG, log=AirbyteLogMessage(level=level, message=text))
