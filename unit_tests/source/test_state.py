"""The state format (state.py): a bounded, compact look-back memory; old states upgraded."""

from __future__ import annotations

import json

from source_commercetools.cursor import KeySetCursor, cursor_ms, entry_key
from source_commercetools.state import (
    MARGIN_BUDGET_BYTES,
    cursor_from_state,
    cursor_state,
    partition_memory,
    read_margin,
)
from unit_tests.source.fake_api import ts

FIELD = "lastModifiedAt"
START = "2025-01-01"
PAGE = 500


def bulk(count: int, version: int = 1) -> list[dict]:
    """`count` customers changed by one bulk import, one a millisecond (all within 120 s)."""
    return [{"id": f"c-{n:06d}", "version": version, FIELD: ts(n)} for n in range(count)]


def read(cursor: KeySetCursor, records: list[dict]) -> tuple[list[str], dict]:
    """A read page by page (trim and state after every page, as the stream does)."""
    emitted, state = [], {}
    for at in range(0, len(records), PAGE):
        emitted += [r["id"] for r in records[at : at + PAGE] if cursor.advance(r)]
        cursor.trim()
        state = cursor_state(cursor)
    return emitted, state


def test_a_bulk_change_of_100000_records_keeps_the_state_under_1_mb():
    records = bulk(100_000)
    first = KeySetCursor.fresh(FIELD, START, lookback_seconds=120, memory_max=10_000)
    emitted, state = read(first, records)
    assert emitted == [r["id"] for r in records]  # once each
    assert len(json.dumps(state)) <= 1_000_000
    assert len(json.dumps(state)) < 200_000  # 10,000 entries of ~13 bytes
    assert first.dropped == 90_000
    assert len(read_margin(state["margin"])) == 10_000
    assert len(first.recent) == 10_000  # memory stays flat during the run too

    # the next run re-reads the window: the 10,000 newest are remembered, the 90,000 older
    # ones are emitted again (at least once), nothing is lost
    second = cursor_from_state(FIELD, state, START, 120, memory_max=10_000)
    again, _ = read(second, records)
    assert again == [r["id"] for r in records[:90_000]]

    # a new version of a remembered record is emitted
    third = cursor_from_state(FIELD, state, START, 120, memory_max=10_000)
    changed = records[-1] | {"version": 2}
    assert [r["id"] for r in [*records[-5:-1], changed] if third.advance(r)] == ["c-099999"]


def test_within_the_bound_every_version_is_emitted_once_across_runs():
    records = bulk(3_000)
    first = KeySetCursor.fresh(FIELD, START, lookback_seconds=120, memory_max=10_000)
    emitted, state = read(first, records)
    assert len(emitted) == 3_000 and first.dropped == 0
    second = cursor_from_state(FIELD, state, START, 120, memory_max=10_000)
    assert read(second, records)[0] == []


def test_a_state_written_before_the_compact_form_is_read_and_upgraded():
    old = {
        FIELD: ts(9000),
        "id": "c-000009",
        "margin": [[ts(n * 1000), f"c-{n:06d}", 1] for n in range(4, 10)],
    }
    records = [{"id": f"c-{n:06d}", "version": 1, FIELD: ts(n * 1000)} for n in range(4, 10)]
    cursor = cursor_from_state(FIELD, old, START, 5)
    assert [r["id"] for r in records if cursor.advance(r)] == []
    margin = cursor_state(cursor)["margin"]
    assert set(margin) == {"t", "dt", "k"}
    assert read_margin(margin) == [
        (cursor_ms(ts(n * 1000)), entry_key(f"c-{n:06d}", 1)) for n in range(4, 10)
    ]


def test_a_damaged_margin_reads_as_no_memory_so_the_window_is_emitted_again():
    state = {FIELD: ts(9000), "id": "c-9", "margin": {"t": 1, "dt": [1], "k": "short"}}
    cursor = cursor_from_state(FIELD, state, START, 5)
    assert cursor.known == {}
    assert cursor.advance({"id": "c-8", "version": 1, FIELD: ts(8000)})


def test_the_memory_is_shared_so_that_the_whole_state_stays_under_the_budget():
    assert partition_memory(10_000, 1, 5, 120) == 10_000
    assert partition_memory(10_000, 2, 6, 120) == 5_000  # a stream read in two stores
    for partitions, lookback in ((10, 120), (100, 120), (10, 86_400), (3, 86_400)):
        share = partition_memory(10_000, 1, partitions, lookback)
        assert 0 < share <= 10_000
        # the worst case: every partition full, its deltas as long as they can be
        worst = KeySetCursor.fresh(FIELD, START, lookback_seconds=lookback, memory_max=share)
        step = lookback * 1000 // share
        records = [{"id": f"c-{n}", "version": 1, FIELD: ts(n * step)} for n in range(share)]
        emitted, state = read(worst, records)
        assert len(emitted) == share and worst.dropped == 0
        assert len(json.dumps(state["margin"], separators=(",", ":"))) * partitions <= (
            MARGIN_BUDGET_BYTES + 100 * partitions
        )
