"""The commercetools sandbox: a WSGI app faithful where the source depends on it."""

from __future__ import annotations

import base64
import json
import logging
import random
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from sandbox.commercetools.data import STORE_FILTERED, Project, SeedSpec
from sandbox.commercetools.predicates import PredicateError, comparable, parse_predicate

logging.getLogger("werkzeug").setLevel(logging.WARNING)
MAX_LIMIT, MAX_OFFSET = 500, 10_000
SCOPE_OF = {
    "customers": "customers",
    "orders": "orders",
    "carts": "orders",
    "payments": "payments",
    "products": "products",
    "discount-codes": "discount_codes",
    "stores": "stores",
    "customer-groups": "customer_groups",
    "types": "types",
    "messages": "messages",
}
KEYSET = re.compile(
    r"^\s*(?P<f>\w+)\s*>\s*:(?P<t>\w+)\s+or\s+\(\s*(?P=f)\s*=\s*:(?P=t)\s+and\s+id\s*>\s*:(?P<id>\w+)\s*\)\s*$"
)
DEFAULT_CLIENT = ("sandbox-client", "sandbox-secret")


def _json(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body),
        status=status,
        headers=dict(headers or {}),
        content_type="application/json",
    )


def _error(status: int, code: str, message: str) -> Response:
    return _json(
        {"statusCode": status, "message": message, "errors": [{"code": code, "message": message}]},
        status,
    )


class CommercetoolsApp:
    def __init__(
        self, project_key: str, seed: SeedSpec, clients: dict | None, fault_rate: float
    ) -> None:
        self.project = Project(project_key, seed)
        all_scopes = [f"view_{s}:{project_key}" for s in sorted(set(SCOPE_OF.values()))]
        self.clients: dict[str, tuple[str, list[str]]] = {
            DEFAULT_CLIENT[0]: (
                DEFAULT_CLIENT[1],
                [*all_scopes, f"view_project_settings:{project_key}"],
            )
        }
        self.clients.update(clients or {})
        self.tokens: dict[str, tuple[set[str], float]] = {}
        self.faults = {"rate": fault_rate, "statuses": (502, 503, 504, 429)}
        self.fault_rng = random.Random(7)
        self.counts: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self.stats_lock = threading.Lock()

    # --- WSGI ----------------------------------------------------------------------

    def __call__(self, environ: dict, start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        response = self.dispatch(request)
        if not request.path.startswith("/_sandbox"):
            with self.stats_lock:
                self.counts[f"{request.method} {request.path}"] += 1
                self.statuses[response.status_code] += 1
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        path = request.path.rstrip("/")
        if path.startswith("/_sandbox/"):
            return self.admin(request, path.removeprefix("/_sandbox/"))
        if path == "/oauth/token" and request.method == "POST":
            return self.token(request)
        scopes = self.authorise(request)
        if isinstance(scopes, Response):
            return scopes
        if self.faults["rate"] and self.fault_rng.random() < self.faults["rate"]:
            status = self.fault_rng.choice(self.faults["statuses"])
            headers = {"Retry-After": "0"} if status == 429 else {}
            return _json({"statusCode": status, "message": "injected fault"}, status, headers)
        parts = path.strip("/").split("/")
        if not parts or parts[0] != self.project.key:
            return _error(404, "ResourceNotFound", f"The project '{parts[0]}' was not found.")
        return self.api(request, parts[1:], scopes)

    # --- auth ----------------------------------------------------------------------

    def token(self, request: Request) -> Response:
        header = request.headers.get("Authorization", "")
        try:
            client_id, secret = (
                base64.b64decode(header.removeprefix("Basic ")).decode().split(":", 1)
            )
        except (ValueError, UnicodeDecodeError):
            return _json(
                {"error": "invalid_client", "error_description": "Basic auth required"}, 401
            )
        known = self.clients.get(client_id)
        if not header.startswith("Basic ") or not known or known[0] != secret:
            return _json(
                {
                    "error": "invalid_client",
                    "error_description": "Please provide valid client credentials",
                },
                401,
            )
        if request.args.get("grant_type", request.form.get("grant_type")) != "client_credentials":
            return _json({"error": "unsupported_grant_type"}, 400)
        asked = (request.args.get("scope") or request.form.get("scope") or "").split()
        granted = set(known[1])
        missing = [s for s in asked if s not in granted]
        if missing:
            return _json(
                {
                    "error": "invalid_scope",
                    "error_description": f"Invalid scope: {' '.join(missing)}",
                },
                400,
            )
        scopes = set(asked) if asked else granted
        token = secrets.token_urlsafe(24)
        self.tokens[token] = (scopes, time.time() + 172_800)
        return _json(
            {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": 172_800,
                "scope": " ".join(sorted(scopes)),
            }
        )

    def authorise(self, request: Request) -> set[str] | Response:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        entry = self.tokens.get(token)
        if not entry or entry[1] < time.time():
            return _json(
                {
                    "statusCode": 401,
                    "message": "invalid_token",
                    "error": "invalid_token",
                    "errors": [{"code": "invalid_token", "message": "invalid_token"}],
                },
                401,
            )
        return entry[0]

    def allowed(self, scopes: set[str], kind: str, store: str | None) -> bool:
        pk = self.project.key
        names = {f"view_{kind}:{pk}", f"manage_{kind}:{pk}", f"manage_project:{pk}"}
        if store:
            names |= {f"view_{kind}:{pk}:{store}", f"manage_{kind}:{pk}:{store}"}
        return bool(names & scopes)

    # --- API -----------------------------------------------------------------------

    def api(self, request: Request, parts: list[str], scopes: set[str]) -> Response:
        store = None
        if not parts:
            if not (
                {f"view_project_settings:{self.project.key}", f"manage_project:{self.project.key}"}
                & scopes
            ):
                return self._insufficient(f"view_project_settings:{self.project.key}")
            return _json(
                {
                    "key": self.project.key,
                    "name": self.project.key,
                    "messages": {
                        "enabled": self.project.messages_enabled,
                        "deleteDaysAfterCreation": 15,
                    },
                }
            )
        if parts[0] == "in-store" and len(parts) >= 3 and parts[1].startswith("key="):
            store, parts = parts[1].removeprefix("key="), parts[2:]
            if parts[0] not in STORE_FILTERED:
                return _error(404, "ResourceNotFound", "Not available in a store.")
        collection = parts[0]
        if collection not in SCOPE_OF:
            return _error(404, "ResourceNotFound", f"Unknown endpoint '{collection}'.")
        kind = SCOPE_OF[collection]
        if not self.allowed(scopes, kind, store):
            return self._insufficient(f"view_{kind}:{self.project.key}")
        if request.method != "GET":
            return _error(405, "MethodNotAllowed", "The sandbox is read-only over the API.")
        if len(parts) == 2:
            record = self.project.collections[collection].by_id.get(parts[1])
            if record is None or (store and not _in_store(collection, record, store)):
                return _error(404, "ResourceNotFound", f"{parts[1]} not found.")
            return _json(record)
        try:
            return self.query(request, collection, store)
        except PredicateError as error:
            return _error(400, "InvalidInput", str(error))

    def _insufficient(self, scope: str) -> Response:
        return _error(
            403,
            "insufficient_scope",
            f"Insufficient scope. One of the following scopes is missing: {scope}",
        )

    def query(self, request: Request, collection: str, store: str | None) -> Response:
        args = request.args
        try:
            limit = int(args.get("limit", 20))
            offset = int(args.get("offset", 0))
        except ValueError:
            return _error(400, "InvalidInput", "limit and offset must be integers.")
        if not 0 <= limit <= MAX_LIMIT:
            return _error(400, "InvalidInput", f"The limit must be in [0, {MAX_LIMIT}].")
        if not 0 <= offset <= MAX_OFFSET:
            return _error(400, "InvalidInput", f"The offset must be in [0, {MAX_OFFSET}].")
        variables = {k[4:]: v for k, v in args.items() if k.startswith("var.")}
        wheres = args.getlist("where")
        sorts = [s.split() for s in args.getlist("sort")]
        with self.project.lock:
            rows = self._select(collection, store, wheres, sorts, variables, offset + limit)
        page = rows[offset : offset + limit]
        body: dict[str, Any] = {
            "limit": limit,
            "offset": offset,
            "count": len(page),
            "results": page,
        }
        if args.get("withTotal", "true") != "false":
            body["total"] = self._total(collection, store, wheres, variables)
        return _json(body)

    def _select(
        self,
        collection: str,
        store: str | None,
        wheres: list[str],
        sorts: list[list[str]],
        variables: dict,
        needed: int,
    ) -> list[dict]:
        data = self.project.collections[collection]
        keyset = KEYSET.match(wheres[0]) if wheres else None
        fast = (
            keyset
            and len(sorts) == 2
            and sorts[0] == [data.order_field, "asc"]
            and sorts[1] == ["id", "asc"]
            and keyset["f"] == data.order_field
        )
        if fast:
            for name in (keyset["t"], keyset["id"]):
                if name not in variables:
                    raise PredicateError(f"Unbound input variable :{name} (send var.{name})")
            cursor = _normalise_time(variables[keyset["t"]])
            rest = [parse_predicate(w, variables) for w in wheres[1:]]
            out = []
            for record in data.after(cursor, variables[keyset["id"]]):
                if _in_store(collection, record, store) and all(p(record) for p in rest):
                    out.append(record)
                    if len(out) >= needed:
                        break
            return out
        predicates = [parse_predicate(w, variables) for w in wheres]
        rows = [
            r
            for r in data.by_id.values()
            if _in_store(collection, r, store) and all(p(r) for p in predicates)
        ]
        if not sorts:  # commercetools promises no order: don't offer insertion order
            return sorted(rows, key=lambda r: hash(("unsorted", r["id"])))
        for field, *direction in reversed(sorts):
            rows.sort(
                key=lambda r, f=field: _sort_key(r, f),
                reverse=bool(direction) and direction[0].lower() == "desc",
            )
        return rows

    def _total(self, collection: str, store: str | None, wheres: list[str], variables: dict) -> int:
        predicates = [parse_predicate(w, variables) for w in wheres]
        with self.project.lock:
            return sum(
                1
                for r in self.project.collections[collection].by_id.values()
                if _in_store(collection, r, store) and all(p(r) for p in predicates)
            )

    # --- admin ---------------------------------------------------------------------

    def admin(self, request: Request, action: str) -> Response:
        body = request.get_json(silent=True) or {}
        project = self.project
        if action == "mutate":
            return _json(
                {
                    "updated_customers": project.update_customers(
                        int(body.get("update_customers", 0))
                    ),
                    "deleted_customers": project.delete_customers(
                        int(body.get("delete_customers", 0))
                    ),
                    "updated_orders": project.update_orders(int(body.get("update_orders", 0))),
                    "cancelled_orders": project.cancel_orders(int(body.get("cancel_orders", 0))),
                }
            )
        if action == "faults":
            self.set_faults(
                float(body.get("rate", 0)), tuple(body.get("statuses", (502, 503, 504, 429)))
            )
            return _json(self.faults)
        if action == "stats":
            return _json(self.stats())
        if action == "stats/reset":
            self.reset_stats()
            return _json({})
        if action == "clients":
            self.clients[body["client_id"]] = (body["client_secret"], list(body["scopes"]))
            return _json({"client_id": body["client_id"]})
        if action == "dump":
            with project.lock:
                return _json(
                    {name: list(c.by_id.values()) for name, c in project.collections.items()}
                )
        return _error(404, "ResourceNotFound", f"Unknown admin action {action!r}")

    def set_faults(self, rate: float, statuses: tuple[int, ...] = (502, 503, 504, 429)) -> None:
        self.faults = {"rate": rate, "statuses": tuple(statuses)}

    def stats(self) -> dict[str, Any]:
        with self.stats_lock:
            return {
                "requests": dict(self.counts),
                "statuses": {str(k): v for k, v in self.statuses.items()},
                "total": sum(self.counts.values()),
            }

    def reset_stats(self) -> None:
        with self.stats_lock:
            self.counts.clear()
            self.statuses.clear()


def _normalise_time(value: str) -> str:
    moment = comparable(value)
    if hasattr(moment, "strftime"):
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return value


def _sort_key(record: Mapping[str, Any], field: str) -> tuple[bool, Any]:
    value: Any = record
    for part in field.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return (value is None, comparable(value) if value is not None else "")


def _in_store(collection: str, record: Mapping[str, Any], store: str | None) -> bool:
    if not store:
        return True
    if collection == "customers":
        return any(ref.get("key") == store for ref in record.get("stores") or [])
    return (record.get("store") or {}).get("key") == store


class CommercetoolsSandbox:
    """The sandbox server in a background thread on 127.0.0.1."""

    def __init__(
        self,
        project_key: str = "demo",
        clients: dict | None = None,
        seed: SeedSpec | None = None,
        port: int = 0,
        fault_rate: float = 0.0,
    ) -> None:
        self.app = CommercetoolsApp(project_key, seed or SeedSpec(), clients, fault_rate)
        self.project_key = project_key
        self.client_id, self.client_secret = DEFAULT_CLIENT
        self._server = make_server("127.0.0.1", port, self.app, threaded=True)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def project(self) -> Project:
        return self.app.project

    def start(self) -> CommercetoolsSandbox:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> CommercetoolsSandbox:
        return self.start()

    def __exit__(self, *_: Any) -> None:
        self.stop()

    def source_config(self, **overrides: Any) -> dict[str, Any]:
        return {
            "project_key": self.project_key,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "api_url": self.url,
            "auth_url": self.url,
            "start_date": "2024-01-01T00:00:00Z",
            **overrides,
        }

    def add_client(self, client_id: str, secret: str, scopes: list[str]) -> None:
        self.app.clients[client_id] = (secret, scopes)

    def update_customers(self, n: int) -> list[str]:
        return self.project.update_customers(n)

    def delete_customers(self, n: int) -> list[str]:
        return self.project.delete_customers(n)

    def update_orders(self, n: int) -> list[str]:
        return self.project.update_orders(n)

    def cancel_orders(self, n: int) -> list[str]:
        return self.project.cancel_orders(n)

    def set_faults(self, rate: float, statuses: tuple[int, ...] = (502, 503, 504, 429)) -> None:
        self.app.set_faults(rate, statuses)

    def stats(self) -> dict[str, Any]:
        return self.app.stats()

    def reset_stats(self) -> None:
        self.app.reset_stats()
