"""Customer truth per field: the per-field decision table (`merge.send_field`), the collapse of
a contact's versions against its ledger (`changes`), and a property test over random version
sequences and CRM edits."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from destination_crmone.contacts.changes import (
    ContactChange,
    collapse,
    consent_digest,
    properties_to_send,
    unchanged_versions,
)
from destination_crmone.contacts.merge import send_field, value_digest
from destination_crmone.journal import LedgerRow
from destination_crmone.records import ConsentPayload, MappedContact
from destination_crmone.timefmt import parse_rfc3339

T1, T2, T3, T4 = (f"2026-0{m}-01T00:00:00.000Z" for m in (1, 2, 3, 4))


def at(text: str | None):
    return parse_rfc3339(text) if text else None


# --- the decision table -----------------------------------------------------------------------
# owner, changed in source, CRM One's value (ours as last sent, edited, empty), times


@pytest.mark.parametrize(
    ("owner", "changed", "present", "crm_time", "source_time", "sent"),
    [
        # commercetools: a changed value that differs is sent; an unchanged one is not a
        # reason to write (it travels with a contact written anyway: properties_to_send)
        ("commercetools", True, "edited", T4, T1, True),
        ("commercetools", True, "new", T4, T1, False),  # CRM One has it already
        ("commercetools", False, "edited", T1, T4, False),
        # crm_one: only while CRM One has no value, and only a changed value
        ("crm_one", True, None, None, T1, True),
        ("crm_one", True, "", T1, T1, True),
        ("crm_one", True, "edited", T1, T4, False),
        ("crm_one", False, None, None, T4, False),
        # most_recent: an unchanged value is never sent, whatever the times
        ("most_recent", False, "edited", T1, T4, False),
        ("most_recent", False, "old", T1, T4, False),
        # changed, CRM One still holds what we last sent: sent (its updated_at is our write)
        ("most_recent", True, "old", T4, T1, True),
        # changed, CRM One edited by a person: the newer side wins
        ("most_recent", True, "edited", T2, T3, True),
        ("most_recent", True, "edited", T3, T2, False),
        ("most_recent", True, "edited", T2, T2, False),  # a tie keeps the person's edit
        ("most_recent", True, "edited", None, T2, True),  # no metadata counts as older
        ("most_recent", True, "edited", T2, None, False),  # unknown source time is not newer
        ("most_recent", True, "new", T1, T4, False),  # already there
    ],
)
def test_the_per_field_decision_table(owner, changed, present, crm_time, source_time, sent):
    decided = send_field(
        owner,
        changed=changed,
        value="new",
        present=present,
        crm_updated_at=at(crm_time),
        source_time=at(source_time),
        last_sent=value_digest("old"),
    )
    assert decided is sent


def test_value_digests_compare_as_values_do_and_are_stable():
    assert value_digest(["b", "a"]) == value_digest(["a", "b"])
    assert value_digest("") == value_digest(None)
    assert value_digest("2026-01-01T00:00:00Z") == value_digest("2026-01-01T01:00:00+01:00")
    assert value_digest(True) != value_digest(1)
    assert value_digest({"k": ["x", "y"]}) == value_digest({"k": ["y", "x"]})
    assert len(value_digest("Ana")) == 24 and "Ana" not in value_digest("Ana")


# --- versions against the ledger ---------------------------------------------------------------


def consent(status: str, updated_at: str, dated: bool = True) -> ConsentPayload:
    return ConsentPayload(
        "ct:1", "email", "marketing", status, updated_at, {"field": "f"}, dated_by_field=dated
    )


def version(time: str, consents: list[ConsentPayload] | None = None, **properties: Any):
    return MappedContact(
        source_id="c-1",
        source_version=None,
        external_id="ct:1",
        email=None,
        properties=properties,
        source_updated_at=time,
        consents=consents or [],
    )


def remembered(change: ContactChange, sent: list[str], now: str = T4) -> dict[str, LedgerRow]:
    return {row.field: row for row in change.ledger_rows(sent, now)}


def test_a_withdrawal_in_an_older_version_beats_an_older_grant_in_a_newer_one():
    v6 = version(T3, [consent("withdrawn", "2026-06-01T00:00:00.000Z")], first_name="Ana")
    v7 = version(T4, [consent("granted", "2025-01-01T00:00:00.000Z")], first_name="Ana")
    change = collapse([v6, v7], {})
    assert [(c.status, c.updated_at) for c in change.consents] == [
        ("withdrawn", "2026-06-01T00:00:00.000Z")
    ]


def test_a_consent_without_its_own_time_is_dated_when_its_status_was_first_seen():
    versions = [
        version(T1, [consent("granted", T1, dated=False)]),
        version(T2, [consent("withdrawn", T2, dated=False)]),
        version(T3, [consent("withdrawn", T3, dated=False)]),  # an unrelated change
    ]
    change = collapse(versions, {})
    assert [(c.status, c.updated_at) for c in change.consents] == [("withdrawn", T2)]
    # once sent, a later unrelated change carries the same status: nothing to send, and the
    # status keeps the time it was first seen
    ledger = remembered(change, [])
    later = collapse([version(T4, [consent("withdrawn", T4, dated=False)])], ledger)
    assert later.consents == [] and later.unchanged_consents == 1
    assert later.seen["consent:email/marketing"].first_seen_at == T2


def test_a_grant_renewed_at_a_new_time_is_a_new_event():
    ledger = remembered(collapse([version(T1, [consent("granted", T1)])], {}), [])
    again = collapse([version(T3, [consent("granted", T3)])], ledger)
    assert [c.updated_at for c in again.consents] == [T3]
    assert consent_digest(consent("granted", T1)) != consent_digest(consent("granted", T3))


def test_properties_change_against_what_was_last_sent_and_keep_their_first_seen_time():
    first = collapse([version(T1, first_name="Ana", company="A")], {})
    assert first.changed == {"first_name", "company"} and not first.known
    ledger = remembered(first, ["first_name", "company"])
    second = collapse(
        [version(T2, first_name="Ana", company="B"), version(T3, first_name="Ana", company="B")],
        ledger,
    )
    assert second.changed == {"company"} and second.known
    assert second.source_times == {"first_name": T1, "company": T2}
    assert second.last_sent["first_name"] == value_digest("Ana")


def test_a_value_seen_but_not_sent_keeps_the_time_it_was_first_seen():
    ledger = remembered(collapse([version(T1, tier="silver")], {}), ["tier"])
    held_back = collapse([version(T2, tier="gold")], ledger)
    ledger = remembered(held_back, [])  # CRM One's edit was newer: gold was not sent
    assert ledger["tier"].sent_digest == value_digest("silver")
    later = collapse([version(T4, tier="gold", company="B")], ledger)
    assert "tier" in later.changed and later.source_times["tier"] == T2


OWNERS = {"tier": "most_recent", "phone": "crm_one"}


def crm(properties: dict[str, Any], meta: dict[str, str]) -> dict[str, Any]:
    return {
        "properties": properties,
        "property_meta": {
            name: {"updated_at": t, "updated_by": "user"} for name, t in meta.items()
        },
    }


def test_commercetools_fields_travel_together_only_when_the_contact_is_written():
    ledger = remembered(collapse([version(T1, first_name="Ana", company="A", tier="s")], {}), [
        "first_name", "company", "tier"])  # fmt: skip
    nothing = collapse([version(T2, first_name="Ana", company="A", tier="s")], ledger)
    assert properties_to_send(nothing, OWNERS, None, None) == {}
    company = collapse([version(T2, first_name="Ana", company="B", tier="s")], ledger)
    # first_name did not change but goes along (corrects a CRM edit at no extra request)
    assert properties_to_send(company, OWNERS, None, None) == {"first_name": "Ana", "company": "B"}


def test_a_most_recent_edit_in_crm_one_survives_a_change_of_another_field():
    ledger = remembered(collapse([version(T1, company="A", tier="s")], {}), ["company", "tier"])
    change = collapse([version(T3, company="B", tier="s")], ledger)
    current = crm({"company": "A", "tier": "gold"}, {"tier": T2})
    assert properties_to_send(change, OWNERS, current, frozenset(OWNERS)) == {"company": "B"}


def test_a_new_contact_gets_every_value_it_has():
    change = collapse([version(T1, company="A", tier="s", phone=None)], {})
    assert properties_to_send(change, OWNERS, None, frozenset(OWNERS)) == {
        "company": "A",
        "tier": "s",
    }


def test_records_whose_version_was_fully_sent_need_no_mapping():
    sent = {"a": "2026#2", "b": "2026#2"}
    keys = [("a", "2026#2"), ("b", "2026#3"), ("c", "2026#1"), ("a", None), ("b", "2026#1")]
    assert unchanged_versions(keys, sent) == {("a", "2026#2"), ("b", "2026#1")}


# --- property test: random versions, runs and CRM edits ----------------------------------------

STATUSES = ("granted", "withdrawn")
TIERS = ("silver", "gold", "")


def hour(n: int) -> str:
    return f"2026-01-{1 + n // 24:02d}T{n % 24:02d}:00:00.000Z"


@st.composite
def histories(draw: Any) -> list[tuple[str, Any]]:
    """Events in time order: ("version", (status, dated, tier, offset)) or ("edit", (what,
    value)), with "cut" marking the end of a batch. Either every record carries the consent's
    own time (a timestamp field, up to 30 hours before the change) or none does."""
    dated = draw(st.booleans())
    events: list[tuple[str, Any]] = []
    for _ in range(draw(st.integers(1, 12))):
        kind = draw(st.sampled_from(["version", "version", "edit", "cut"]))
        if kind == "version":
            payload = (
                draw(st.sampled_from(STATUSES)),
                dated,
                draw(st.sampled_from(TIERS)),
                draw(st.integers(-30, 0)),  # the consent's own time, hours before the version
            )
        elif kind == "edit":
            payload = (draw(st.sampled_from(["consent", "tier"])), draw(st.sampled_from(TIERS)))
        else:
            payload = None
        events.append((kind, payload))
    return events


class FakeCrm:
    """CRM One's rules for one contact: properties with `property_meta`, one consent with the
    stale rule (an older `updated_at` is not applied; a tie applies)."""

    def __init__(self) -> None:
        self.properties: dict[str, Any] = {}
        self.meta: dict[str, dict[str, str]] = {}
        self.consent: tuple[str, str] | None = None  # (status, updated_at)

    def read(self) -> dict[str, Any] | None:
        if not self.properties and not self.meta:
            return None
        return {"properties": dict(self.properties), "property_meta": dict(self.meta)}

    def write(self, properties: dict[str, Any], now: str, by: str = "integration") -> None:
        for name, value in properties.items():
            if value in (None, ""):
                self.properties.pop(name, None)
            else:
                self.properties[name] = value
            self.meta[name] = {"updated_at": now, "updated_by": by}

    def apply_consent(self, status: str, updated_at: str) -> None:
        if self.consent is None or not parse_rfc3339(updated_at) < parse_rfc3339(self.consent[1]):
            self.consent = (status, updated_at)


@settings(max_examples=300, deadline=None)
@given(histories())
def test_newest_consent_wins_and_no_unchanged_value_overwrites_a_crm_edit(events):
    crm_one = FakeCrm()
    ledger: dict[str, LedgerRow] = {}
    batch: list[MappedContact] = []
    consent_events: list[tuple[str, str, int]] = []  # (status, time, order)
    last_status: str | None = None
    clock = 100  # hours; every event happens one hour after the one before

    def flush() -> None:
        nonlocal ledger, batch
        if not batch:
            return
        change = collapse(batch, ledger)
        batch = []
        current = crm_one.read()
        unchanged_tier = "tier" not in change.changed
        before = crm_one.properties.get("tier")
        send = properties_to_send(change, {"tier": "most_recent"}, current, frozenset(["tier"]))
        now = hour(clock)
        crm_one.write(send, now)
        for item in change.consents:
            crm_one.apply_consent(item.status, item.updated_at)
        if unchanged_tier:
            assert crm_one.properties.get("tier") == before
        ledger = {row.field: row for row in change.ledger_rows(list(send), now)}

    for order, (kind, payload) in enumerate(events):
        clock += 1
        if kind == "cut":
            flush()
        elif kind == "version":
            status, dated, tier, offset = payload
            time = hour(clock)
            own = hour(clock + offset) if dated else time
            batch.append(version(time, [consent(status, own, dated)], tier=tier or None))
            if dated:
                consent_events.append((status, own, order))
            elif status != last_status:
                consent_events.append((status, time, order))
            last_status = status
        else:
            flush()
            what, value = payload
            if what == "consent":
                status = "withdrawn" if value == "" else "granted"
                crm_one.apply_consent(status, hour(clock))
                consent_events.append((status, hour(clock), order))
            else:
                crm_one.write({"tier": value or None}, hour(clock), by="user")
    flush()
    if consent_events:
        newest = max(consent_events, key=lambda e: (parse_rfc3339(e[1]), e[2]))
        assert crm_one.consent is not None and crm_one.consent[0] == newest[0]
