"""Consents, activities, related objects and lists."""

from __future__ import annotations

from typing import Any

from unit_tests.sandbox_crmone.conftest import Api, contact


def consent(status: str, updated_at: str, **extra: Any) -> dict[str, Any]:
    return {
        "contact_external_id": "ct:1",
        "channel": "email",
        "purpose": "marketing",
        "status": status,
        "updated_at": updated_at,
        "source": "commercetools",
        **extra,
    }


def send_consents(api: Api, *records: dict[str, Any]) -> dict[str, Any]:
    response = api.post("/v1/consents/batch", {"records": list(records)})
    assert response.status_code == 200, response.text
    return response.json()


def test_consents_applied_stale_and_unchanged(api: Api) -> None:
    made = api.upsert(contact("ct:1"))["results"][0]
    newer, older = "2026-11-26T18:00:00.000Z", "2026-11-26T17:00:00.000Z"
    first = send_consents(api, consent("granted", newer, evidence={"store": "eu-web"}))
    assert first["results"] == [{"index": 0, "status": "applied"}]
    result = send_consents(
        api,
        consent("withdrawn", older),
        consent("granted", "2026-11-26T19:00:00+01:00", evidence={"store": "eu-web"}),
        consent("granted", newer, channel="sms"),
    )
    assert [r["status"] for r in result["results"]] == ["stale", "unchanged", "applied"]
    held = api.get(f"/v1/contacts/{made['id']}/consents").json()["results"]
    assert held == [
        {
            "channel": "email",
            "purpose": "marketing",
            "status": "granted",
            "updated_at": newer,
            "source": "commercetools",
        },
        {
            "channel": "sms",
            "purpose": "marketing",
            "status": "granted",
            "updated_at": newer,
            "source": "commercetools",
        },
    ]
    withdrawn = send_consents(api, consent("withdrawn", "2026-11-26T18:00:00.001Z"))
    assert withdrawn["results"][0]["status"] == "applied"
    assert api.sandbox.consents("ct:1")[0]["status"] == "withdrawn"


def test_consent_errors(api: Api) -> None:
    api.upsert(contact("ct:1"))
    result = send_consents(
        api,
        consent("granted", "2026-11-26T18:00:00.000Z", contact_external_id="ct:404"),
        consent("granted", "2026-11-26T18:00:00.000Z", channel="pigeon"),
        consent("maybe", "2026-11-26T18:00:00.000Z"),
        consent("granted", "yesterday"),
        consent("granted", "2026-11-26T18:00:00.000Z", purpose="p" * 65),
    )
    assert result["results"] == []
    assert [(e["index"], e["code"]) for e in result["errors"]] == [
        (0, "contact_not_found"),
        (1, "invalid_value"),
        (2, "invalid_value"),
        (3, "invalid_value"),
        (4, "invalid_value"),
    ]
    assert api.sandbox.consents("ct:1") == []


def activity(external_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "external_id": external_id,
        "contact_external_id": "ct:1",
        "type": "order_placed",
        "occurred_at": "2026-11-26T17:58:00.000Z",
        "subject": "Order 100045",
        "amount": {"amount": "59.90", "currency": "EUR"},
        "store": "eu-web",
        "properties": {"order_state": "Open", "line_items": 3},
        **extra,
    }


def send_activities(api: Api, *records: dict[str, Any]) -> dict[str, Any]:
    response = api.post("/v1/activities/batch", {"records": list(records)})
    assert response.status_code == 200, response.text
    return response.json()


def test_activities_are_idempotent_by_external_id(api: Api) -> None:
    api.upsert(contact("ct:1", email="ana@example.com"))
    assert send_activities(api, activity("order:1:placed"))["results"][0]["status"] == "created"
    assert send_activities(api, activity("order:1:placed"))["results"][0]["status"] == "unchanged"
    changed = activity("order:1:placed", properties={"order_state": "Complete", "line_items": 3})
    assert send_activities(api, changed)["results"][0]["status"] == "updated"
    [stored] = api.sandbox.activities("ct:1")
    assert stored["properties"]["order_state"] == "Complete"
    assert stored["contact_external_id"] == "ct:1"


def test_activity_types_unknown_type_contact_email_and_missing_contact(api: Api) -> None:
    names = [t["name"] for t in api.get("/v1/activity-types").json()["results"]]
    assert {"order_placed", "order_cancelled", "cart_abandoned", "note"} <= set(names)
    api.upsert(contact("ct:1", email="ana@example.com"))
    by_email = activity("order:2:placed", contact_email="ANA@example.com")
    del by_email["contact_external_id"]
    result = send_activities(
        api,
        by_email,
        activity("order:3:placed", type="order_teleported"),
        activity("order:4:placed", contact_external_id="ct:404"),
        activity("order:5:placed", amount={"amount": "1,00", "currency": "EUR"}),
    )
    assert [r["external_id"] for r in result["results"]] == ["order:2:placed"]
    assert [e["code"] for e in result["errors"]] == [
        "unknown_activity_type",
        "contact_not_found",
        "invalid_value",
    ]
    assert api.sandbox.activities("ct:1")[0]["external_id"] == "order:2:placed"


def test_contact_activities_newest_first_and_by_type(api: Api) -> None:
    made = api.upsert(contact("ct:1"))["results"][0]
    send_activities(
        api,
        activity("a", occurred_at="2026-11-01T10:00:00.000Z"),
        activity("b", occurred_at="2026-11-03T10:00:00.000Z", type="order_cancelled"),
        activity("c", occurred_at="2026-11-02T10:00:00.000Z"),
    )
    path = f"/v1/contacts/{made['id']}/activities"
    assert [a["external_id"] for a in api.get(path).json()["results"]] == ["b", "c", "a"]
    placed = api.get(path, params={"type": "order_placed"}).json()["results"]
    assert [a["external_id"] for a in placed] == ["c", "a"]


def test_objects_orders_upsert_and_read(api: Api) -> None:
    types = api.get("/v1/objects").json()["results"]
    orders = {p["name"]: p for p in types[0]["properties"]}
    assert types[0]["name"] == "orders"
    assert orders["store"]["options"] == ["eu-web", "us-web"]
    assert orders["total"]["type"] == "money" and orders["line_items"]["type"] == "integer"
    api.upsert(contact("ct:1"))
    record = {
        "external_id": "order:1",
        "contact_external_id": "ct:1",
        "properties": {
            "order_number": "100045",
            "store": "eu-web",
            "line_items": 2,
            "total": {"amount": "59.90", "currency": "EUR"},
        },
    }
    url = "/v1/objects/orders/batch/upsert"
    first = api.post(url, {"records": [record]}).json()["results"][0]
    assert (first["status"], first["version"]) == ("created", 1)
    assert api.post(url, {"records": [record]}).json()["results"][0]["status"] == "unchanged"
    record["properties"] = {"order_state": "Complete"}
    second = api.post(url, {"records": [record]}).json()["results"][0]
    assert (second["status"], second["version"]) == ("updated", 2)
    read = api.get("/v1/objects/orders/order:1").json()
    assert read["properties"]["order_number"] == "100045"  # absent = leave
    assert read["properties"]["order_state"] == "Complete"
    assert read["contact_external_id"] == "ct:1"
    bad = api.post(
        url,
        {
            "records": [
                {
                    "external_id": "order:2",
                    "contact_external_id": "ct:1",
                    "properties": {"colour": 1},
                },
                {
                    "external_id": "order:3",
                    "contact_external_id": "ct:1",
                    "properties": {"store": "x"},
                },
                {"external_id": "order:4", "contact_external_id": "ct:404", "properties": {}},
            ]
        },
    ).json()
    assert [e["code"] for e in bad["errors"]] == [
        "unknown_property",
        "invalid_enum",
        "contact_not_found",
    ]
    assert api.get("/v1/objects/orders/order:2").status_code == 404
    assert api.post("/v1/objects/invoices/batch/upsert", {"records": []}).status_code == 404
    assert [o["external_id"] for o in api.sandbox.objects("orders")] == ["order:1"]


def test_lists_membership_add_remove_and_errors(api: Api) -> None:
    ids = {item["id"]: item for item in api.get("/v1/lists").json()["results"]}
    assert {"l_eu_newsletter", "l_us_newsletter", "l_vip"} <= set(ids)
    assert {item["kind"] for item in ids.values()} == {"static", "pipeline"}
    api.upsert(contact("ct:1"), contact("ct:2"))
    url = "/v1/lists/l_eu_newsletter/members/batch"
    added = api.post(url, {"add": ["ct:1", "ct:2", "ct:404"]}).json()
    assert added == {
        "added": 2,
        "removed": 0,
        "errors": [{"external_id": "ct:404", "code": "contact_not_found"}],
    }
    again = api.post(url, {"add": ["ct:1"], "remove": ["ct:2"]}).json()
    assert (again["added"], again["removed"]) == (0, 1)
    members = api.get("/v1/lists/l_eu_newsletter/members").json()["results"]
    assert members == ["ct:1"] == api.sandbox.list_members("l_eu_newsletter")
    assert api.post("/v1/lists/l_nope/members/batch", {"add": ["ct:1"]}).status_code == 404
