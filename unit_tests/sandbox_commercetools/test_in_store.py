"""`/in-store/key={store}/customers|orders|carts` show only that store's records."""

from __future__ import annotations

from unit_tests.sandbox_commercetools.conftest import read_keyset


def in_store(record: dict, store: str) -> bool:
    if "stores" in record:
        return any(ref["key"] == store for ref in record["stores"])
    return (record.get("store") or {}).get("key") == store


def test_in_store_customers_orders_and_carts(api, sandbox) -> None:
    for collection in ("customers", "orders", "carts"):
        url = f"{sandbox.url}/demo/in-store/key=eu-web/{collection}"
        got = {r["id"] for r in read_keyset(api, url, limit=200)}
        everything = sandbox.records(collection)
        expected = {r["id"] for r in everything if in_store(r, "eu-web")}
        assert got == expected
        assert 0 < len(expected) < len(everything)


def test_global_customers_and_storeless_orders_are_not_in_any_store(api, sandbox) -> None:
    global_ids = {r["id"] for r in sandbox.records("customers") if not r["stores"]}
    assert global_ids
    seen: set[str] = set()
    for store in ("eu-web", "us-web"):
        seen |= {
            r["id"]
            for r in read_keyset(
                api, f"{sandbox.url}/demo/in-store/key={store}/customers", limit=500
            )
        }
    assert not seen & global_ids
    assert seen | global_ids == {r["id"] for r in sandbox.records("customers")}


def test_a_record_of_another_store_is_not_found_in_store(api, sandbox) -> None:
    us_order = next(o for o in sandbox.records("orders") if in_store(o, "us-web"))
    url = f"{sandbox.url}/demo/in-store/key=eu-web/orders/{us_order['id']}"
    assert api.get(url, timeout=10).status_code == 404
    url = f"{sandbox.url}/demo/in-store/key=us-web/orders/{us_order['id']}"
    assert api.get(url, timeout=10).json()["id"] == us_order["id"]


def test_unknown_store_and_resources_without_store_endpoints(api, sandbox) -> None:
    unknown = api.get(f"{sandbox.url}/demo/in-store/key=mars-web/customers", timeout=10)
    assert unknown.status_code == 404
    assert "mars-web" in unknown.json()["message"]
    products = api.get(f"{sandbox.url}/demo/in-store/key=eu-web/products", timeout=10)
    assert products.status_code == 404
