"""Concurrent time slices through a real read, and the HTTP path's hardening."""

from __future__ import annotations

from collections import Counter

import pytest

from unit_tests.source.conftest import final_state, ids, position, run_read
from unit_tests.source.fake_api import API, PROJECT, config, customer, ts


def test_a_first_read_is_split_into_concurrent_slices_that_cover_everything_once(api):
    api.collections["customers"] = [customer(n, ms=n * 7) for n in range(5000)]
    output = run_read(config(concurrency=4), ["customers"])

    assert Counter(ids(output)) == Counter(r["id"] for r in api.collections["customers"])
    wheres = [q["params"].get("where") for q in api.queries]
    assert [w for w in wheres[2] if "end" in w] == ["lastModifiedAt < :end"]  # a bounded slice
    assert any(q["params"]["sort"] == ["lastModifiedAt desc", "id desc"] for q in api.queries)
    # 10 pages of data, the newest-record probe, and a short last page per slice (8, plus the
    # ones split off where a worker ran out of work)
    assert 12 <= len(api.queries) <= 30
    state = final_state(output, "customers")
    assert position(state) == {"lastModifiedAt": ts(4999 * 7), "id": "c-004999"}
    assert "slices" not in state


def test_an_interrupted_sliced_read_resumes_every_slice_exactly(api):
    api.collections["customers"] = [customer(n, ms=n * 7) for n in range(5000)]
    # Without a look-back, so that "exactly" is checkable: a resumed slice restarts at its
    # saved position. (With one it restarts the look-back earlier, within its range, and
    # emits that part again: test_cursor.py::test_slices_cover_the_range_once_and_merge_…)
    settings = config(concurrency=4, page_size=250, lookback_window_seconds=0)
    api.fail_from = 12
    broken = run_read(settings, ["customers"])
    assert broken.errors
    state = final_state(broken, "customers")
    assert state["slices"]
    api.fail_from = None
    api.queries.clear()
    resumed = run_read(settings, ["customers"], {"customers": state})

    assert not resumed.errors
    everything = {r["id"] for r in api.collections["customers"]}
    assert set(ids(broken)) | set(ids(resumed)) == everything
    # nothing a finished checkpoint covered is read again
    assert len(ids(resumed)) < len(everything)
    assert "slices" not in final_state(resumed, "customers")


def test_one_request_at_a_time_with_concurrency_1(api):
    api.collections["customers"] = [customer(n, ms=n) for n in range(1200)]
    run_read(config(concurrency=1), ["customers"])
    assert len(api.queries) == 3
    assert all("var.end" not in q["params"] for q in api.queries)


@pytest.mark.security
def test_a_redirect_is_never_followed_and_names_only_the_host(api, sleeps):
    api.mocker.get(
        f"{API}/{PROJECT}/customers",
        status_code=301,
        headers={"Location": "https://evil.example.net/steal?token=abc123"},
    )
    followed = api.mocker.get("https://evil.example.net/steal", json={"results": []})
    output = run_read(config(), ["customers"])

    message = output.errors[0].trace.error.message
    assert "redirect to evil.example.net" in message
    assert "abc123" not in output.get_formatted_error_message() and "steal" not in message
    assert not followed.called


@pytest.mark.security
def test_a_response_over_the_body_cap_fails_clearly(api, sleeps):
    big = [customer(n, ms=n) | {"notes": "x" * 5000} for n in range(300)]  # ~1.5 MB
    api.collections["customers"] = big
    output = run_read(config(max_response_mib=1), ["customers"])

    message = output.errors[0].trace.error.message
    assert "exceeded 1 MiB (max_response_mib)" in message
    assert output.records == []


def test_a_429_to_one_slice_pauses_the_others_for_its_retry_after(api, sleeps):
    api.collections["customers"] = [customer(n, ms=n * 7) for n in range(5000)]
    api.planned = [
        {"json": {"results": sorted(api.collections["customers"], key=lambda r: r["id"])[:500]}},
        {"json": {"results": [api.collections["customers"][-1]]}},  # the newest record
        {"status": 429, "headers": {"Retry-After": "30"}, "json": {"message": "slow down"}},
    ]
    output = run_read(config(concurrency=4), ["customers"])

    assert not output.errors
    assert Counter(ids(output)) == Counter(r["id"] for r in api.collections["customers"])
    # the rejected request waited Retry-After (+ the CDK's second); requests started by the
    # other slices meanwhile waited for the rest of those 30 s instead of hammering on
    assert 31 in sleeps
    assert any(0 < wait <= 30 for wait in sleeps)
