"""`CrmOneSandbox`: the CRM One application served on 127.0.0.1 from a background thread,
with the controls and snapshots tests, the demo and benchmarks use."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from werkzeug.serving import make_server

from sandbox.crmone.app import CrmOneApp
from sandbox.crmone.guards import DEFAULT_FAULT_STATUSES
from sandbox.crmone.schema import definition
from sandbox.crmone.schema import shipping_properties as schema_shipping_properties


class CrmOneSandbox:
    """The CRM One sandbox served by a threaded Werkzeug server on 127.0.0.1."""

    def __init__(
        self,
        client_id: str = "crmone-client",
        client_secret: str = "crmone-secret",
        tenant: str = "acme",
        stores: tuple[str, ...] = ("eu-web", "us-web"),
        batch_max: int = 100,
        requests_per_second: int = 20,
        max_concurrency: int = 8,
        latency_ms: int = 0,
        fault_rate: float = 0.0,
        port: int = 0,
        token_ttl: int = 3600,
        shipping_properties: bool = False,
    ) -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.app = CrmOneApp(
            client_id=client_id,
            client_secret=client_secret,
            tenant=tenant,
            stores=tuple(stores),
            batch_max=batch_max,
            requests_per_second=requests_per_second,
            max_concurrency=max_concurrency,
            latency_ms=latency_ms,
            fault_rate=fault_rate,
            token_ttl=token_ttl,
        )
        if shipping_properties:  # a tenant admin added them; standard tenants lack them
            for item in schema_shipping_properties():
                self.app.data.add_property(item)
        self._server = make_server("127.0.0.1", port, self.app, threaded=True)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> CrmOneSandbox:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="crmone-sandbox",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> CrmOneSandbox:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def destination_config(self, journal_path: str, **overrides: Any) -> dict[str, Any]:
        """A destination-crmone config pointing at this sandbox."""
        return {
            "base_url": self.url,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "journal": {"type": "sqlite", "path": journal_path},
            **overrides,
        }

    # --- control ---------------------------------------------------------------------

    def set_faults(
        self,
        rate: float,
        statuses: tuple[int, ...] = DEFAULT_FAULT_STATUSES,
        drop_rate: float | None = None,
    ) -> None:
        self.app.faults.configure(rate=rate, statuses=tuple(statuses), drop_rate=drop_rate)

    def set_latency(self, ms: int) -> None:
        self.app.faults.configure(latency_ms=ms)

    def set_limits(
        self, requests_per_second: int | None = None, max_concurrency: int | None = None
    ) -> None:
        if requests_per_second is not None:
            self.app.limiter.per_second = requests_per_second
        if max_concurrency is not None:
            self.app.max_concurrency = max_concurrency

    def go_down(self, after: int = 0, status: int | None = 503) -> None:
        """After `after` more API requests, answer every request `status` (None: drop the
        connection) until `come_back()`."""
        self.app.outage.start(after, status)

    def come_back(self) -> None:
        self.app.outage.end()

    def expire_tokens(self) -> None:
        """Revoke every token: the next call with one gets 401 invalid_token."""
        self.app.tokens.clear()

    def add_object_property(self, type_: str, name: str, type_name: str = "string") -> None:
        """A tenant admin adds a property to an object type (the contract has no endpoint for
        it): `add_object_property("orders", "payment_method")`."""
        with self.app.data.lock:
            self.app.data.object_types[type_][name] = definition(name, type_name)

    def add_contact_property(self, name: str, type_name: str = "string", **extra: Any) -> None:
        """A tenant admin adds a custom contact property (as `POST /v1/schema/contacts/
        properties` does)."""
        with self.app.data.lock:
            self.app.data.add_property(definition(name, type_name, **extra))

    def add_list(self, list_id: str, name: str, kind: str = "static") -> None:
        """A tenant admin creates a list (the contract has no endpoint for it)."""
        with self.app.data.lock:
            self.app.data.lists[list_id] = {"id": list_id, "name": name, "kind": kind}
            self.app.data.members.setdefault(list_id, set())

    def user_edit(
        self, external_id: str, properties: dict[str, Any], updated_by: str = "user"
    ) -> dict[str, Any]:
        return self.app.user_edit(external_id, properties, updated_by)

    # --- snapshots (copies; safe to keep) ------------------------------------------------

    def contacts(self) -> list[dict[str, Any]]:
        """Every contact that is not erased (archived ones have `archived: true`)."""
        with self.app.data.lock:
            return [c.view() for c in self.app.data.contacts.values()]

    def contact(self, external_id: str) -> dict[str, Any] | None:
        with self.app.data.lock:
            found = self.app.data.contact_by(external_id=external_id)
            return found.view() if found else None

    def tombstones(self) -> list[dict[str, str]]:
        with self.app.data.lock:
            return [dict(t) for t in self.app.data.tombstones.values()]

    def consents(self, external_id: str) -> list[dict[str, Any]]:
        with self.app.data.lock:
            found = self.app.data.contact_by(external_id=external_id)
            return self.app.data.consent_views(found.id) if found else []

    def activities(self, external_id: str | None = None) -> list[dict[str, Any]]:
        """One contact's activities newest first, or (no argument) every activity."""
        data = self.app.data
        with data.lock:
            if external_id is None:
                return [data.activity_view(a) for a in data.activities.values()]
            found = data.contact_by(external_id=external_id)
            return data.contact_activities(found.id) if found else []

    def objects(self, type_: str = "orders") -> list[dict[str, Any]]:
        data = self.app.data
        with data.lock:
            return [data.object_view(o) for o in data.objects.get(type_, {}).values()]

    def list_members(self, list_id: str) -> list[str]:
        with self.app.data.lock:
            return self.app.data.visible_members(list_id)

    def dump(self) -> dict[str, Any]:
        with self.app.data.lock:
            return self.app.data.dump()

    def save_state(self, path: str | Path) -> None:
        """Write every contact, consent, activity, object and membership to a JSON file."""
        target = Path(path)
        with self.app.data.lock:
            text = json.dumps(self.app.data.state())
        partial = target.with_name(target.name + ".partial")
        partial.write_text(text, encoding="utf-8")
        partial.replace(target)

    def load_state(self, path: str | Path) -> None:
        """Load what `save_state` wrote (before any data was written to this sandbox)."""
        state = json.loads(Path(path).read_text(encoding="utf-8"))
        with self.app.data.lock:
            if self.app.data.contacts or self.app.data.tombstones:
                raise RuntimeError("load_state needs an empty sandbox")
            self.app.data.restore(state)

    def stats(self) -> dict[str, Any]:
        return self.app.stats.snapshot()

    def reset_stats(self) -> None:
        self.app.stats.reset()
