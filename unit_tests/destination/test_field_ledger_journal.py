"""The journal's field ledger, sent versions and mapping digests, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from destination_crmone.journal import LedgerRow, open_journal

T1, T2 = "2026-11-01T10:00:00.000Z", "2026-11-02T10:00:00.000Z"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def journal(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "sqlite":
        spec = {"type": "sqlite", "path": str(tmp_path / "journal.db")}
    else:
        spec = {"type": "postgres", "dsn": request.getfixturevalue("pg_dsn")}
    opened = open_journal(spec)
    yield opened
    opened.close()


def test_ledger_rows_are_kept_per_contact_and_field_and_replaced(journal: Any) -> None:
    first = LedgerRow("ct:1", "first_name", "d1", T1, "d1", T1)
    consent = LedgerRow("ct:1", "consent:email/marketing", None, None, "granted", T1)
    other = LedgerRow("ct:2", "first_name", "d9", T1, "d9", T1)
    journal.remember_ledger([first, consent, other])
    assert not journal.ledger([])
    assert journal.ledger(["ct:1", "ct:3"]) == {
        "ct:1": {"first_name": first, "consent:email/marketing": consent}
    }
    seen_later = LedgerRow("ct:1", "first_name", "d1", T1, "d2", T2)
    journal.remember_ledger([seen_later])
    assert journal.ledger(["ct:1"])["ct:1"]["first_name"] == seen_later
    assert journal.has_written_contacts()


def test_sent_versions_count_only_under_the_same_mapping(journal: Any) -> None:
    assert not journal.has_written_contacts()
    journal.remember_sent_versions({"c-1": ("v1", "ct:1"), "c-2": ("v7", "ct:2")}, "m1")
    assert journal.sent_versions(["c-1", "c-2", "c-3"], "m1") == {"c-1": "v1", "c-2": "v7"}
    assert journal.sent_versions(["c-1"], "m2") == {}
    journal.remember_sent_versions({"c-1": ("v2", "ct:1")}, "m2")
    assert journal.sent_versions(["c-1", "c-2"], "m2") == {"c-1": "v2"}
    keys = [f"c-{i}" for i in range(1200)]  # more than one IN list
    journal.remember_sent_versions({key: ("v", key) for key in keys}, "m3")
    assert len(journal.sent_versions(keys, "m3")) == 1200


def test_mapping_digests_are_replaced_as_a_whole(journal: Any) -> None:
    assert journal.mapping_digests() == {}
    journal.remember_mapping({"identity": "a", "consents": "b"})
    journal.remember_mapping({"identity": "a", "ownership": "c"})
    assert journal.mapping_digests() == {"identity": "a", "ownership": "c"}


def test_erasure_removes_the_contacts_ledger_rows_and_sent_versions(journal: Any) -> None:
    journal.remember_ledger(
        [
            LedgerRow("ct:1", "first_name", "d1", T1, "d1", T1),
            LedgerRow("email-sha256:ab", "first_name", "d1", T1, "d1", T1),
            LedgerRow("ct:2", "first_name", "d2", T1, "d2", T1),
        ]
    )
    journal.remember_sent_versions({"c-1": ("v1", "ct:1"), "c-3": ("v1", "email-sha256:ab")}, "m")
    journal.forget_customer("c-1", "ct:1", "erase")
    journal.forget_customer("c-3", None, "erase")  # known only by email: found by its version
    assert set(journal.ledger(["ct:1", "ct:2", "email-sha256:ab"])) == {"ct:2"}
    assert journal.sent_versions(["c-1", "c-3"], "m") == {}
