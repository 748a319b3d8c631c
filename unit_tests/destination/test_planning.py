"""Planning is pure: ownership decisions, digests and the one "which version is newer" rule."""

from __future__ import annotations

from destination_crmone.contacts.plan import contact_digest, needs_current, upsert_properties
from destination_crmone.delivery.context import newest_only
from destination_crmone.records import MappedContact
from destination_crmone.versions import is_newer, record_version, version_key


def mapped(**properties: object) -> MappedContact:
    return MappedContact(
        source_id="c1",
        source_version=3,
        external_id="c1",
        email="ana@example.com",
        properties=dict(properties),
        source_updated_at="2026-01-02T00:00:00.000Z",
    )


def test_one_rule_orders_versions_and_unknown_is_oldest() -> None:
    older = record_version({"lastModifiedAt": "2026-01-01T10:00:00Z", "version": 9})
    newer = record_version({"lastModifiedAt": "2026-01-01T10:00:00.000Z", "version": 10})
    assert older == "2026-01-01T10:00:00.000Z#000000000009"
    assert is_newer(newer, older) and not is_newer(older, newer) and not is_newer(older, older)
    assert is_newer(older, None) and not is_newer(None, older) and not is_newer(None, None)
    assert version_key("2026-01-01T11:00:00+01:00#000000000009") == older
    items = [("a", older), ("a", newer), ("b", None), ("a", older)]
    kept, dropped = newest_only(items, key=lambda i: i[0], version=lambda i: i[1])
    assert kept == [("a", newer), ("b", None)] and dropped == [("a", older), ("a", older)]


def test_without_reads_commercetools_properties_are_sent_and_owned_ones_left_alone() -> None:
    contact = mapped(first_name="Ana", phone=None, city="Berlin")
    owners = {"city": "crm_one"}
    assert upsert_properties(contact, owners, None, None) == {"first_name": "Ana", "phone": None}
    assert needs_current(contact, owners)  # it has a city to offer
    assert not needs_current(mapped(first_name="Ana", city=None), owners)
    assert needs_current(mapped(city=None), {"city": "most_recent"})


def test_with_reads_owned_properties_follow_their_rules() -> None:
    contact = mapped(first_name="Ana", city="Berlin", phone="+4930901820")
    owners = {"city": "crm_one", "phone": "most_recent"}
    read = frozenset(owners)
    current = {
        "properties": {"city": "Hamburg", "phone": "+4930000000"},
        "property_meta": {"phone": {"updated_at": "2026-01-01T00:00:00.000Z"}},
    }
    assert upsert_properties(contact, owners, current, read) == {
        "first_name": "Ana",
        "phone": "+4930901820",  # the source changed it later than CRM One's edit
    }
    edited_later = {**current, "property_meta": {"phone": {"updated_at": "2026-02-01T00:00:00Z"}}}
    assert upsert_properties(contact, owners, edited_later, read) == {"first_name": "Ana"}
    # read, and CRM One has no such contact: every value it has
    assert upsert_properties(mapped(first_name="Ana", city=None), owners, None, read) == {
        "first_name": "Ana"
    }


def test_the_digest_changes_with_what_is_sent_and_with_the_tenant() -> None:
    base = contact_digest(mapped(first_name="Ana"), "t1")
    assert base == contact_digest(mapped(first_name="Ana"), "t1")
    assert base != contact_digest(mapped(first_name="Anna"), "t1")
    assert base != contact_digest(mapped(first_name="Ana"), "t2")
