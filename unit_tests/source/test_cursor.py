"""KeySetCursor alone: page parameters, advance, the look-back margin across runs, state, slices."""

from __future__ import annotations

import pytest

from source_commercetools.cursor import (
    KeySetCursor,
    OutOfOrder,
    cursor_ms,
    entry_key,
    page_params,
)
from source_commercetools.state import (
    cursor_from_state,
    cursor_state,
    merged_state,
    read_margin,
    resume_slices,
)
from unit_tests.source.fake_api import ts

FIELD = "lastModifiedAt"


def rec(n: int, ms: int, version: int = 1) -> dict:
    return {"id": f"c-{n:03d}", "version": version, FIELD: ts(ms)}


def remembered(numbers: range, version: int = 1) -> list[tuple[int, str]]:
    """The margin entries of records `c-NNN` changed at NNN seconds."""
    return [(cursor_ms(ts(n * 1000)), entry_key(f"c-{n:03d}", version)) for n in numbers]


def run(cursor: KeySetCursor, records: list[dict]) -> list[str]:
    """What a read over `records` (already in key order) emits."""
    return [r["id"] for r in records if cursor.advance(r)]


def test_first_page_from_a_date_has_no_id_clause_and_no_empty_variable():
    params = KeySetCursor.fresh(FIELD, "2025-01-01").params(500)
    assert params == {
        "sort": ["lastModifiedAt asc", "id asc"],
        "where": ["lastModifiedAt >= :t"],
        "var.t": "2025-01-01T00:00:00.000Z",
        "limit": 500,
        "withTotal": "false",
    }


def test_without_a_start_there_is_no_where_at_all():
    params = KeySetCursor.fresh(FIELD, None).params(20)
    assert "where" not in params and not any(k.startswith("var.") for k in params)


def test_after_a_record_the_key_set_clause_and_an_upper_bound_for_a_slice():
    assert page_params(FIELD, "x", (ts(5), "c-1"), ts(9), 10) == {
        "sort": ["lastModifiedAt asc", "id asc"],
        "where": [
            "lastModifiedAt > :t or (lastModifiedAt = :t and id > :id)",
            "lastModifiedAt < :end",
        ],
        "var.t": ts(5),
        "var.id": "c-1",
        "var.end": ts(9),
        "limit": 10,
        "withTotal": "false",
    }


def test_advance_moves_the_position_skips_a_repeat_and_refuses_going_back():
    cursor = KeySetCursor.fresh(FIELD, "2025-01-01")
    assert run(cursor, [rec(1, 0), rec(2, 0), rec(2, 0)]) == ["c-001", "c-002"]
    assert cursor.position == (ts(0), "c-002")
    assert cursor.params(5)["var.id"] == "c-002"
    with pytest.raises(OutOfOrder):
        cursor.advance(rec(1, 0))


def test_margin_deduplicated_across_runs_and_idle_run_emits_nothing():
    records = [rec(n, n * 1000) for n in range(10)]  # one per second
    first = KeySetCursor.fresh(FIELD, "2025-01-01", lookback_seconds=5)
    assert len(run(first, records)) == 10
    state = cursor_state(first)
    # only the records within 5 s of the newest are remembered
    assert read_margin(state["margin"]) == remembered(range(4, 10))

    idle = cursor_from_state(FIELD, state, "2025-01-01", 5)
    assert idle.params(500)["var.t"] == ts(4000)
    assert run(idle, records[4:]) == []
    assert cursor_state(idle) == state


def test_a_late_record_inside_the_margin_is_read_and_a_new_version_is_emitted_again():
    records = [rec(n, n * 1000) for n in range(10)]
    first = KeySetCursor.fresh(FIELD, "2025-01-01", lookback_seconds=5)
    run(first, records)
    late = rec(77, 7500)  # committed at 7.5 s, visible only now
    changed = rec(6, 6000, version=2)  # same id, new version, old timestamp (late too)
    margin = sorted(
        [*records[4:6], changed, records[7], late, *records[8:]], key=lambda r: (r[FIELD], r["id"])
    )
    second = cursor_from_state(FIELD, cursor_state(first), "2025-01-01", 5)
    assert run(second, margin) == ["c-006", "c-077"]
    # the third run remembers them: nothing again
    third = cursor_from_state(FIELD, cursor_state(second), "2025-01-01", 5)
    assert run(third, margin) == []


def test_state_round_trip_and_position_never_moves_back_while_in_the_margin():
    records = [rec(n, n * 1000) for n in range(10)]
    first = KeySetCursor.fresh(FIELD, "2025-01-01", lookback_seconds=5)
    run(first, records)
    second = cursor_from_state(FIELD, cursor_state(first), "2025-01-01", 5)
    run(second, records[4:6])  # stopped half way through the margin
    state = cursor_state(second)
    assert (state[FIELD], state["id"]) == (ts(9000), "c-009")
    # nothing forgotten: the part of the margin not re-read yet is carried over
    assert read_margin(state["margin"]) == remembered(range(4, 10))
    assert cursor_state(cursor_from_state(FIELD, state, "2025-01-01", 5)) == state


def test_without_look_back_a_run_resumes_exactly_after_the_saved_record():
    cursor = cursor_from_state(FIELD, {FIELD: ts(5), "id": "c-5"}, "2025-01-01", 0)
    assert cursor.params(10)["var.id"] == "c-5"
    assert "margin" not in cursor_state(cursor)


def test_a_start_date_after_the_saved_position_wins():
    cursor = cursor_from_state(FIELD, {FIELD: ts(5), "id": "c-5"}, "2030-01-01", 120)
    assert cursor.params(10)["var.t"] == "2030-01-01T00:00:00.000Z"
    assert "var.id" not in cursor.params(10)


def test_slices_cover_the_range_once_and_merge_into_one_position():
    records = [rec(n, n * 1000) for n in range(12)]
    whole = KeySetCursor.fresh(FIELD, "2025-01-01", lookback_seconds=3)
    run(whole, records[:2])
    slices = whole.split([ts(4000), ts(8000), ts(500)])  # 500 is behind the position: ignored
    assert [(s.start, s.end) for s in slices] == [
        ("2025-01-01T00:00:00.000Z", ts(4000)),
        (ts(4000), ts(8000)),
        (ts(8000), None),
    ]
    assert slices[0].params(5)["var.id"] == "c-001"
    assert slices[1].params(5)["where"] == ["lastModifiedAt >= :t", "lastModifiedAt < :end"]

    # the last slice finishes first, then the middle one is half way
    run(slices[2], records[8:])
    slices[2].finish()
    run(slices[1], records[4:6])
    state = merged_state(FIELD, slices)
    assert state == {
        "slices": [
            {"start": "2025-01-01T00:00:00.000Z", "end": ts(4000), FIELD: ts(1000), "id": "c-001"},
            {"start": ts(4000), "end": ts(8000), FIELD: ts(5000), "id": "c-005"},
            {"start": ts(8000), "end": None, FIELD: ts(11000), "id": "c-011", "done": True},
        ]
    }
    # a crash here resumes every slice where it stopped, less the look-back (3 s) within its
    # range, like every other start: what it emitted there is emitted again, nothing is lost
    resumed = resume_slices(FIELD, state, 3)
    assert [s.params(5)["var.t"] for s in resumed[:2]] == [ts(1000 - 3000), ts(4000)]
    assert all("var.id" not in s.params(5) for s in resumed[:2])
    assert run(resumed[1], records[4:7]) == ["c-004", "c-005", "c-006"]
    assert resume_slices(FIELD, merged_state(FIELD, resumed), 3)[1].params(5)["var.t"] == ts(4000)
    assert resumed[2].done and resumed[2].newest == (ts(11000), "c-011")

    run(slices[0], records[2:4])
    slices[0].finish()
    state = merged_state(FIELD, slices)
    assert (state[FIELD], state["id"]) == (ts(3000), "c-003")  # the done prefix, collapsed
    assert [s["start"] for s in state["slices"]] == [ts(4000), ts(8000)]

    run(slices[1], records[6:8])
    slices[1].finish()
    state = merged_state(FIELD, slices)
    assert (state[FIELD], state["id"]) == (ts(11000), "c-011")
    assert read_margin(state["margin"]) == remembered(range(8, 12))
