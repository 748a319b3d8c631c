"""The WSGI application: token endpoint, read API, admin endpoints, faults and stats.

    POST /oauth/token                                   client credentials (Basic auth)
    POST /_sandbox/hostile                              hostile answers (faults.Hostility)
    GET  /{pk}                                          project settings
    GET  /{pk}/{endpoint}[/{id} | /key={key}]           query / get one
    GET  /{pk}/in-store/key={store}/{endpoint}[/{id}]   customers, orders, carts of a store
    POST /{pk}/graphql                                  id-only reads (see graphql.py)
    *    /_sandbox/...                                  admin, loopback only, no auth

API errors have commercetools' shape: `{"statusCode": 403, "message": "...",
"errors": [{"code": "insufficient_scope", "message": "..."}]}`.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, replace
from datetime import timedelta
from typing import Any

import orjson
from werkzeug.wrappers import Request, Response

from sandbox.commercetools import graphql
from sandbox.commercetools.auth import Authority, OAuthError
from sandbox.commercetools.faults import CODES, FaultInjector, FaultSettings, Hostility
from sandbox.commercetools.mutations import MutationError, Mutator
from sandbox.commercetools.query import Query, QueryError, parse_query, run
from sandbox.commercetools.seed import SEED_START, SeedSpec, seed
from sandbox.commercetools.stats import RequestStats
from sandbox.commercetools.store import COLLECTIONS, IN_STORE, Record, Store
from sandbox.commercetools.timefmt import Clock, format_instant

logging.getLogger("werkzeug").setLevel(logging.WARNING)
LOOPBACK = {"127.0.0.1", "::1", None}
MUTATIONS = {  # admin /mutate key → (answer key, Mutator method)
    "update_customers": ("updated_customers", "update_customers"),
    "delete_customers": ("deleted_customers", "delete_customers"),
    "create_customers": ("created_customers", "create_customers"),
    "update_orders": ("updated_orders", "update_orders"),
    "cancel_orders": ("cancelled_orders", "cancel_orders"),
    "delete_orders": ("deleted_orders", "delete_orders"),
    "delete_carts": ("deleted_carts", "delete_carts"),
    "delete_payments": ("deleted_payments", "delete_payments"),
}
ALWAYS_ANSWERED = {"update_customers", "delete_customers", "update_orders", "cancel_orders"}
QUERY_TIMED_OUT = (
    "The query timed out. If your query constantly times out, please check that it follows "
    "the performance best practices."
)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(body),
        status=status,
        headers=headers or {},
        content_type="application/json; charset=utf-8",
    )


def api_error(status: int, code: str, message: str, **extra: Any) -> Response:
    return json_response(
        {
            "statusCode": status,
            "message": message,
            "errors": [{"code": code, "message": message}],
            **extra,
        },
        status,
    )


class CommercetoolsApp:
    def __init__(
        self,
        project_key: str = "demo",
        seed_spec: SeedSpec | None = None,
        clients: dict[str, tuple[str, list[str]]] | None = None,
        fault_rate: float = 0.0,
        latency_ms: float = 0.0,
        visibility_delay_s: float = 0.0,
    ) -> None:
        spec = seed_spec or SeedSpec()
        self.latency_ms = latency_ms
        self.project_key = project_key
        self.store = Store(project_key, Clock(SEED_START), spec.messages_enabled)
        seed(self.store, spec)
        self.created_at = format_instant(SEED_START)
        self.mutator = Mutator(self.store, spec.seed)
        self.auth = Authority(project_key, clients)
        self.faults = FaultInjector(spec.seed + 1, FaultSettings(rate=fault_rate))
        self.stats = RequestStats()
        self.store.visibility_delay_s = visibility_delay_s
        self.hostility = Hostility()

    # --- WSGI ----------------------------------------------------------------------

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        request = Request(environ)
        if request.path.startswith("/_sandbox/"):
            response = self.admin(request)
        else:
            response = self.handle(request)
            self.stats.record(
                request.method,
                request.path,
                response.status_code,
                request.headers.get("X-Correlation-ID"),
            )
        response.headers["X-Correlation-ID"] = request.headers.get(
            "X-Correlation-ID", f"sandbox-{uuid.uuid4()}"
        )
        return response(environ, start_response)

    def handle(self, request: Request) -> Response:
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000)  # a round trip to a far-away API
        if request.path.rstrip("/") == "/oauth/token":
            return self.token(request)
        is_graphql = request.path.rstrip("/") == f"/{self.project_key}/graphql"
        if request.method not in ("GET", "HEAD") and not (is_graphql and request.method == "POST"):
            return api_error(
                405, "MethodNotAllowed", "The sandbox API is read-only: change data via /_sandbox/."
            )
        fault = self.faults.draw()
        if fault is not None:
            return self.fault(fault)
        scopes = self.auth.scopes_of(request.headers.get("Authorization", ""))
        if scopes is None:
            return api_error(
                401,
                "invalid_token",
                "invalid_token",
                error="invalid_token",
                error_description="invalid_token",
            )
        parts = [p for p in request.path.split("/") if p]
        if not parts or parts[0] != self.project_key:
            key = parts[0] if parts else ""
            return api_error(
                404, "ResourceNotFound", f"The Project with key '{key}' was not found."
            )
        return self.api(request, parts[1:], scopes)

    def fault(self, status: int) -> Response:
        response = api_error(
            status, CODES.get(status, "General"), f"Injected fault: HTTP {status}."
        )
        if status == 429:
            response.headers["Retry-After"] = str(self.faults.settings.retry_after)
        return response

    # --- OAuth ---------------------------------------------------------------------

    def token(self, request: Request) -> Response:
        if request.method != "POST":
            return json_response({"error": "invalid_request"}, 405)
        fault = self.faults.draw(token_endpoint=True)
        if fault is not None:
            return self.fault(fault)
        try:
            body = self.auth.issue(
                request.headers.get("Authorization", ""),
                request.args.get("grant_type") or request.form.get("grant_type"),
                request.args.get("scope") or request.form.get("scope"),
            )
        except OAuthError as error:
            return json_response(
                {
                    "statusCode": error.status,
                    "message": error.description,
                    **error.body(),
                    "errors": [{"code": error.error, "message": error.description}],
                },
                error.status,
            )
        hostile = self.hostility
        if hostile.token_expires_in is None and not hostile.token_padding_bytes:
            return json_response(body)
        text = orjson.dumps({**body, "expires_in": 0})
        if hostile.token_expires_in is not None:  # raw, so NaN and 1e30 go out as they are
            text = text.replace(
                b'"expires_in":0', b'"expires_in":' + hostile.token_expires_in.encode()
            )
        return streamed_json(text, hostile.token_padding_bytes)

    # --- read API ------------------------------------------------------------------

    def api(self, request: Request, parts: list[str], scopes: frozenset[str]) -> Response:
        if not parts:
            missing = self.auth.missing_scope(scopes, "")
            return self.insufficient(missing) if missing else json_response(self.project())
        self.store.expire()  # retention and time to live: deleted without a Message
        if parts == ["graphql"]:
            return self.graphql(request, scopes)
        store_key = None
        if parts[0] == "in-store":
            if len(parts) < 3 or not parts[1].startswith("key=") or parts[2] not in IN_STORE:
                return self.not_found(request.path)
            store_key, parts = parts[1].removeprefix("key="), parts[2:]
        endpoint = parts[0]
        if endpoint not in COLLECTIONS or len(parts) > 2:
            return self.not_found(request.path)
        missing = self.auth.missing_scope(scopes, endpoint, store_key)
        if missing:
            return self.insufficient(missing)
        if store_key is not None and store_key not in self.store.store_keys():
            return api_error(
                404, "ResourceNotFound", f"The Store with key '{store_key}' was not found."
            )
        visible = _in_store(endpoint, store_key) if store_key else None
        if len(parts) == 2:
            self.store.release_due()
            record = self.store.find(endpoint, parts[1])
            if record is None or (visible and not visible(record)):
                return api_error(
                    404, "ResourceNotFound", f"The Resource with ID '{parts[1]}' was not found."
                )
            return json_response(record)
        self.store.release_due()
        try:
            query = parse_query(request.args)
            ceiling = self.hostility.query_timeout_above
            if ceiling is not None and query.limit > ceiling:
                return api_error(400, "QueryTimedOut", QUERY_TIMED_OUT)
            with self.store.lock:
                page = run(self.store[endpoint], query, visible)
        except QueryError as error:
            return api_error(400, "InvalidInput", str(error))
        if self.hostility.flood_items:
            return flood(query.limit, self.hostility.flood_items)
        return json_response(page.body())

    def graphql(self, request: Request, scopes: frozenset[str]) -> Response:
        if request.method != "POST":
            return api_error(405, "MethodNotAllowed", "GraphQL queries are POSTed.")
        body = request.get_json(silent=True, force=True)
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            return json_response(
                graphql.error_body(graphql.GraphQLError("Send {query, variables}.")), 400
            )
        variables = body.get("variables") if isinstance(body.get("variables"), dict) else {}
        try:
            selections = graphql.parse_document(body["query"], variables)
        except graphql.GraphQLError as error:
            return json_response(graphql.error_body(error), 400)

        def read(collection: str, query: Query, store: str | None) -> tuple[list, int | None]:
            if store is not None and store not in self.store.store_keys():
                raise graphql.GraphQLError(f"The Store with key '{store}' was not found.")
            self.store.release_due()
            with self.store.lock:
                visible = _in_store(collection, store) if store else None
                page = run(self.store[collection], query, visible)
            return page.results, page.total

        def allowed(collection: str, store: str | None) -> str | None:
            return self.auth.missing_scope(scopes, collection, store)

        try:
            return json_response({"data": graphql.answer(selections, read, allowed)})
        except (graphql.GraphQLError, QueryError) as error:
            problem = (
                error
                if isinstance(error, graphql.GraphQLError)
                else graphql.GraphQLError(str(error))
            )
            return json_response({"data": None, **graphql.error_body(problem)})

    def project(self) -> dict[str, Any]:
        return {
            "version": 1,
            "key": self.project_key,
            "name": f"{self.project_key} (sandbox)",
            "countries": ["DE", "FR", "NL", "AT", "US", "GB"],
            "currencies": ["EUR", "USD", "GBP"],
            "languages": ["en", "de", "fr", "nl"],
            "createdAt": self.created_at,
            "messages": {
                "enabled": self.store.messages_enabled,
                "deleteDaysAfterCreation": self.store.messages_retention_days,
            },
            "carts": {
                "deleteDaysAfterLastModification": self.store.cart_ttl_days or 90,
                "countryTaxRateFallbackEnabled": False,
            },
            "searchIndexing": {},
        }

    def insufficient(self, scopes: str) -> Response:
        return api_error(
            403,
            "insufficient_scope",
            f"Insufficient scope. One of the following scopes is missing: {scopes}",
        )

    def not_found(self, path: str) -> Response:
        return api_error(404, "ResourceNotFound", f"The endpoint '{path}' was not found.")

    # --- admin ---------------------------------------------------------------------

    def admin(self, request: Request) -> Response:
        if request.remote_addr not in LOOPBACK:
            return json_response({"error": "admin endpoints answer on loopback only"}, 403)
        action = request.path.removeprefix("/_sandbox/").strip("/")
        body: dict[str, Any] = {}
        if request.method == "POST" and request.get_data():
            parsed = request.get_json(silent=True, force=True)
            if not isinstance(parsed, dict):
                return json_response({"error": "send a JSON object"}, 400)
            body = parsed
        handlers: dict[tuple[str, str], Callable[[dict], Any]] = {
            ("POST", "mutate"): self.mutate,
            ("POST", "upsert"): lambda b: self.mutator.upsert(str(b.get("type")), b.get("object")),
            ("POST", "faults"): self.set_faults,
            ("POST", "hostile"): self.set_hostile,
            ("POST", "visibility"): self.set_visibility,
            ("GET", "stats"): lambda _: self.stats.snapshot(),
            ("POST", "stats/reset"): lambda _: self.stats.reset() or {},
            ("POST", "clients"): self.add_client,
            ("POST", "tokens/expire"): lambda _: self.auth.expire_tokens() or {},
            ("POST", "project"): self.set_project,
            ("POST", "clock"): self.set_clock,
            ("POST", "customer_stores"): lambda b: self.mutator.set_customer_stores(
                list(b["customer_ids"]), list(b["stores"])
            ),
            ("GET", "dump"): lambda _: self.dump(),
        }
        handler = handlers.get((request.method, action))
        if handler is None:
            return json_response({"error": f"unknown admin call {request.method} {action}"}, 404)
        try:
            return json_response(handler(body))
        except (MutationError, ValueError, TypeError, KeyError) as error:
            return json_response({"error": f"{type(error).__name__}: {error}"}, 400)

    def mutate(self, body: dict[str, Any]) -> dict[str, list[str]]:
        unknown = sorted(set(body) - set(MUTATIONS))
        if unknown:
            raise ValueError(f"unknown mutations {unknown}; known: {sorted(MUTATIONS)}")
        answer = {}
        for key, (answer_key, method) in MUTATIONS.items():
            count = int(body.get(key, 0))
            if count or key in ALWAYS_ANSWERED:
                answer[answer_key] = getattr(self.mutator, method)(count)
        return answer

    def set_faults(self, body: dict[str, Any]) -> dict[str, Any]:
        current = self.faults.settings
        settings = FaultSettings(
            rate=float(body.get("rate", current.rate)),
            statuses=tuple(int(s) for s in body.get("statuses", current.statuses)),
            retry_after=int(body.get("retry_after", current.retry_after)),
            token=bool(body.get("token", current.token)),
        )
        self.faults.settings = settings
        return {
            "rate": settings.rate,
            "statuses": list(settings.statuses),
            "retry_after": settings.retry_after,
            "token": settings.token,
        }

    def set_hostile(self, body: dict[str, Any]) -> dict[str, Any]:
        """Fields of `faults.Hostility`; those not given keep their value."""
        unknown = sorted(set(body) - set(asdict(self.hostility)))
        if unknown:
            raise ValueError(f"unknown hostile settings {unknown}")
        self.hostility = replace(self.hostility, **body)
        return asdict(self.hostility)

    def set_visibility(self, body: dict[str, Any]) -> dict[str, float]:
        """`{"max_delay_s": N}`: later writes become visible to queries after up to N s;
        `{"latency_ms": M}`: every API call waits M ms first."""
        if "max_delay_s" in body:
            self.store.visibility_delay_s = max(0.0, float(body["max_delay_s"]))
        if "latency_ms" in body:
            self.latency_ms = max(0.0, float(body["latency_ms"]))
        return {"max_delay_s": self.store.visibility_delay_s, "latency_ms": self.latency_ms}

    def add_client(self, body: dict[str, Any]) -> dict[str, str]:
        scopes = body["scopes"]
        if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
            raise ValueError("scopes must be a list of strings")
        self.auth.add_client(str(body["client_id"]), str(body["client_secret"]), scopes)
        return {"client_id": str(body["client_id"])}

    def set_project(self, body: dict[str, Any]) -> dict[str, Any]:
        if "messages_enabled" in body:
            self.store.messages_enabled = bool(body["messages_enabled"])
        if "messages_retention_days" in body:
            days = int(body["messages_retention_days"])
            if not 1 <= days <= 90:
                raise ValueError("messages_retention_days is 1 to 90, as in commercetools")
            self.store.messages_retention_days = days
        if "cart_ttl_days" in body:
            ttl = body["cart_ttl_days"]
            self.store.cart_ttl_days = None if ttl is None else max(1, int(ttl))
        return self.project()

    def set_clock(self, body: dict[str, Any]) -> dict[str, Any]:
        """`{"offset_days": -20}`: later changes are made as if 20 days ago (never before a
        timestamp already handed out); retention and time to live count from that time."""
        self.store.clock.set_offset(timedelta(days=float(body.get("offset_days", 0))))
        return {"now": format_instant(self.store.clock.current())}

    def dump(self) -> dict[str, list[Record]]:
        with self.store.lock:
            return {name: list(c.latest().values()) for name, c in self.store.collections.items()}


def flood(limit: int, items: int) -> Response:
    """A query answer with `items` tiny results whatever its `limit`, made as it is sent."""

    def chunks() -> Iterator[bytes]:
        yield b'{"limit":%d,"offset":0,"count":%d,"results":[' % (limit, items)
        batch = 10_000
        for start in range(0, items, batch):
            end = min(items, start + batch)
            yield (b"," if start else b"") + b",".join(
                b'{"id":"f%d","version":1}' % n for n in range(start, end)
            )
        yield b"]}"

    return Response(chunks(), content_type="application/json; charset=utf-8")


def streamed_json(text: bytes, padding: int) -> Response:
    """`text` (a JSON object) with `padding` bytes of filler in a `padding` field, made as it
    is sent."""

    def chunks() -> Iterator[bytes]:
        yield text[:-1] + b',"padding":"'
        block = b"x" * 65536
        for start in range(0, padding, len(block)):
            yield block[: min(len(block), padding - start)]
        yield b'"}'

    return Response(chunks(), content_type="application/json; charset=utf-8")


def _in_store(endpoint: str, store_key: str) -> Callable[[Record], bool]:
    if endpoint == "customers":
        return lambda r: any(s.get("key") == store_key for s in r.get("stores", ()))
    return lambda r: (r.get("store") or {}).get("key") == store_key
