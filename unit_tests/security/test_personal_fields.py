"""Issue #17, finding 8: the redaction list is derived from the schemas' `x-personal`
annotations (and the CRM One properties the mapping fills from them), so `companyName` and
every other personal field of the customer schema is redacted, with no hand-kept list."""

from __future__ import annotations

import json

import pytest

from connectors_common.personal import annotated_fields, personal_paths, schema
from destination_crmone.journal.redact import REDACTED, is_personal_key, personal_keys, redact
from destination_crmone.records import personal_properties
from integration_tests.destination.airbyte_input import customer, record_message
from unit_tests.security.conftest import Destination, found_in

pytestmark = pytest.mark.security

# What a commercetools Customer and its Address hold about the person (API reference).
CUSTOMER_PERSONAL = {
    "email",
    "firstName",
    "lastName",
    "middleName",
    "dateOfBirth",
    "companyName",
    "vatId",
    "addresses[].firstName",
    "addresses[].lastName",
    "addresses[].streetName",
    "addresses[].streetNumber",
    "addresses[].additionalStreetInfo",
    "addresses[].additionalAddressInfo",
    "addresses[].postalCode",
    "addresses[].city",
    "addresses[].company",
    "addresses[].building",
    "addresses[].apartment",
    "addresses[].pOBox",
    "addresses[].phone",
    "addresses[].mobile",
    "addresses[].email",
    "addresses[].fax",
}


def test_the_customer_schema_annotates_every_personal_field() -> None:
    assert set(personal_paths("customers")) == CUSTOMER_PERSONAL
    for stream in ("orders", "carts"):
        paths = set(personal_paths(stream))
        assert "customerEmail" in paths and "shippingAddress.phone" in paths


def test_the_redaction_list_is_every_annotated_field_and_what_the_mapping_makes_of_it() -> None:
    for stream in ("customers", "orders", "carts"):
        for path, name in annotated_fields(schema(stream)):
            assert is_personal_key(name), path
    assert {"company", "birth_date", "street", "mobile_phone", "vat_id"} <= personal_properties()
    assert all(is_personal_key(name) for name in personal_properties())
    assert is_personal_key("companyName") and is_personal_key("company_name")
    assert not is_personal_key("country") and not is_personal_key("title")  # not personal
    assert not is_personal_key("external_id") and not is_personal_key("id")


def test_a_new_annotation_extends_the_list(monkeypatch: pytest.MonkeyPatch) -> None:
    from connectors_common import personal

    original = personal.schema

    def with_nickname(stream: str) -> dict:
        loaded = original(stream)
        if stream == "customers":
            loaded["properties"]["nickname"] = {"type": "string", "x-personal": True}
        return loaded

    for cached in (personal.personal_field_names, personal.personal_paths, personal_keys):
        cached.cache_clear()
    monkeypatch.setattr(personal, "schema", with_nickname)
    try:
        assert is_personal_key("nickname")
    finally:
        monkeypatch.undo()
        for cached in (personal.personal_field_names, personal.personal_paths, personal_keys):
            cached.cache_clear()
    assert not is_personal_key("nickname")


def test_company_name_is_redacted_in_the_journal(destination: Destination) -> None:
    company = "Quillfeather Privacy Holdings GmbH"
    record = customer(21, companyName=company)
    record["addresses"][0]["company"] = company
    destination.write([record_message("customers", record)])
    assert found_in([company], destination.journal_text()) == {}
    assert redact({"companyName": company, "company": company}) == {
        "companyName": REDACTED,
        "company": REDACTED,
    }
    assert company not in json.dumps(destination.journal_text())
