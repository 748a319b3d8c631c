"""The CRM One sandbox: the contract's HTTP surface over `store.CrmData`."""

from __future__ import annotations

import hashlib
import json
import logging
import random
import secrets
import threading
import time
import uuid
from collections import Counter
from typing import Any

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from sandbox.crmone.pages import render_page
from sandbox.crmone.store import (
    ACTIVITY_TYPES,
    ORDER_OBJECT_PROPERTIES,
    CrmData,
    RecordError,
    now,
)

logging.getLogger("werkzeug").setLevel(logging.WARNING)
MAX_BODY = 5 * 1024 * 1024
IDEMPOTENCY_TTL = 24 * 3600


def problem(status: int, code: str, detail: str, **extra: Any) -> Response:
    body = {
        "type": f"https://crmone.example/problems/{code}",
        "title": code.replace("_", " "),
        "status": status,
        "code": code,
        "detail": detail,
        **extra,
    }
    return Response(json.dumps(body), status=status, content_type="application/problem+json")


def ok(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


class CrmOneApp:
    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        tenant: str,
        stores: tuple[str, ...],
        batch_max: int,
        requests_per_second: int,
        max_concurrency: int,
        latency_ms: int,
        fault_rate: float,
        token_ttl: int,
    ) -> None:
        self.client = (client_id, client_secret)
        self.tenant, self.token_ttl = tenant, token_ttl
        self.limits = {
            "batch_max": batch_max,
            "requests_per_second": requests_per_second,
            "max_concurrency": max_concurrency,
        }
        self.data = CrmData(stores)
        self.tokens: dict[str, float] = {}
        self.idempotency: dict[str, tuple[str, float, int, str]] = {}
        self.faults = {
            "rate": fault_rate,
            "statuses": (502, 503, 504, 429),
            "latency_ms": latency_ms,
        }
        self.rng = random.Random(11)
        self.lock = threading.Lock()
        self.window: list[float] = []
        self.in_flight = 0
        self.counts: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self.stat = Counter()

    # --- WSGI ----------------------------------------------------------------------

    def __call__(self, environ: dict, start_response: Any) -> Any:
        request = Request(environ)
        correlation = request.headers.get("X-Correlation-Id") or str(uuid.uuid4())
        if request.path.startswith(("/_sandbox", "/ui")):
            response = (
                self.admin(request)
                if request.path.startswith("/_sandbox")
                else render_page(self, request)
            )
            return response(environ, start_response)
        with self.lock:
            self.in_flight += 1
            self.stat["max_in_flight"] = max(self.stat["max_in_flight"], self.in_flight)
            over_concurrency = self.in_flight > self.limits["max_concurrency"]
        try:
            if self.faults["latency_ms"]:
                time.sleep(self.faults["latency_ms"] / 1000)
            response = self.guarded(request, over_concurrency)
        finally:
            with self.lock:
                self.in_flight -= 1
        response.headers["X-Correlation-Id"] = correlation
        response.headers["X-Request-Id"] = f"req_{uuid.uuid4().hex[:16]}"
        with self.lock:
            self.counts[f"{request.method} {self._route_name(request.path)}"] += 1
            self.statuses[response.status_code] += 1
        return response(environ, start_response)

    @staticmethod
    def _route_name(path: str) -> str:
        parts = path.strip("/").split("/")
        if (
            len(parts) >= 3
            and parts[1] in ("contacts", "lists", "objects")
            and parts[2] not in ("batch",)
        ):
            parts[2] = "{id}"
        return "/" + "/".join(parts)

    def guarded(self, request: Request, over_concurrency: bool) -> Response:
        limit = self.limits["requests_per_second"]
        with self.lock:
            moment = time.monotonic()
            self.window = [t for t in self.window if moment - t < 1.0]
            self.window.append(moment)
            remaining = max(0, limit - len(self.window))
            limited = len(self.window) > limit
        headers = {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(int(time.time()) + 1),
        }
        if over_concurrency:
            self.stat["concurrency_429"] += 1
        if limited or over_concurrency:
            response = problem(429, "rate_limited", "Too many requests")
            response.headers["Retry-After"] = "1"
        elif (
            request.path != "/oauth/token"
            and self.faults["rate"]
            and self.rng.random() < self.faults["rate"]
        ):
            status = self.rng.choice(self.faults["statuses"])
            response = problem(status, "injected_fault", "Injected fault: nothing was applied")
            if status == 429:
                response.headers["Retry-After"] = "0"
        else:
            response = self.route(request)
        response.headers.update(headers)
        return response

    # --- routing -------------------------------------------------------------------

    def route(self, request: Request) -> Response:
        path, method = request.path.rstrip("/"), request.method
        if path == "/oauth/token" and method == "POST":
            return self.token(request)
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if self.tokens.get(token, 0) < time.time():
            return Response(
                json.dumps({"error": "invalid_token"}), status=401, content_type="application/json"
            )
        if request.content_length and request.content_length > MAX_BODY:
            return problem(413, "payload_too_large", "Request body over 5 MiB")
        body = request.get_json(silent=True) if method in ("POST", "PATCH") else None
        if method == "POST" and "/batch" in path:
            return self.idempotent(request, path, body)
        with self.data.lock:
            return self.handle(method, path, request, body)

    def token(self, request: Request) -> Response:
        form = request.form
        if (
            form.get("grant_type") != "client_credentials"
            or (form.get("client_id"), form.get("client_secret")) != self.client
        ):
            return Response(
                json.dumps({"error": "invalid_client"}), status=401, content_type="application/json"
            )
        token = secrets.token_urlsafe(24)
        self.tokens[token] = time.time() + self.token_ttl
        return ok(
            {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": self.token_ttl,
                "scope": "contacts:write consents:write activities:write lists:write",
            }
        )

    def idempotent(self, request: Request, path: str, body: Any) -> Response:
        key = request.headers.get("Idempotency-Key")
        if key and len(key) > 128:
            return problem(400, "invalid_idempotency_key", "Idempotency-Key over 128 characters")
        digest = hashlib.sha256(path.encode() + request.get_data()).hexdigest()
        with self.data.lock:
            if key:
                seen = self.idempotency.get(key)
                if seen and time.time() - seen[1] < IDEMPOTENCY_TTL:
                    if seen[0] != digest:
                        return problem(
                            422,
                            "idempotency_key_reused",
                            "Idempotency-Key reused with a different body",
                        )
                    self.stat["idempotent_replays"] += 1
                    return Response(seen[3], status=seen[2], content_type="application/json")
            response = self.handle("POST", path, request, body)
            if key and response.status_code < 500:
                self.idempotency[key] = (
                    digest,
                    time.time(),
                    response.status_code,
                    response.get_data(as_text=True),
                )
            return response

    def handle(self, method: str, path: str, request: Request, body: Any) -> Response:
        parts = path.strip("/").split("/")
        data = self.data
        if parts[:1] != ["v1"]:
            return problem(404, "not_found", f"No route {path}")
        route = parts[1:]
        if method == "GET" and route == ["account"]:
            return ok(
                {
                    "tenant": self.tenant,
                    "api_version": "1.4",
                    "limits": self.limits,
                    "scopes": [
                        "contacts:write",
                        "consents:write",
                        "activities:write",
                        "lists:write",
                        "objects:write",
                    ],
                }
            )
        if route == ["schema", "contacts"] and method == "GET":
            return ok({"properties": data.schema})
        if route == ["schema", "contacts", "properties"] and method == "POST":
            if not isinstance(body, dict) or not body.get("name") or not body.get("type"):
                return problem(400, "invalid_value", "name and type required")
            if data.definition(body["name"]):
                return problem(409, "property_exists", f"{body['name']} exists")
            data.schema.append(
                {
                    "required": False,
                    "unique": False,
                    "read_only": False,
                    "segmentation": False,
                    **body,
                }
            )
            return ok(body, 201)
        if route == ["activity-types"]:
            return ok({"results": [{"name": n} for n in ACTIVITY_TYPES]})
        if route == ["objects"] and method == "GET":
            return ok({"results": [{"name": "orders", "properties": ORDER_OBJECT_PROPERTIES}]})
        if route == ["lists"] and method == "GET":
            return ok({"results": list(data.lists.values())})
        if (
            (method == "POST"
            and route[-1:] == ["batch"])
            or route[-2:] in (["batch", "upsert"], ["batch", "read"])
        ):
            return self.batch(route, body)
        if route[:1] == ["contacts"]:
            return self.contact_route(method, route, request, body)
        if route[:1] == ["objects"] and len(route) == 3 and method == "GET":
            found = data.objects.get(route[1], {}).get(route[2])
            return ok(found) if found else problem(404, "not_found", "no such object")
        if route[:1] == ["lists"] and len(route) == 3 and route[2] == "members":
            if route[1] not in data.lists:
                return problem(404, "not_found", "no such list")
            return ok({"results": sorted(data.members[route[1]])})
        return problem(404, "not_found", f"No route {method} {path}")

    def batch(self, route: list[str], body: Any) -> Response:
        if not isinstance(body, dict):
            return problem(400, "invalid_body", "JSON object expected")
        records = body.get("records", body.get("ids", []))
        if route[:1] == ["lists"]:
            records = (body.get("add") or []) + (body.get("remove") or [])
        if not isinstance(records, list):
            return problem(400, "invalid_body", "records must be a list")
        if len(records) > self.limits["batch_max"]:
            return problem(
                400, "batch_too_large", f"At most {self.limits['batch_max']} records per batch"
            )
        data = self.data
        if route == ["contacts", "batch", "read"]:
            results, missing = [], []
            for ident in body.get("ids", []):
                contact = data.find(**{body.get("id_property", "external_id"): ident})
                if contact is None or contact.erased_at:
                    missing.append(ident)
                    continue
                view = contact.view()
                wanted = body.get("properties")
                if wanted:
                    view["properties"] = {
                        k: v for k, v in view["properties"].items() if k in wanted
                    }
                    view["property_meta"] = {
                        k: v for k, v in view["property_meta"].items() if k in wanted
                    }
                results.append(view)
            return ok({"results": results, "missing": missing})
        if route == ["contacts", "batch", "upsert"]:

            def one(record: dict) -> dict:
                contact, status = data.upsert_contact(
                    record,
                    body.get("id_property", "external_id"),
                    bool(body.get("allow_recreate_erased")),
                )
                return {
                    "id": contact.id,
                    "external_id": contact.external_id,
                    "status": status,
                    "version": contact.version,
                }

            return self._per_record(records, one)
        if route == ["consents", "batch"]:
            return self._per_record(records, lambda r: {"status": data.apply_consent(r)})
        if route == ["activities", "batch"]:
            return self._per_record(
                records,
                lambda r: {"external_id": r.get("external_id"), "status": data.upsert_activity(r)},
            )
        if route[:1] == ["objects"] and route[2:] == ["batch", "upsert"]:
            if route[1] not in data.objects:
                return problem(404, "not_found", "no such object type")
            return self._per_record(
                records,
                lambda r: {
                    "external_id": r.get("external_id"),
                    "status": data.upsert_object(route[1], r),
                },
            )
        if route[:1] == ["lists"] and route[2:] == ["members", "batch"]:
            if route[1] not in data.lists:
                return problem(404, "not_found", "no such list")
            members, added, removed, errors = data.members[route[1]], 0, 0, []
            for ext in body.get("add") or []:
                if data.find(external_id=ext) is None:
                    errors.append({"external_id": ext, "code": "contact_not_found"})
                elif ext not in members:
                    members.add(ext)
                    added += 1
            for ext in body.get("remove") or []:
                if ext in members:
                    members.discard(ext)
                    removed += 1
            return ok({"added": added, "removed": removed, "errors": errors})
        return problem(404, "not_found", "No such batch endpoint")

    @staticmethod
    def _per_record(records: list, apply: Any) -> Response:
        results, errors = [], []
        for index, record in enumerate(records):
            try:
                if not isinstance(record, dict):
                    raise RecordError("invalid_value", "record must be an object")
                results.append({"index": index, **apply(record)})
            except RecordError as error:
                errors.append(
                    {
                        "index": index,
                        "external_id": (record or {}).get("external_id")
                        if isinstance(record, dict)
                        else None,
                        "status": error.status,
                        "code": error.code,
                        "field": error.field,
                        "message": str(error),
                        **error.extra,
                    }
                )
        return ok({"results": results, "errors": errors})

    def contact_route(self, method: str, route: list[str], request: Request, body: Any) -> Response:
        data = self.data
        if route == ["contacts"] and method == "GET":
            contact = data.find(
                external_id=request.args.get("external_id"), email=request.args.get("email")
            )
            found = contact and not contact.erased_at
            return ok({"results": [contact.view()] if found else []})
        contact = data.contacts.get(route[1]) if len(route) > 1 else None
        if contact is None or contact.erased_at:
            return problem(404, "not_found", "no such contact")
        tail = route[2:]
        if not tail and method == "GET":
            return ok(contact.view())
        if not tail and method == "PATCH":
            if request.headers.get("If-Match") != str(contact.version):
                return problem(412, "version_conflict", "stale version")
            try:
                contact, _ = data.upsert_contact(
                    {
                        "external_id": contact.external_id,
                        "properties": (body or {}).get("properties", {}),
                    },
                    "external_id",
                    False,
                )
            except RecordError as error:
                return problem(422, error.code, str(error))
            return ok(contact.view())
        if not tail and method == "DELETE":
            data.archive(contact)
            return Response(status=204)
        if tail == ["erase"] and method == "POST":
            data.erase(contact)
            return Response(status=204)
        if tail == ["consents"] and method == "GET":
            held = data.consents.get(contact.id, {})
            return ok(
                {
                    "results": [
                        {k: v for k, v in c.items() if k != "evidence"} for c in held.values()
                    ]
                }
            )
        if tail == ["activities"] and method == "GET":
            wanted = request.args.get("type")
            found = [
                a
                for a in data.activities.values()
                if a["contact_id"] == contact.id and (not wanted or a["type"] == wanted)
            ]
            return ok(
                {"results": sorted(found, key=lambda a: a.get("occurred_at") or "", reverse=True)}
            )
        return problem(404, "not_found", "No such contact route")

    # --- admin ---------------------------------------------------------------------

    def admin(self, request: Request) -> Response:
        action = request.path.removeprefix("/_sandbox/").strip("/")
        body = request.get_json(silent=True) or {}
        if action == "faults":
            self.set_faults(
                float(body.get("rate", self.faults["rate"])),
                tuple(body.get("statuses", self.faults["statuses"])),
                int(body.get("latency_ms", self.faults["latency_ms"])),
            )
            return ok({k: list(v) if isinstance(v, tuple) else v for k, v in self.faults.items()})
        if action == "user_edit":
            return ok(self.user_edit(body["external_id"], body["properties"]))
        if action == "stats":
            return ok(self.stats())
        if action == "dump":
            return ok(self.dump())
        return problem(404, "not_found", "unknown admin action")

    def set_faults(
        self,
        rate: float,
        statuses: tuple[int, ...] = (502, 503, 504, 429),
        latency_ms: int | None = None,
    ) -> None:
        self.faults["rate"], self.faults["statuses"] = rate, tuple(statuses)
        if latency_ms is not None:
            self.faults["latency_ms"] = latency_ms

    def user_edit(self, external_id: str, properties: dict[str, Any]) -> dict[str, Any]:
        with self.data.lock:
            contact, _ = self.data.upsert_contact(
                {"external_id": external_id, "properties": properties},
                "external_id",
                False,
                updated_by="user",
            )
            return contact.view()

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "requests": dict(self.counts),
                "total": sum(self.counts.values()),
                "statuses": {str(k): v for k, v in self.statuses.items()},
                **{k: v for k, v in self.stat.items()},
            }

    def dump(self) -> dict[str, Any]:
        data = self.data
        with data.lock:
            ext = {c.id: c.external_id for c in data.contacts.values()}
            return {
                "contacts": [c.view() | {"erased_at": c.erased_at} for c in data.contacts.values()],
                "consents": {ext[cid]: list(held.values()) for cid, held in data.consents.items()},
                "activities": [
                    a | {"contact_external_id": ext[a["contact_id"]]}
                    for a in data.activities.values()
                ],
                "objects": {t: list(o.values()) for t, o in data.objects.items()},
                "lists": {k: sorted(v) for k, v in data.members.items()},
                "generated_at": now(),
            }


class CrmOneSandbox:
    """The CRM One sandbox in a background thread on 127.0.0.1."""

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
    ) -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.app = CrmOneApp(
            client_id=client_id,
            client_secret=client_secret,
            tenant=tenant,
            stores=stores,
            batch_max=batch_max,
            requests_per_second=requests_per_second,
            max_concurrency=max_concurrency,
            latency_ms=latency_ms,
            fault_rate=fault_rate,
            token_ttl=token_ttl,
        )
        self._server = make_server("127.0.0.1", port, self.app, threaded=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> CrmOneSandbox:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> CrmOneSandbox:
        return self.start()

    def __exit__(self, *_: Any) -> None:
        self.stop()

    def destination_config(self, journal_path: str, **overrides: Any) -> dict[str, Any]:
        return {
            "base_url": self.url,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "journal": {"type": "sqlite", "path": journal_path},
            **overrides,
        }

    def set_faults(self, rate: float, statuses: tuple[int, ...] = (502, 503, 504, 429)) -> None:
        self.app.set_faults(rate, statuses)

    def set_latency(self, ms: int) -> None:
        self.app.faults["latency_ms"] = ms

    def user_edit(self, external_id: str, properties: dict[str, Any]) -> dict[str, Any]:
        return self.app.user_edit(external_id, properties)

    def expire_tokens(self) -> None:
        self.app.tokens.clear()

    def contacts(self) -> list[dict[str, Any]]:
        return [c for c in self.app.dump()["contacts"] if not c["erased_at"]]

    def contact(self, external_id: str) -> dict[str, Any] | None:
        with self.app.data.lock:
            found = self.app.data.find(external_id=external_id)
            return found.view() if found else None

    def consents(self, external_id: str) -> list[dict[str, Any]]:
        return self.app.dump()["consents"].get(external_id, [])

    def activities(self, external_id: str | None = None) -> list[dict[str, Any]]:
        return [
            a
            for a in self.app.dump()["activities"]
            if external_id is None or a["contact_external_id"] == external_id
        ]

    def objects(self, type_: str = "orders") -> list[dict[str, Any]]:
        return self.app.dump()["objects"].get(type_, [])

    def list_members(self, list_id: str) -> list[str]:
        return self.app.dump()["lists"].get(list_id, [])

    def stats(self) -> dict[str, Any]:
        return self.app.stats()

    def reset_stats(self) -> None:
        with self.app.lock:
            self.app.counts.clear()
            self.app.statuses.clear()
            self.app.stat.clear()
