"""Contacts: upsert by external_id or email, property_meta, read, PATCH, archive, erase."""

from __future__ import annotations

import pytest
import requests

from sandbox.crmone import CrmOneSandbox
from unit_tests.sandbox_crmone.conftest import Api, contact


def test_schema_lists_standard_properties_with_types_and_the_tenant_stores() -> None:
    with CrmOneSandbox(stores=("de-web", "fr-web", "ch-web")) as sandbox:
        properties = Api(sandbox).get("/v1/schema/contacts").json()["properties"]
    by_name = {p["name"]: p for p in properties}
    assert by_name["store"]["options"] == ["de-web", "fr-web", "ch-web"]
    assert by_name["stores"]["type"] == "multi_enum"
    assert by_name["stores"]["options"] == ["de-web", "fr-web", "ch-web"]
    assert by_name["store"]["segmentation"] is True
    assert by_name["lifecycle_stage"]["options"] == [
        "subscriber",
        "lead",
        "customer",
        "repeat_customer",
    ]
    expected_types = {
        "email": "email",
        "phone": "phone",
        "mobile_phone": "phone",
        "birth_date": "date",
        "country": "country",
        "locale": "locale",
        "last_order_at": "datetime",
        "order_count": "integer",
        "total_spent": "money",
        "source_created_at": "datetime",
        "source_updated_at": "datetime",
        "customer_group": "string",
        "vat_id": "string",
    }
    assert {name: by_name[name]["type"] for name in expected_types} == expected_types
    assert by_name["email"]["unique"] is True and by_name["external_id"]["unique"] is True
    for name in (
        "first_name",
        "last_name",
        "salutation",
        "title",
        "company",
        "street",
        "postal_code",
        "city",
        "region",
    ):
        assert by_name[name]["type"] == "string"


def test_custom_property_is_created_once_then_conflicts(api: Api) -> None:
    definition = {"name": "loyalty_tier", "type": "enum", "options": ["gold", "silver"]}
    created = api.post("/v1/schema/contacts/properties", definition)
    assert created.status_code == 201 and created.json()["options"] == ["gold", "silver"]
    assert api.post("/v1/schema/contacts/properties", definition).status_code == 409
    assert (
        api.post("/v1/schema/contacts/properties", {"name": "email", "type": "email"}).status_code
        == 409
    )
    bad = api.post("/v1/schema/contacts/properties", {"name": "Bad Name", "type": "shape"})
    assert bad.status_code == 400 and {e["field"] for e in bad.json()["errors"]} == {"name", "type"}
    names = [p["name"] for p in api.get("/v1/schema/contacts").json()["properties"]]
    assert "loyalty_tier" in names
    result = api.upsert(contact("ct:1", loyalty_tier="gold"), contact("ct:2", loyalty_tier="x"))
    assert result["results"][0]["status"] == "created"
    assert result["errors"][0]["code"] == "invalid_enum"


def test_upsert_creates_updates_and_reports_unchanged_with_versions(api: Api) -> None:
    created = api.upsert(contact("ct:1", email="ana@example.com", first_name="Ana"))
    assert created["results"][0]["status"] == "created"
    assert created["results"][0]["version"] == 1
    assert created["results"][0]["id"].startswith("c_")
    same = api.upsert(contact("ct:1", first_name="Ana"))
    assert same["results"][0] | {"index": 0} == created["results"][0] | {"status": "unchanged"}
    updated = api.upsert(contact("ct:1", last_name="Lima"))
    assert updated["results"][0]["status"] == "updated"
    assert updated["results"][0]["version"] == 2
    properties = api.sandbox.contact("ct:1")["properties"]
    assert properties == {"email": "ana@example.com", "first_name": "Ana", "last_name": "Lima"}


def test_absent_leaves_and_null_clears(api: Api) -> None:
    api.upsert(contact("ct:1", first_name="Ana", city="Porto"))
    result = api.upsert(contact("ct:1", city=None))
    assert result["results"][0]["status"] == "updated"
    current = api.sandbox.contact("ct:1")
    assert current["properties"] == {"first_name": "Ana"}
    assert current["property_meta"]["city"]["updated_by"] == "integration"
    again = api.upsert(contact("ct:1", city=None))
    assert again["results"][0]["status"] == "unchanged"


def test_several_failed_records_do_not_fail_the_batch(api: Api) -> None:
    result = api.upsert(
        contact("ct:ok", email="ok@example.com"),
        contact("ct:1", favourite_colour="blue"),
        contact("ct:2", email="not-an-email"),
        contact("ct:3", phone="0151 1234"),
        contact("ct:4", store="mars-web"),
        contact("ct:5", stores=["eu-web", "moon-web"]),
        contact("ct:6", country="Germany"),
        contact("ct:7", birth_date="1990-02-30"),
        contact("ct:8", order_count="3"),
        contact("ct:9", total_spent={"amount": 12.5, "currency": "EUR"}),
        contact("ct:10", locale="de_DE!"),
        {"properties": {"first_name": "No key"}},
    )
    assert [r["external_id"] for r in result["results"]] == ["ct:ok"]
    codes = {e["external_id"]: (e["code"], e["field"]) for e in result["errors"]}
    assert codes == {
        "ct:1": ("unknown_property", "favourite_colour"),
        "ct:2": ("invalid_email", "email"),
        "ct:3": ("invalid_phone", "phone"),
        "ct:4": ("invalid_enum", "store"),
        "ct:5": ("invalid_enum", "stores"),
        "ct:6": ("invalid_value", "country"),
        "ct:7": ("invalid_value", "birth_date"),
        "ct:8": ("invalid_value", "order_count"),
        "ct:9": ("invalid_value", "total_spent"),
        "ct:10": ("invalid_value", "locale"),
        None: ("invalid_value", "external_id"),
    }
    assert [e["index"] for e in result["errors"]] == list(range(1, 12))
    assert all(e["status"] == 422 and e["message"] for e in result["errors"])
    assert [c["external_id"] for c in api.sandbox.contacts()] == ["ct:ok"]


def test_valid_values_of_every_type_are_accepted(api: Api) -> None:
    values = {
        "email": "Bo@Example.org",
        "phone": "+4915112345678",
        "mobile_phone": "+14155550132",
        "birth_date": "1990-02-28",
        "country": "DE",
        "locale": "de-DE",
        "store": "eu-web",
        "stores": ["eu-web", "us-web"],
        "lifecycle_stage": "customer",
        "last_order_at": "2026-11-26T18:40:00.000Z",
        "order_count": 3,
        "total_spent": {"amount": "12.34", "currency": "EUR"},
    }
    result = api.upsert(contact("ct:1", **values))
    assert result["errors"] == []
    stored = api.sandbox.contact("ct:1")["properties"]
    assert stored["email"] == "bo@example.org"  # emails are stored lower-cased
    assert stored["total_spent"] == {"amount": "12.34", "currency": "EUR"}


def test_email_of_another_contact_is_a_conflict_never_merged(api: Api) -> None:
    first = api.upsert(contact("ct:1", email="ana@example.com"))["results"][0]
    result = api.upsert(contact("ct:2", email="ANA@example.com", first_name="Other"))
    error = result["errors"][0]
    assert error["code"] == "email_conflict" and error["status"] == 409
    assert error["existing_id"] == first["id"]
    assert api.sandbox.contact("ct:2") is None
    assert "first_name" not in api.sandbox.contact("ct:1")["properties"]


def test_matching_by_email_attaches_the_external_id(api: Api) -> None:
    made = api.upsert(
        {"properties": {"email": "guest@example.com", "first_name": "Gus"}}, id_property="email"
    )["results"][0]
    assert made["status"] == "created" and made["external_id"] is None
    attached = api.upsert(contact("ct:7", email="Guest@example.com"), id_property="email")[
        "results"
    ][0]
    assert attached == {
        "index": 0,
        "id": made["id"],
        "external_id": "ct:7",
        "status": "updated",
        "version": 2,
    }
    assert api.sandbox.contact("ct:7")["properties"]["first_name"] == "Gus"
    assert len(api.sandbox.contacts()) == 1
    again = api.upsert(contact("ct:7", email="guest@example.com"), id_property="email")
    assert again["results"][0]["status"] == "unchanged"


def test_matching_by_email_refuses_a_contact_with_another_external_id(api: Api) -> None:
    first = api.upsert(contact("ct:1", email="ana@example.com"))["results"][0]
    clash = api.upsert(contact("ct:2", email="ana@example.com"), id_property="email")
    assert clash["errors"][0]["code"] == "email_conflict"
    assert clash["errors"][0]["existing_id"] == first["id"]
    other = api.upsert(contact("ct:1", email="new@example.com"), id_property="email")
    assert other["errors"][0]["code"] == "external_id_conflict"


def test_batch_read_returns_results_meta_and_missing(api: Api) -> None:
    api.upsert(contact("ct:1", email="ana@example.com", phone="+4915112345678", city="Porto"))
    read = api.read("ct:1", "ct:404", properties=["email", "phone"])
    assert read["missing"] == ["ct:404"]
    [found] = read["results"]
    assert found["external_id"] == "ct:1" and found["version"] == 1
    assert found["properties"] == {"email": "ana@example.com", "phone": "+4915112345678"}
    assert set(found["property_meta"]) == {"email", "phone"}
    assert found["property_meta"]["phone"]["updated_by"] == "integration"
    assert found["property_meta"]["phone"]["updated_at"].endswith("Z")
    assert api.read("ana@example.com", id_property="email")["results"][0]["id"] == found["id"]


def test_single_contact_get_and_search(api: Api) -> None:
    made = api.upsert(contact("ct:1", email="ana@example.com"))["results"][0]
    assert api.get(f"/v1/contacts/{made['id']}").json()["external_id"] == "ct:1"
    assert api.get("/v1/contacts/c_nope").status_code == 404
    assert (
        api.get("/v1/contacts", params={"external_id": "ct:1"}).json()["results"][0]["id"]
        == made["id"]
    )
    assert (
        api.get("/v1/contacts", params={"email": "ANA@example.com"}).json()["results"][0]["id"]
        == made["id"]
    )
    assert api.get("/v1/contacts", params={"external_id": "ct:2"}).json() == {"results": []}


def test_patch_needs_the_current_version(api: Api) -> None:
    made = api.upsert(contact("ct:1", first_name="Ana"))["results"][0]
    path = f"/v1/contacts/{made['id']}"
    patched = api.call(
        "PATCH", path, json={"properties": {"first_name": "Anna"}}, headers={"If-Match": "1"}
    )
    assert patched.status_code == 200 and patched.json()["version"] == 2
    stale = api.call(
        "PATCH", path, json={"properties": {"first_name": "Old"}}, headers={"If-Match": "1"}
    )
    assert stale.status_code == 412 and stale.json()["code"] == "version_conflict"
    assert api.sandbox.contact("ct:1")["properties"]["first_name"] == "Anna"
    invalid = api.call(
        "PATCH", path, json={"properties": {"email": "nope"}}, headers={"If-Match": "2"}
    )
    assert invalid.status_code == 422 and invalid.json()["code"] == "invalid_email"


def test_delete_archives_and_an_upsert_restores(api: Api) -> None:
    made = api.upsert(contact("ct:1", first_name="Ana"))["results"][0]
    api.post("/v1/lists/l_vip/members/batch", {"add": ["ct:1"]})
    assert api.call("DELETE", f"/v1/contacts/{made['id']}").status_code == 204
    archived = api.sandbox.contact("ct:1")
    assert archived["archived"] is True and archived["version"] == 2
    assert api.sandbox.list_members("l_vip") == []  # hidden from lists while archived
    assert api.read("ct:1")["results"][0]["archived"] is True  # still readable
    restored = api.upsert(contact("ct:1", first_name="Ana"))["results"][0]
    assert restored["status"] == "updated" and restored["version"] == 3
    assert api.sandbox.contact("ct:1")["archived"] is False
    assert api.sandbox.list_members("l_vip") == ["ct:1"]


def test_erase_leaves_only_a_tombstone_and_blocks_recreation(api: Api) -> None:
    made = api.upsert(contact("ct:1", email="ana@example.com", first_name="Ana"))["results"][0]
    api.post(
        "/v1/consents/batch",
        {
            "records": [
                {
                    "contact_external_id": "ct:1",
                    "channel": "email",
                    "purpose": "marketing",
                    "status": "granted",
                    "updated_at": "2026-11-26T17:59:00.000Z",
                }
            ]
        },
    )
    api.post(
        "/v1/activities/batch",
        {
            "records": [
                {
                    "external_id": "order:1:placed",
                    "contact_external_id": "ct:1",
                    "type": "order_placed",
                    "occurred_at": "2026-11-26T17:58:00.000Z",
                    "subject": "Order 1",
                    "properties": {"order_state": "Open"},
                }
            ]
        },
    )
    assert api.post(f"/v1/contacts/{made['id']}/erase").status_code == 204
    assert api.get(f"/v1/contacts/{made['id']}").status_code == 404
    assert api.read("ct:1")["missing"] == ["ct:1"]
    assert api.get("/v1/contacts", params={"email": "ana@example.com"}).json()["results"] == []
    [tombstone] = api.sandbox.tombstones()
    assert set(tombstone) == {"id", "external_id", "erased_at"}
    assert tombstone["id"] == made["id"] and tombstone["external_id"].startswith("sha256:")
    assert "ct:1" not in str(api.sandbox.dump())
    assert "ana@example.com" not in str(api.sandbox.dump())
    [activity] = api.sandbox.activities()
    assert activity["subject"] is None and activity["properties"] is None
    refused = api.upsert(contact("ct:1", first_name="Ana"))["errors"][0]
    assert refused["code"] == "erased"
    recreated = api.upsert(contact("ct:1", first_name="Ana"), allow_recreate_erased=True)
    assert recreated["results"][0]["status"] == "created"
    assert recreated["results"][0]["id"] != made["id"]
    assert api.sandbox.consents("ct:1") == []


def test_user_edit_is_recorded_as_the_users(api: Api) -> None:
    api.upsert(contact("ct:1", phone="+4915112345678", first_name="Ana"))
    edited = api.sandbox.user_edit("ct:1", {"phone": "+4915199999999"})
    assert edited["version"] == 2
    meta = api.read("ct:1")["results"][0]["property_meta"]
    assert meta["phone"]["updated_by"] == "user"
    assert meta["first_name"]["updated_by"] == "integration"
    assert meta["phone"]["updated_at"] >= meta["first_name"]["updated_at"]
    over_http = requests.post(
        f"{api.sandbox.url}/_sandbox/user_edit",
        json={"external_id": "ct:1", "properties": {"city": "Porto"}, "updated_by": "import"},
        timeout=10,
    )
    assert over_http.json()["property_meta"]["city"]["updated_by"] == "import"
    unknown = requests.post(
        f"{api.sandbox.url}/_sandbox/user_edit",
        json={"external_id": "ct:404", "properties": {"city": "Porto"}},
        timeout=10,
    )
    assert unknown.status_code == 404
    with pytest.raises(LookupError):
        api.sandbox.user_edit("ct:404", {"city": "Porto"})


def test_shipping_properties_exist_only_in_a_tenant_configured_with_them() -> None:
    record = contact("ct:1", shipping_city="Bergen", shipping_country="NO")
    with CrmOneSandbox() as plain:
        api = Api(plain)
        names = {p["name"] for p in api.get("/v1/schema/contacts").json()["properties"]}
        assert not any(name.startswith("shipping_") for name in names)
        refused = api.upsert(record)
        assert refused["errors"][0]["code"] == "unknown_property"
    with CrmOneSandbox(shipping_properties=True) as configured:
        api = Api(configured)
        by_name = {p["name"]: p for p in api.get("/v1/schema/contacts").json()["properties"]}
        assert by_name["shipping_country"]["type"] == "country"
        assert {"shipping_street", "shipping_postal_code", "shipping_region"} <= set(by_name)
        assert api.upsert(record)["results"][0]["status"] == "created"
        wrong = api.upsert(contact("ct:2", shipping_country="Norway"))
        assert wrong["errors"][0]["code"] == "invalid_value"


def test_lists_are_listed_with_the_ones_an_admin_adds() -> None:
    with CrmOneSandbox() as sandbox:
        sandbox.add_list("l_north", "North", "pipeline")
        api = Api(sandbox)
        found = {item["id"]: item for item in api.get("/v1/lists").json()["results"]}
        assert found["l_north"] == {"id": "l_north", "name": "North", "kind": "pipeline"}
        assert "l_eu_newsletter" in found
        added = api.post("/v1/lists/l_north/members/batch", {"add": ["ct:x"]}).json()
        assert added["errors"][0]["code"] == "contact_not_found"
