"""limit / offset / withTotal bounds, multi-key sort and the unspecified order without sort."""

from __future__ import annotations

import pytest
import requests

from sandbox.commercetools import CommercetoolsSandbox
from unit_tests.sandbox_commercetools.conftest import read_keyset


def get(api: requests.Session, sandbox: CommercetoolsSandbox, path: str, **params) -> dict:
    response = api.get(f"{sandbox.url}/demo/{path}", params=params, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def test_default_page_has_20_records_and_a_total(api, sandbox) -> None:
    page = get(api, sandbox, "customers")
    assert (page["limit"], page["offset"], page["count"]) == (20, 0, 20)
    assert page["total"] == len(sandbox.records("customers"))
    assert len(page["results"]) == 20


def test_with_total_false_leaves_the_total_out(api, sandbox) -> None:
    page = get(api, sandbox, "customers", withTotal="false", limit=5)
    assert "total" not in page
    assert page["count"] == 5


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"limit": 501}, "limit"),
        ({"limit": -1}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"offset": 10_001}, "offset"),
        ({"withTotal": "maybe"}, "withTotal"),
        ({"sort": "lastModifiedAt sideways"}, "sort"),
    ],
)
def test_out_of_range_paging_is_invalid_input(api, sandbox, params, parameter) -> None:
    response = api.get(f"{sandbox.url}/demo/customers", params=params, timeout=10)
    assert response.status_code == 400
    body = response.json()
    assert body["statusCode"] == 400
    assert body["errors"][0]["code"] == "InvalidInput"
    assert body["message"].startswith(f"Malformed parameter: {parameter}:")


def test_the_largest_limit_and_offset_are_accepted(api, sandbox) -> None:
    assert get(api, sandbox, "orders", limit=500)["count"] == 500
    far = get(api, sandbox, "orders", offset=10_000, limit=500)
    assert far["count"] == 0
    assert far["offset"] == 10_000


def test_multi_key_sort_orders_ties_by_the_next_key(api, sandbox) -> None:
    records = sandbox.records("customers")
    expected = sorted(records, key=lambda r: r["id"], reverse=True)
    expected.sort(key=lambda r: r["lastModifiedAt"])
    got = []
    for offset in range(0, len(records), 500):
        got += get(
            api,
            sandbox,
            "customers",
            sort=["lastModifiedAt asc", "id desc"],
            limit=500,
            offset=offset,
        )["results"]
    assert [r["id"] for r in got] == [r["id"] for r in expected]
    ties = len(records) - len({r["lastModifiedAt"] for r in records})
    assert ties > 100  # the tie order was really exercised


def test_sort_descending_on_a_nested_field(api, sandbox) -> None:
    page = get(api, sandbox, "orders", sort=["totalPrice.centAmount desc", "id asc"], limit=50)
    amounts = [r["totalPrice"]["centAmount"] for r in page["results"]]
    assert amounts == sorted(amounts, reverse=True)
    assert amounts[0] == max(r["totalPrice"]["centAmount"] for r in sandbox.records("orders"))


def test_without_sort_the_order_is_neither_insertion_nor_time_but_stable(api, sandbox) -> None:
    stored = [r["id"] for r in sandbox.records("customers")]
    by_time = [
        r["id"]
        for r in sorted(sandbox.records("customers"), key=lambda r: (r["lastModifiedAt"], r["id"]))
    ]
    pages = [get(api, sandbox, "customers", limit=500, offset=o)["results"] for o in (0, 500)]
    unsorted = [r["id"] for page in pages for r in page]
    assert sorted(unsorted) == sorted(stored)  # offset paging still covers everything once
    assert unsorted != stored
    assert unsorted != by_time
    assert unsorted != sorted(stored)
    again = [r["id"] for r in get(api, sandbox, "customers", limit=500)["results"]]
    assert again == unsorted[:500]


def test_single_resource_by_id_and_by_key(api, sandbox) -> None:
    customer = sandbox.records("customers")[7]
    by_id = api.get(f"{sandbox.url}/demo/customers/{customer['id']}", timeout=10)
    assert by_id.json() == customer
    by_key = api.get(f"{sandbox.url}/demo/customers/key={customer['key']}", timeout=10)
    assert by_key.json()["id"] == customer["id"]
    missing = api.get(f"{sandbox.url}/demo/customers/no-such-id", timeout=10)
    assert missing.status_code == 404
    assert missing.json()["errors"][0]["code"] == "ResourceNotFound"


def test_a_key_set_range_with_an_upper_bound_stops_at_its_end(api, sandbox) -> None:
    records = sorted(sandbox.records("customers"), key=lambda r: (r["lastModifiedAt"], r["id"]))
    low, high = records[100]["lastModifiedAt"], records[400]["lastModifiedAt"]
    response = api.get(
        f"{sandbox.url}/demo/customers",
        params={
            "sort": ["lastModifiedAt asc", "id asc"],
            "where": ["lastModifiedAt >= :t", "lastModifiedAt < :end"],
            "var.t": low,
            "var.end": high,
            "limit": 500,
            "withTotal": "false",
        },
        timeout=10,
    )
    expected = [r["id"] for r in records if low <= r["lastModifiedAt"] < high]
    assert [r["id"] for r in response.json()["results"]] == expected


@pytest.mark.parametrize("where", [None, "email is defined"])
def test_newest_first_reads_the_index_backwards_with_the_general_paths_result(
    api, sandbox, where
) -> None:
    def walk(sort: list[str]) -> list[str]:
        params = {"sort": sort, "limit": 500, "withTotal": "false"}
        if where:
            params["where"] = where
        got = []
        for offset in range(0, len(sandbox.records("customers")) + 500, 500):
            got += get(api, sandbox, "customers", offset=offset, **params)["results"]
        return [r["id"] for r in got]

    newest_first = walk(["lastModifiedAt desc", "id desc"])
    assert newest_first == walk(["lastModifiedAt desc", "id desc", "key asc"])  # general path
    assert len(newest_first) > 500
    ascending = read_keyset(api, f"{sandbox.url}/demo/customers")
    if not where:
        assert newest_first == [r["id"] for r in reversed(ascending)]
