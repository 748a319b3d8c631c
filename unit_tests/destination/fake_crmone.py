"""A fake CRM One client for driving one sender directly (the way singer-sdk tests call
`process_batch`): it keeps contacts, activities, objects and list members in memory, answers
batch calls with the contract's per-index `results`, records every call, and fails a named
method on demand (`fail(method, status)`) so a test sees what a sender does with a refusal.
`context(...)` builds the `WriteContext` a sender runs in: this fake, a real SQLite journal,
and a `settled` list in place of the writer."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from destination_crmone.config import DestinationConfig
from destination_crmone.crmone.client import CrmOneError
from destination_crmone.delivery.context import Pending, WriteContext
from destination_crmone.journal import open_journal
from destination_crmone.stats import RunStats
from unit_tests.destination.crm_schema import contact_schema

BASE = {"base_url": "https://crm.example", "client_id": "id", "client_secret": "secret"}


class FakeCrmOne:
    def __init__(self) -> None:
        self.contacts: dict[str, dict[str, Any]] = {}  # by external_id
        self.activities: dict[str, dict[str, Any]] = {}
        self.objects: dict[str, dict[str, Any]] = {}
        self.members: dict[str, set[str]] = defaultdict(set)
        self.calls: list[tuple[str, Any]] = []
        self._failures: dict[str, CrmOneError] = {}

    def fail(self, method: str, status: int | None, code: str = "unavailable") -> None:
        """Every later call of `method` raises a CrmOneError with `status`."""
        self._failures[method] = CrmOneError(status, code, f"{method} refused ({status})")

    def _call(self, method: str, body: Any) -> None:
        self.calls.append((method, body))
        if method in self._failures:
            raise self._failures[method]

    def called(self, method: str) -> list[Any]:
        return [body for name, body in self.calls if name == method]

    @staticmethod
    def _upserted(store: dict[str, dict[str, Any]], records: list[dict[str, Any]], key: str):
        results = []
        for index, record in enumerate(records):
            ident = str(record.get(key) or (record.get("properties") or {}).get(key))
            status = "updated" if ident in store else "created"
            store[ident] = record
            results.append({"index": index, "status": status})
        return {"results": results, "errors": []}

    def upsert_contacts(self, records, *, id_property, idempotency_key, **_: Any):
        self._call("upsert_contacts", records)
        return self._upserted(self.contacts, records, id_property)

    def read_contacts(self, ids, *, id_property="external_id", properties=None):
        self._call("read_contacts", ids)
        found = [c for c in self.contacts.values() if c.get(id_property) in ids]
        return {"results": found}

    def upsert_consents(self, records, *, idempotency_key):
        self._call("upsert_consents", records)
        return {"results": [{"index": i, "status": "applied"} for i in range(len(records))]}

    def list_members(self, list_id, add, remove=None, *, idempotency_key):
        self._call("list_members", {"list_id": list_id, "add": add, "remove": remove or []})
        self.members[list_id] |= set(add)
        removed = [m for m in remove or [] if m in self.members[list_id]]
        self.members[list_id] -= set(removed)
        return {"added": len(add), "removed": len(removed), "errors": []}

    def upsert_activities(self, records, *, idempotency_key):
        self._call("upsert_activities", records)
        return self._upserted(self.activities, records, "external_id")

    def upsert_objects(self, object_type, records, *, idempotency_key):
        self._call("upsert_objects", records)
        return self._upserted(self.objects, records, "external_id")

    def find_contact(self, external_id=None, email=None):
        self._call("find_contact", external_id or email)
        contact = self.contacts.get(str(external_id))
        return None if contact is None else {"id": f"c-{external_id}", **contact}

    def archive_contact(self, contact_id):
        self._call("archive_contact", contact_id)

    def erase_contact(self, contact_id):
        self._call("erase_contact", contact_id)


class Settled(list):
    """The writer's `settle`, as a list of (record key, rejected)."""

    def __call__(self, item: Pending, rejected: bool) -> None:
        self.append((item.key, rejected))


def context(tmp_path: Path, client: FakeCrmOne, **config: Any) -> WriteContext:
    parsed = DestinationConfig.parse_config({**BASE, **config})
    journal = open_journal({"type": "sqlite", "path": str(tmp_path / "journal.db")})
    journal.start_run("run_test", {})
    return WriteContext(
        config=parsed,
        client=client,  # type: ignore[arg-type]
        journal=journal,
        schema=contact_schema(),
        stats=RunStats(),
        run_id="run_test",
        batch_size=100,
        order_properties=frozenset({"payment_state", "payment_method"}),
        settle=Settled(),
    )


def pending(stream: str, *records: dict[str, Any]) -> list[Pending]:
    return [Pending(stream, record) for record in records]
