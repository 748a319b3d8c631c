"""PageReader alone: concurrent slices over a skewed collection, split where records are dense."""

from __future__ import annotations

import time
from collections import Counter

from source_commercetools.cursor import KeySetCursor
from source_commercetools.pages import PageReader
from source_commercetools.state import merged_state
from unit_tests.source.fake_api import ts

FIELD = "lastModifiedAt"


def collection() -> list[dict]:
    """Sparse early, crowded late: evenly spaced slices get very unequal shares."""
    sparse = [(n * 1000, f"a-{n:05d}") for n in range(200)]
    dense = [(200_000 + n // 7, f"b-{n:05d}") for n in range(6000)]
    return [{"id": i, "version": 1, FIELD: ts(ms)} for ms, i in sorted(sparse + dense)]


def fake_fetch(records: list[dict], calls: list[dict]):
    def fetch(params: dict) -> list[dict]:
        calls.append(params)
        time.sleep(0.002)  # let the workers interleave
        low = (params.get("var.t", ""), params.get("var.id", ""))
        inclusive = params.get("where", [""])[0].endswith(">= :t")
        end = params.get("var.end")
        page = [
            r
            for r in records
            if ((r[FIELD], r["id"]) >= (low[0], "") if inclusive else (r[FIELD], r["id"]) > low)
            and (end is None or r[FIELD] < end)
        ]
        return page[: params["limit"]]

    return fetch


def test_slices_split_where_dense_and_every_record_is_read_once_in_order_per_slice():
    records = collection()
    calls: list[dict] = []
    start = KeySetCursor.fresh(FIELD, "2025-01-01")
    edges = [ts(50_000), ts(100_000), ts(150_000)]  # evenly spaced by time: the last is crowded
    reader = PageReader(start.split(edges), fake_fetch(records, calls), 100, 4, ts(200_857))

    seen: Counter[str] = Counter()
    for page in reader:
        cursor = page.cursor
        for record in page.records:
            assert cursor.start is None or record[FIELD] >= cursor.start
            assert cursor.end is None or record[FIELD] < cursor.end
            if cursor.advance(record):
                seen[record["id"]] += 1
        if page.last:
            cursor.finish()
    slices = reader.slices()

    assert seen == Counter(r["id"] for r in records)
    assert len(slices) > 4  # the crowded range was split for the idle workers
    # consecutive, gap-free ranges in key order
    assert [s.end for s in slices[:-1]] == [s.start for s in slices[1:]]
    assert merged_state(FIELD, slices)["id"] == records[-1]["id"]
    assert "var.id" not in calls[0] or calls[0]["var.id"]


def test_one_worker_reads_the_slices_one_after_another_without_splitting():
    records = collection()
    calls: list[dict] = []
    start = KeySetCursor.fresh(FIELD, "2025-01-01")
    reader = PageReader(start.split([ts(100_000)]), fake_fetch(records, calls), 500, 1, ts(200_857))
    emitted = [r["id"] for page in reader for r in page.records if page.cursor.advance(r)]
    assert emitted == [r["id"] for r in records]
    assert len(reader.slices()) == 2
