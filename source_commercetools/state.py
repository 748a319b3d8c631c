"""The state of a stream, read and written here only.

Per partition (the stream, or the stream in one store):

    {"lastModifiedAt": "<…123Z>", "id": "<id>", "margin": […]}      # messages: createdAt

`margin`: the records within the look-back of that position (see cursor.py), compactly:

    {"t": <cursor ms of the oldest>, "dt": [ms after the one before, …], "k": "<keys>"}

`k` holds one 11-character `entry_key(id, version)` per record, oldest first; `dt` has one
number fewer than there are keys. At most `lookback_memory_max` entries per stream and
`MARGIN_BUDGET_BYTES` for all streams together (`partition_memory`). States written before
this form (`"margin": [[cursor, id, version], …]`) are read and upgraded. While a sliced
first read is under way:

    {"slices": [{"start", "end", "lastModifiedAt"?, "id"?, "done"?}, …]}

plus the position of the leading slices already done. With `store_keys`, the store-scoped
streams keep one partition per store: `{"stores": {"eu-web": {…}, …}}`. The `messages` stream
adds `read_at` once a read reached its end (the time that read started).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Any

from source_commercetools.cursor import (
    DEFAULT_MEMORY_MAX,
    KEY_CHARS,
    KeySetCursor,
    Position,
    Remembered,
    cursor_ms,
    cursor_value,
    entry_key,
    parse_position,
    shift,
)

MARGIN_BUDGET_BYTES = 950_000  # every margin of every stream together (the state stays < 1 MB)


def entry_bytes(window_ms: int, entries: int) -> int:
    """An upper bound of one margin entry's size when `entries` share a window: its key, a
    comma and the digits of its delta (the deltas add up to at most the window, so on
    average they have no more digits than window / entries, plus one for the unevenness)."""
    return KEY_CHARS + 2 + len(str(-(-window_ms // max(entries, 1))))


def partition_memory(
    per_stream_max: int, partitions: int, all_partitions: int, lookback_seconds: float
) -> int:
    """Margin entries one partition may keep: its share of the stream's `lookback_memory_max`,
    fewer if its share of `MARGIN_BUDGET_BYTES` (split evenly over all partitions read) would
    not hold them."""
    budget = MARGIN_BUDGET_BYTES // max(all_partitions, 1)
    window = round(lookback_seconds * 1000)
    entries = per_stream_max // max(partitions, 1)
    while entries and entries * entry_bytes(window, entries) > budget:
        entries = min(entries - 1, budget // entry_bytes(window, entries))
    return entries


def saved_position(state: Mapping[str, Any] | None, field_name: str) -> Position | None:
    if not isinstance(state, Mapping):
        return None
    return parse_position(state.get(field_name), state.get("id"))


# --- one partition ------------------------------------------------------------------


def cursor_from_state(
    field_name: str,
    state: Mapping[str, Any] | None,
    start: str,
    lookback_seconds: float,
    memory_max: int = DEFAULT_MEMORY_MAX,
) -> KeySetCursor:
    """The cursor of an incremental run resuming from `state` (one partition's part).

    With a look-back, the run starts `lookback_seconds` before the saved position, and
    remembers the margin's `(id, version)` pairs so that it does not emit them again."""
    start = cursor_value(start)
    saved = saved_position(state, field_name)
    if saved is None or saved[0] < start:
        return KeySetCursor.fresh(field_name, start, lookback_seconds, memory_max)
    if not lookback_seconds:
        return KeySetCursor(field_name, start, position=saved, saved=saved)
    return KeySetCursor(
        field_name,
        max(shift(saved[0], -lookback_seconds), start),
        lookback_seconds=lookback_seconds,
        saved=saved,
        known={key: ms for ms, key in read_margin((state or {}).get("margin"))},
        memory_max=memory_max,
    )


def cursor_state(cursor: KeySetCursor) -> dict[str, Any]:
    newest = cursor.newest
    if newest is None:
        return {}
    state: dict[str, Any] = {cursor.field: newest[0], "id": newest[1]}
    margin = cursor.margin()
    if margin:
        state["margin"] = write_margin(margin)
    return state


def write_margin(margin: Sequence[Remembered]) -> dict[str, Any]:
    """The margin's entries (oldest first) in the compact form."""
    times = [ms for ms, _ in margin]
    return {
        "t": times[0],
        "dt": [later - earlier for earlier, later in pairwise(times)],
        "k": "".join(key for _, key in margin),
    }


def read_margin(value: Any) -> list[Remembered]:
    """The margin's entries, from the compact form or the list of `[cursor, id, version]`
    of earlier releases; anything else reads as no memory (the window is emitted again)."""
    if isinstance(value, list):  # the form before 16: upgraded on read
        entries = []
        for item in value:
            if isinstance(item, Sequence) and not isinstance(item, str) and len(item) == 3:
                try:
                    entries.append(
                        (cursor_ms(cursor_value(str(item[0]))), entry_key(str(item[1]), item[2]))
                    )
                except ValueError:
                    continue
        return sorted(entries)
    if not isinstance(value, Mapping):
        return []
    first, deltas, keys = value.get("t"), value.get("dt"), value.get("k")
    if (
        type(first) is not int
        or not isinstance(deltas, list)
        or not isinstance(keys, str)
        or len(keys) != KEY_CHARS * (len(deltas) + 1)
        or not all(type(delta) is int for delta in deltas)
    ):
        return []
    times = [first]
    for delta in deltas:
        times.append(times[-1] + delta)
    return [(ms, keys[i * KEY_CHARS : (i + 1) * KEY_CHARS]) for i, ms in enumerate(times)]


# --- slices ---------------------------------------------------------------------------


def slice_state(cursor: KeySetCursor) -> dict[str, Any]:
    """One slice's exact progress (see `merged_state`)."""
    state: dict[str, Any] = {"start": cursor.start, "end": cursor.end}
    if cursor.newest is not None:
        state[cursor.field], state["id"] = cursor.newest
    if cursor.done:
        state["done"] = True
    return state


def slice_from_state(
    field_name: str,
    state: Mapping[str, Any],
    lookback_seconds: float,
    memory_max: int = DEFAULT_MEMORY_MAX,
) -> KeySetCursor:
    """A slice where it stopped; one not done restarts `lookback_seconds` before its position
    (within its range), like every other start: what was not visible yet when it stopped is
    read, and what it had emitted there is emitted again (a slice keeps no margin)."""
    start, end = state.get("start"), state.get("end")
    start = start if isinstance(start, str) else None
    end = end if isinstance(end, str) else None
    saved = saved_position(state, field_name)
    if state.get("done") or saved is None or not lookback_seconds:
        return KeySetCursor(
            field_name,
            start,
            end,
            saved,
            lookback_seconds,
            done=bool(state.get("done")),
            memory_max=memory_max,
        )
    back = shift(saved[0], -lookback_seconds)
    return KeySetCursor(
        field_name,
        max(back, start) if start else back,
        end,
        lookback_seconds=lookback_seconds,
        saved=saved,
        memory_max=memory_max,
    )


def merged_state(field_name: str, slices: Sequence[KeySetCursor]) -> dict[str, Any]:
    """The state of a partition read as slices.

    All done: one position (the newest record of all) with the margin of every slice. Else the
    slices not done yet keep their exact progress under `slices`; the leading slices that are
    done are collapsed into the one position in front."""
    if len(slices) == 1:
        return cursor_state(slices[0])
    lead = 0
    while lead < len(slices) and slices[lead].done:
        lead += 1
    done_positions = [s.newest for s in slices[:lead] if s.newest is not None]
    state: dict[str, Any] = {}
    if done_positions:
        newest = max(done_positions)
        state = {field_name: newest[0], "id": newest[1]}
    if lead == len(slices):
        recent = sorted(item for s in slices for item in s.recent)
        whole = KeySetCursor(
            field_name,
            None,
            position=max(done_positions) if done_positions else None,
            lookback_seconds=slices[0].lookback_seconds,
            recent=deque(recent),
            memory_max=slices[0].memory_max,
            dropped=max(s.dropped for s in slices),
        )
        return cursor_state(whole)
    state["slices"] = [slice_state(s) for s in slices[lead:]]
    return state


def resume_slices(
    field_name: str,
    state: Mapping[str, Any] | None,
    lookback_seconds: float,
    memory_max: int = DEFAULT_MEMORY_MAX,
) -> list[KeySetCursor] | None:
    """The slices of an interrupted sliced read, each where it stopped; None if not sliced."""
    parts = (state or {}).get("slices")
    if not isinstance(parts, list) or not parts:
        return None
    return [
        slice_from_state(field_name, part, lookback_seconds, memory_max)
        for part in parts
        if isinstance(part, Mapping)
    ] or None


def partition_cursors(
    field_name: str,
    state: Mapping[str, Any] | None,
    start: str,
    lookback_seconds: float,
    memory_max: int = DEFAULT_MEMORY_MAX,
) -> list[KeySetCursor]:
    """Where a partition's read starts: its slices, or one cursor."""
    slices = resume_slices(field_name, state, lookback_seconds, memory_max)
    return slices or [cursor_from_state(field_name, state, start, lookback_seconds, memory_max)]


# --- the stream -----------------------------------------------------------------------


def partition_state(stream_state: Mapping[str, Any] | None, store: str | None) -> dict[str, Any]:
    """One partition's part of the stream state (`{}` if none)."""
    part = (stream_state or {}).get("stores", {}).get(store) if store else stream_state
    return dict(part) if isinstance(part, Mapping) else {}


def whole_state(
    start: Mapping[str, Any], progress: Mapping[str | None, dict[str, Any]]
) -> dict[str, Any]:
    """The stream state: the state the run started from, with this run's progress of each
    partition (store None: the stream read project-wide) laid over it."""
    state = dict(start)
    stores = dict(state.get("stores") or {})
    for store, part in progress.items():
        if store is None:
            state = {**part, **({"stores": stores} if stores else {})}
        else:
            stores[store] = part
    if stores:
        state["stores"] = stores
    return state


def with_read_time(part: Mapping[str, Any], started_at: str) -> dict[str, Any]:
    """A partition read to its end: `read_at` says every record created before `started_at`
    was read (the messages stream keeps it, see `messages_read_until`)."""
    return {**part, "read_at": started_at}


def messages_read_until(states: Sequence[Any] | None) -> str | None:
    """Up to when the last sync read the `messages` stream, from the per-stream STATE
    messages a `read` starts with: the start of the last read that reached the end
    (`read_at`), else the newest Message read (its `createdAt`; a quiet project's position
    stays old); None when there is none."""
    for message in states or []:
        stream = getattr(message, "stream", None)
        descriptor = getattr(stream, "stream_descriptor", None)
        if getattr(descriptor, "name", None) != "messages":
            continue
        blob = getattr(stream, "stream_state", None)
        values = blob if isinstance(blob, Mapping) else getattr(blob, "__dict__", {})
        read_at = values.get("read_at") if isinstance(values, Mapping) else None
        if isinstance(read_at, str):
            try:
                return cursor_value(read_at)
            except ValueError:
                pass  # unreadable: the position decides
        position = saved_position(values, "createdAt")
        return position[0] if position else None
    return None
