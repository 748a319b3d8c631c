"""Key-set paging and cursor logic, against a commercetools fake over requests-mock."""

from __future__ import annotations

from collections import Counter

from airbyte_cdk.models import SyncMode

from unit_tests.source.conftest import final_state, ids, position, run_read
from unit_tests.source.fake_api import config, customer, ts


def test_ties_across_page_boundaries_every_id_once(api):
    # 1,203 customers in 3 milliseconds: pages of 500 end in the middle of a tie.
    api.collections["customers"] = [customer(n, ms=n % 3) for n in range(1203)]
    output = run_read(config(concurrency=1), ["customers"])

    emitted = ids(output)
    assert Counter(emitted) == Counter(r["id"] for r in api.collections["customers"])
    assert len(api.queries) == 3
    # page 2 starts exactly after the last record of page 1, inside the tie
    first_page_last = sorted(
        api.collections["customers"], key=lambda r: (r["lastModifiedAt"], r["id"])
    )[499]
    assert api.queries[1]["params"]["var.t"] == [first_page_last["lastModifiedAt"]]
    assert api.queries[1]["params"]["var.id"] == [first_page_last["id"]]


def test_more_than_ten_thousand_records_without_offset(api):
    api.collections["customers"] = [customer(n, ms=n // 40) for n in range(12_345)]
    output = run_read(config(concurrency=1), ["customers"])

    assert sorted(ids(output)) == sorted(r["id"] for r in api.collections["customers"])
    assert len(api.queries) == 25  # 24 full pages and a partial one
    assert all("offset" not in q["params"] for q in api.queries)
    assert all(q["params"]["limit"] == ["500"] for q in api.queries)


def test_record_updated_between_pages_is_read_again_and_none_is_missed(api):
    api.collections["customers"] = [customer(n, ms=n) for n in range(1200)]
    early, late = "c-000010", "c-001100"

    def mutate(fake, page):
        if page == 1:  # after page 1: one read record and one unread record change
            fake.update("customers", early, ms=5000)
            fake.update("customers", late, ms=5001)

    api.after_page = mutate
    output = run_read(config(concurrency=1), ["customers"])

    emitted = [(m.record.data["id"], m.record.data["version"]) for m in output.records]
    assert Counter(i for i, _ in emitted) == Counter(
        {r["id"]: 1 for r in api.collections["customers"]} | {early: 2}
    )
    assert (early, 2) in emitted and (late, 2) in emitted and (late, 1) not in emitted
    assert position(final_state(output, "customers")) == {"lastModifiedAt": ts(5001), "id": late}


def test_state_is_checkpointed_after_every_page(api):
    api.collections["customers"] = [customer(n, ms=n) for n in range(1100)]
    output = run_read(config(concurrency=1, lookback_window_seconds=0), ["customers"])

    states = [m.state.stream.stream_state.__dict__ for m in output.state_messages]
    assert states == [
        {"lastModifiedAt": ts(499), "id": "c-000499"},
        {"lastModifiedAt": ts(999), "id": "c-000999"},
        {"lastModifiedAt": ts(1099), "id": "c-001099"},
    ]
    # each checkpoint follows exactly the records of its page
    kinds = [m.type.name for m in output.records_and_state_messages]
    assert [i for i, kind in enumerate(kinds) if kind == "STATE"] == [500, 1001, 1102]


def test_resume_from_state_sends_the_saved_position_and_reads_only_what_follows(api):
    api.collections["customers"] = [customer(n, ms=n // 10) for n in range(300)]
    state = {"lastModifiedAt": ts(20), "id": "c-000204"}
    output = run_read(config(lookback_window_seconds=0), ["customers"], state={"customers": state})

    params = api.queries[0]["params"]
    assert (params["var.t"], params["var.id"]) == ([ts(20)], ["c-000204"])
    assert ids(output) == [f"c-{n:06d}" for n in range(205, 300)]


def test_a_run_without_changes_makes_one_request_per_stream_plus_one_token(api):
    # with the default look-back: the margin is re-read, and every record in it is remembered
    api.collections["customers"] = [customer(n, ms=n) for n in range(10)]
    api.collections["orders"] = []
    first = run_read(config(), ["customers", "orders"])
    assert len(first.records) == 10
    state = {name: final_state(first, name) for name in ("customers", "orders")}
    api.queries.clear()
    api.token_requests.clear()
    output = run_read(config(), ["customers", "orders"], state=state)

    assert output.records == []
    assert [q["path"] for q in api.queries] == ["customers", "orders"]
    assert api.queries[0]["params"]["var.t"] == [ts(9 - 120_000)]
    assert len(api.token_requests) == 1
    assert final_state(output, "customers") == state["customers"]


def test_full_refresh_ignores_state_and_still_pages_by_key_set(api):
    api.collections["customers"] = [customer(n, ms=n) for n in range(700)]
    state = {"customers": {"lastModifiedAt": ts(600), "id": "c-000600"}}
    output = run_read(config(), ["customers"], state=state, mode=SyncMode.full_refresh)

    assert len(ids(output)) == 700
    assert api.queries[0]["params"]["where"] == ["lastModifiedAt >= :t"]
    assert api.queries[0]["params"]["var.t"] == ["2025-01-01T00:00:00.000Z"]
    assert "var.id" not in api.queries[0]["params"]  # never an empty input variable


def test_cursor_values_are_sent_in_commercetools_form(api):
    api.collections["customers"] = []
    run_read(config(start_date="2025-02-03T04:05:06+02:00"), ["customers"])
    run_read(
        config(lookback_window_seconds=0),
        ["customers"],
        state={"customers": {"lastModifiedAt": "2025-03-01T13:00:00+01:00", "id": "x"}},
    )

    assert api.queries[0]["params"]["var.t"] == ["2025-02-03T02:05:06.000Z"]
    assert api.queries[1]["params"]["var.t"] == ["2025-03-01T12:00:00.000Z"]


def test_look_back_rereads_the_margin_once(api):
    # saved at ms 60,000; a 30 s window re-reads from ms 30,000
    api.collections["customers"] = [customer(n, ms=n * 1000) for n in range(100)]
    api.collections["customers"][25]["lastModifiedAt"] = ts(25_000)  # before the margin
    late_arrival = customer(999, ms=45_000)  # became visible after the last run passed it
    api.collections["customers"].append(late_arrival)
    state = {"customers": {"lastModifiedAt": ts(60_000), "id": "c-000060"}}
    output = run_read(config(lookback_window_seconds=30, page_size=10), ["customers"], state=state)

    assert api.queries[0]["params"]["var.t"] == [ts(30_000)]
    assert api.queries[0]["params"]["where"] == ["lastModifiedAt >= :t"]
    emitted = ids(output)
    assert late_arrival["id"] in emitted
    assert Counter(emitted) == Counter(
        [f"c-{n:06d}" for n in range(30, 100)] + [late_arrival["id"]]
    )


def test_look_back_deduplicates_by_id_and_version_within_the_run(api):
    records = [customer(n, ms=n * 1000) for n in range(20)]
    api.collections["customers"] = records
    # an eventually consistent index serves a margin record again on the next page
    api.planned = [
        {"json": {"results": records[10:15]}},
        {"json": {"results": [records[14], *records[15:19]]}},
        {"json": {"results": records[19:20]}},
    ]
    state = {"customers": {"lastModifiedAt": ts(16_000), "id": "c-000016"}}
    output = run_read(config(lookback_window_seconds=6, page_size=5), ["customers"], state=state)

    assert ids(output) == [f"c-{n:06d}" for n in range(10, 20)]


def test_records_out_of_key_order_fail_rather_than_skip(api):
    records = [customer(n, ms=n) for n in range(4)]
    api.planned = [{"json": {"results": [records[0], records[2], records[1]]}}]
    output = run_read(config(), ["customers"])

    assert output.errors
    assert "out of (lastModifiedAt, id) order" in output.errors[0].trace.error.message


def test_password_hash_is_never_emitted(api):
    api.collections["customers"] = [customer(n, ms=n) for n in range(3)]
    output = run_read(config(), ["customers"])

    assert len(output.records) == 3
    assert all("password" not in m.record.data for m in output.records)
    assert all(m.record.data["email"] for m in output.records)


def test_store_keys_read_in_store_with_state_per_store(api):
    api.collections["customers"] = [
        customer(0, ms=1, stores=("eu-web",)),
        customer(1, ms=2, stores=("us-web",)),
        customer(2, ms=3, stores=("eu-web", "us-web")),
        customer(3, ms=4),
    ]
    output = run_read(config(store_keys=["eu-web", "us-web"]), ["customers"])

    assert [q["path"] for q in api.queries] == [
        "in-store/key=eu-web/customers",
        "in-store/key=us-web/customers",
    ]
    got = [(m.record.data["id"], m.record.data["_ab_store_key"]) for m in output.records]
    assert got == [
        ("c-000000", "eu-web"),
        ("c-000002", "eu-web"),
        ("c-000001", "us-web"),
        ("c-000002", "us-web"),
    ]
    state = final_state(output, "customers")
    assert {store: position(part) for store, part in state["stores"].items()} == {
        "eu-web": {"lastModifiedAt": ts(3), "id": "c-000002"},
        "us-web": {"lastModifiedAt": ts(3), "id": "c-000002"},
    }

    # resume: each store from its own position
    api.collections["customers"].append(customer(4, ms=5, stores=("us-web",)))
    api.queries.clear()
    again = run_read(
        config(store_keys=["eu-web", "us-web"]), ["customers"], state={"customers": state}
    )
    assert [q["params"]["var.t"] for q in api.queries] == [[ts(3 - 120_000)]] * 2
    assert [(m.record.data["id"], m.record.data["_ab_store_key"]) for m in again.records] == [
        ("c-000004", "us-web")
    ]


def test_messages_use_created_at_and_the_type_filter(api):
    api.collections["messages"] = [
        {
            "id": f"m-{n}",
            "type": kind,
            "createdAt": ts(n),
            "lastModifiedAt": ts(n),
            "resource": {"typeId": "customer", "id": f"c-{n}"},
            "resourceVersion": 2,
            "sequenceNumber": 1,
            "version": 1,
        }
        for n, kind in enumerate(["CustomerDeleted", "CustomerFirstNameSet", "OrderDeleted"])
    ]
    output = run_read(config(message_types=["CustomerDeleted", "OrderDeleted"]), ["messages"])

    params = api.queries[0]["params"]
    assert params["sort"] == ["createdAt asc", "id asc"]
    assert params["where"][1] == "type in :types"
    assert params["var.types"] == ["CustomerDeleted", "OrderDeleted"]
    assert ids(output) == ["m-0", "m-2"]
    assert position(final_state(output, "messages"), "createdAt") == {
        "createdAt": ts(2),
        "id": "m-2",
    }


def test_token_scopes_are_those_of_the_selected_streams(api):
    api.collections["customers"] = []
    api.collections["carts"] = []
    run_read(config(), ["customers", "carts"])

    body = api.token_requests[0].body
    assert "scope=view_customers%3Ademo+view_orders%3Ademo" in body
    assert "client_secret" not in body and "secret-1" not in body
    assert api.token_requests[0].headers["Authorization"].startswith("Basic ")
