"""`CommercetoolsSandbox`: the app on 127.0.0.1 in a background thread, plus the calls
tests and the demo use to change data, inject faults and read request counts."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server

from sandbox.commercetools.app import CommercetoolsApp
from sandbox.commercetools.auth import DEFAULT_CLIENT
from sandbox.commercetools.faults import DEFAULT_STATUSES, FaultSettings
from sandbox.commercetools.seed import SeedSpec
from sandbox.commercetools.store import Record, Store


class CommercetoolsSandbox:
    """A seeded commercetools project behind one URL that serves both auth and API."""

    def __init__(
        self,
        project_key: str = "demo",
        clients: dict[str, tuple[str, list[str]]] | None = None,
        seed: SeedSpec | None = None,
        port: int = 0,
        fault_rate: float = 0.0,
        latency_ms: float = 0.0,
        visibility_delay_s: float = 0.0,
    ) -> None:
        self.project_key = project_key
        self.client_id, self.client_secret = DEFAULT_CLIENT
        self.app = CommercetoolsApp(
            project_key, seed or SeedSpec(), clients, fault_rate, latency_ms, visibility_delay_s
        )
        self._port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------------

    def start(self) -> CommercetoolsSandbox:
        if self._server is None:
            self._server = make_server("127.0.0.1", self._port, self.app, threaded=True)
            self._thread = threading.Thread(
                target=self._server.serve_forever, name="commercetools-sandbox", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=10)
            self._server = self._thread = None

    def __enter__(self) -> CommercetoolsSandbox:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the sandbox is not started")
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def store(self) -> Store:
        return self.app.store

    def source_config(self, **overrides: Any) -> dict[str, Any]:
        """A source-commercetools config for this sandbox and its default client."""
        return {
            "project_key": self.project_key,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "api_url": self.url,
            "auth_url": self.url,
            "start_date": "2024-01-01T00:00:00Z",
            **overrides,
        }

    # --- data ----------------------------------------------------------------------

    def records(self, collection: str) -> list[Record]:
        """Every record of a collection (`customers`, `discount-codes`, …), as stored."""
        return self.store.snapshot(collection.replace("_", "-"))

    def update_customers(self, n: int) -> list[str]:
        return self.app.mutator.update_customers(n)

    def delete_customers(self, n: int) -> list[str]:
        return self.app.mutator.delete_customers(n)

    def create_customers(self, n: int) -> list[str]:
        return self.app.mutator.create_customers(n)

    def update_orders(self, n: int) -> list[str]:
        return self.app.mutator.update_orders(n)

    def cancel_orders(self, n: int) -> list[str]:
        return self.app.mutator.cancel_orders(n)

    def delete_orders(self, n: int) -> list[str]:
        return self.app.mutator.delete_orders(n)

    def delete_carts(self, n: int) -> list[str]:
        """No Message, as in commercetools."""
        return self.app.mutator.delete_carts(n)

    def delete_payments(self, n: int) -> list[str]:
        """No Message, as in commercetools."""
        return self.app.mutator.delete_payments(n)

    def set_customer_stores(self, customer_ids: list[str], store_keys: list[str]) -> list[str]:
        """Move customers between stores (setStores/addStore/removeStore): no Message."""
        return self.app.mutator.set_customer_stores(customer_ids, store_keys)

    def set_clock_offset(self, days: float) -> None:
        """Later changes are made as if `days` away from now (negative: in the past)."""
        self.store.clock.set_offset(timedelta(days=days))

    def set_messages_retention(self, days: int) -> None:
        """`deleteDaysAfterCreation`: older Messages vanish (1 to 90, default 15)."""
        self.app.set_project({"messages_retention_days": days})

    def set_cart_ttl(self, days: int | None) -> None:
        """`deleteDaysAfterLastModification` of carts: older carts vanish, without a Message."""
        self.app.set_project({"cart_ttl_days": days})

    def expire(self) -> dict[str, list[str]]:
        """Apply retention and time to live now (queries do it by themselves)."""
        return self.store.expire()

    def upsert(self, resource_type: str, obj: dict[str, Any]) -> Record:
        return self.app.mutator.upsert(resource_type, obj)

    def set_visibility_delay(self, max_delay_s: float) -> None:
        """Writes from now on become visible to queries after a random delay up to this."""
        self.store.visibility_delay_s = max_delay_s

    def set_latency(self, latency_ms: float) -> None:
        self.app.latency_ms = latency_ms

    def set_messages_enabled(self, enabled: bool) -> None:
        self.store.messages_enabled = enabled

    # --- clients, faults, stats ----------------------------------------------------

    def add_client(self, client_id: str, secret: str, scopes: list[str]) -> None:
        self.app.auth.add_client(client_id, secret, scopes)

    def expire_tokens(self) -> None:
        self.app.auth.expire_tokens()

    def set_faults(
        self,
        rate: float,
        statuses: tuple[int, ...] = DEFAULT_STATUSES,
        *,
        retry_after: int = 1,
        token: bool = False,
    ) -> None:
        self.app.faults.settings = FaultSettings(rate, tuple(statuses), retry_after, token)

    def set_hostile(self, **settings: Any) -> None:
        """faults.Hostility fields: flood_items, token_padding_bytes, token_expires_in,
        query_timeout_above (those not given keep their value)."""
        self.app.set_hostile(settings)

    def stats(self) -> dict[str, Any]:
        return self.app.stats.snapshot()

    def reset_stats(self) -> None:
        self.app.stats.reset()
