"""The state of a stream, read and written here only.

Per partition (the stream, or the stream in one store):

    {"lastModifiedAt": "<…123Z>", "id": "<id>", "margin": […]}      # messages: createdAt

`margin`: the records within the look-back of that position (see cursor.py). While a sliced
first read is under way:

    {"slices": [{"start", "end", "lastModifiedAt"?, "id"?, "done"?}, …]}

plus the position of the leading slices already done. With `store_keys`, the store-scoped
streams keep one partition per store: `{"stores": {"eu-web": {…}, …}}`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

from source_commercetools.cursor import (
    KeySetCursor,
    Position,
    cursor_value,
    parse_position,
    shift,
)


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
) -> KeySetCursor:
    """The cursor of an incremental run resuming from `state` (one partition's part).

    With a look-back, the run starts `lookback_seconds` before the saved position, and
    remembers the margin's `(id, version)` pairs so that it does not emit them again."""
    start = cursor_value(start)
    saved = saved_position(state, field_name)
    if saved is None or saved[0] < start:
        return KeySetCursor.fresh(field_name, start, lookback_seconds)
    if not lookback_seconds:
        return KeySetCursor(field_name, start, position=saved, saved=saved)
    known = {
        str(item[1]): (cursor_value(str(item[0])), item[2])
        for item in (state or {}).get("margin") or []
        if isinstance(item, Sequence) and len(item) == 3
    }
    return KeySetCursor(
        field_name,
        max(shift(saved[0], -lookback_seconds), start),
        lookback_seconds=lookback_seconds,
        saved=saved,
        known=known,
    )


def cursor_state(cursor: KeySetCursor) -> dict[str, Any]:
    newest = cursor.newest
    if newest is None:
        return {}
    state: dict[str, Any] = {cursor.field: newest[0], "id": newest[1]}
    margin = cursor.margin()
    if margin:
        state["margin"] = [list(item) for item in margin]
    return state


# --- slices ---------------------------------------------------------------------------


def slice_state(cursor: KeySetCursor) -> dict[str, Any]:
    """One slice's exact progress (see `merged_state`)."""
    state: dict[str, Any] = {"start": cursor.start, "end": cursor.end}
    if cursor.position is not None:
        state[cursor.field], state["id"] = cursor.position
    if cursor.done:
        state["done"] = True
    return state


def slice_from_state(
    field_name: str, state: Mapping[str, Any], lookback_seconds: float
) -> KeySetCursor:
    return KeySetCursor(
        field_name,
        state.get("start"),
        state.get("end"),
        saved_position(state, field_name),
        lookback_seconds,
        done=bool(state.get("done")),
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
    done_positions = [s.position for s in slices[:lead] if s.position is not None]
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
        )
        return cursor_state(whole)
    state["slices"] = [slice_state(s) for s in slices[lead:]]
    return state


def resume_slices(
    field_name: str, state: Mapping[str, Any] | None, lookback_seconds: float
) -> list[KeySetCursor] | None:
    """The slices of an interrupted sliced read, each where it stopped; None if not sliced."""
    parts = (state or {}).get("slices")
    if not isinstance(parts, list) or not parts:
        return None
    return [slice_from_state(field_name, part, lookback_seconds) for part in parts]


def partition_cursors(
    field_name: str, state: Mapping[str, Any] | None, start: str, lookback_seconds: float
) -> list[KeySetCursor]:
    """Where a partition's read starts: its slices, or one cursor."""
    slices = resume_slices(field_name, state, lookback_seconds)
    return slices or [cursor_from_state(field_name, state, start, lookback_seconds)]


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
