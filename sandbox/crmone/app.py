"""The CRM One WSGI application: CONTRACT.md's HTTP surface over `store.CrmData`.

A request to the API passes, in this order: the concurrency gate, the added latency, the
rate limit, fault injection (nothing applied yet), authentication, the size limit, then its
handler; batches run inside the idempotency cache. `/_sandbox/*` (admin) and `/ui/*` (the
read-only page) skip all of that.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound, RequestEntityTooLarge
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from sandbox.crmone import pages
from sandbox.crmone.guards import (
    IDEMPOTENCY_KEY_MAX,
    Faults,
    IdempotencyCache,
    Outage,
    RateLimiter,
    Stats,
)
from sandbox.crmone.schema import ACTIVITY_TYPES, RecordError, definition, definition_problems
from sandbox.crmone.store import Contact, CrmData

logging.getLogger("werkzeug").setLevel(logging.WARNING)
MAX_BODY_BYTES = 5 * 1024 * 1024
API_VERSION = "1.4"
SCOPES = ["contacts:write", "consents:write", "activities:write", "lists:write", "objects:write"]
TOKEN_SCOPE = "contacts:write consents:write activities:write lists:write"


class SizedRequest(Request):
    max_content_length = MAX_BODY_BYTES


def problem(
    status: int, code: str, detail: str, errors: list[dict] | None = None, **extra: Any
) -> Response:
    """An `application/problem+json` error as the contract shapes it."""
    body = {
        "type": f"https://crmone.example/problems/{code}",
        "title": code.replace("_", " ").capitalize(),
        "status": status,
        "code": code,
        "detail": detail,
        "errors": errors or [],
        **extra,
    }
    return Response(json.dumps(body), status=status, content_type="application/problem+json")


def ok(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def oauth_error(error: str, status: int = 401) -> Response:
    """OAuth's `{"error": …}`, also carrying the problem fields every non-2xx has."""
    response = problem(status, error, error.replace("_", " "), error=error)
    response.headers["WWW-Authenticate"] = f'Bearer error="{error}"'
    return response


Handler = Callable[..., Response]
ROUTES = Map(
    [
        Rule("/oauth/token", methods=["POST"], endpoint="token"),
        Rule("/v1/account", methods=["GET"], endpoint="account"),
        Rule("/v1/schema/contacts", methods=["GET"], endpoint="contact_schema"),
        Rule("/v1/schema/contacts/properties", methods=["POST"], endpoint="add_property"),
        Rule("/v1/contacts/batch/upsert", methods=["POST"], endpoint="contacts_upsert"),
        Rule("/v1/contacts/batch/read", methods=["POST"], endpoint="contacts_read"),
        Rule("/v1/contacts", methods=["GET"], endpoint="contacts_search"),
        Rule("/v1/contacts/<contact_id>", methods=["GET", "PATCH", "DELETE"], endpoint="contact"),
        Rule("/v1/contacts/<contact_id>/erase", methods=["POST"], endpoint="erase"),
        Rule("/v1/contacts/<contact_id>/consents", methods=["GET"], endpoint="contact_consents"),
        Rule(
            "/v1/contacts/<contact_id>/activities", methods=["GET"], endpoint="contact_activities"
        ),
        Rule("/v1/consents/batch", methods=["POST"], endpoint="consents_batch"),
        Rule("/v1/activities/batch", methods=["POST"], endpoint="activities_batch"),
        Rule("/v1/activity-types", methods=["GET"], endpoint="activity_types"),
        Rule("/v1/objects", methods=["GET"], endpoint="object_types"),
        Rule("/v1/objects/<type_>/batch/upsert", methods=["POST"], endpoint="objects_upsert"),
        Rule("/v1/objects/<type_>/<path:external_id>", methods=["GET"], endpoint="object"),
        Rule("/v1/lists", methods=["GET"], endpoint="lists"),
        Rule("/v1/lists/<list_id>/members/batch", methods=["POST"], endpoint="members_batch"),
        Rule("/v1/lists/<list_id>/members", methods=["GET"], endpoint="members"),
    ],
    strict_slashes=False,
)


class CrmOneApp:
    """The WSGI application; `CrmOneSandbox` serves it on loopback."""

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
        self.credentials = (client_id, client_secret)
        self.tenant, self.token_ttl = tenant, token_ttl
        self.batch_max, self.max_concurrency = batch_max, max_concurrency
        self.data = CrmData(stores)
        self.limiter = RateLimiter(requests_per_second)
        self.faults = Faults(rate=fault_rate, latency_ms=latency_ms)
        self.outage = Outage()
        self.idempotency = IdempotencyCache()
        self.stats = Stats()
        self.tokens: dict[str, float] = {}
        self._gate = threading.Lock()
        self._in_flight = 0

    @property
    def limits(self) -> dict[str, int]:
        return {
            "batch_max": self.batch_max,
            "requests_per_second": self.limiter.per_second,
            "max_concurrency": self.max_concurrency,
        }

    # --- the pipeline ----------------------------------------------------------------

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        environ["crmone.arrived"] = time.monotonic()  # the rate limit counts arrivals
        request = SizedRequest(environ)
        if request.path.startswith("/_sandbox/"):
            return self.admin(request)(environ, start_response)
        if request.path == "/ui" or request.path.startswith("/ui/"):
            with self.data.lock:
                return pages.render(self.data, request)(environ, start_response)
        response, dropped = self.api(request)
        response.headers["X-Request-Id"] = f"req_{uuid.uuid4().hex[:20]}"
        correlation = request.headers.get("X-Correlation-Id")
        if correlation:
            response.headers["X-Correlation-Id"] = correlation[:200]
        if dropped:
            self.stats.event("connections_dropped")
            start_response("200 OK", [])
            _drop(environ)
            return []
        return response(environ, start_response)

    def api(self, request: Request) -> tuple[Response, bool]:
        """The response, and whether to drop the connection instead of sending it."""
        adapter = ROUTES.bind_to_environ(request.environ)
        route = request.path
        try:
            rule, arguments = adapter.match(return_rule=True)
            route = rule.rule
        except (NotFound, MethodNotAllowed):
            rule, arguments = None, {}
        label = f"{request.method} {route}"
        with self._gate:
            observed = self._in_flight + 1
            admitted = observed <= self.max_concurrency
            if admitted:
                self._in_flight = observed
        self.stats.in_flight(observed)
        if not admitted:
            self.stats.event("concurrency_429")
            response = problem(
                429, "too_many_concurrent_requests", f"at most {self.max_concurrency} in flight"
            )
            response.headers["Retry-After"] = "1"
            response.headers.update(self.limiter.admit(consume=False).headers())
            self.stats.count(label, 429)
            return response, False
        try:
            response, dropped = self.guarded(request, rule, arguments)
        finally:
            with self._gate:
                self._in_flight -= 1
        self.stats.count(label, response.status_code)
        return response, dropped

    def guarded(
        self, request: Request, rule: Rule | None, arguments: dict[str, Any]
    ) -> tuple[Response, bool]:
        if self.faults.latency_ms:
            time.sleep(self.faults.latency_ms / 1000)
        if self.outage.down():
            self.stats.event("outage_answers")
            if self.outage.status is None:
                return problem(503, "down", "connection dropped"), True
            detail = "CRM One is down for maintenance: nothing was applied"
            return problem(self.outage.status, "service_unavailable", detail), False
        admission = self.limiter.admit(at=request.environ.get("crmone.arrived"))
        if not admission.allowed:
            self.stats.event("rate_limit_429")
            response = problem(429, "rate_limited", f"over {admission.limit} requests per second")
            response.headers["Retry-After"] = str(admission.retry_after)
        elif (status := self.faults.status()) is not None:
            self.stats.event("faults_injected")
            response = problem(status, "injected_fault", "transient fault: nothing was applied")
            if status == 429:
                response.headers["Retry-After"] = "1"
        else:
            response = self.authorised(request, rule, arguments)
        response.headers.update(admission.headers())
        dropped = response.status_code < 500 and request.method != "GET" and self.faults.drop()
        return response, dropped

    def authorised(
        self, request: Request, rule: Rule | None, arguments: dict[str, Any]
    ) -> Response:
        if rule is None:
            try:
                ROUTES.bind_to_environ(request.environ).match()
            except MethodNotAllowed as error:
                return problem(405, "method_not_allowed", f"allowed: {error.valid_methods}")
            except HTTPException:
                pass
            return problem(404, "not_found", f"no route {request.method} {request.path}")
        if rule.endpoint == "token":
            return self.token(request)
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        expiry = self.tokens.get(token) if scheme.lower() == "bearer" else None
        if expiry is None or expiry <= time.time():
            return oauth_error("invalid_token")
        try:
            body = self._json_body(request)
        except RequestEntityTooLarge:
            return problem(413, "payload_too_large", f"a request body is at most {MAX_BODY_BYTES}")
        except ValueError as error:
            return problem(400, "invalid_json", str(error))
        handler: Handler = getattr(self, f"on_{rule.endpoint}")
        if request.method == "POST" and "/batch" in rule.rule:
            return self.idempotent(request, lambda: handler(request, body, **arguments))
        with self.data.lock:
            return handler(request, body, **arguments)

    @staticmethod
    def _json_body(request: Request) -> Any:
        if request.method not in ("POST", "PATCH", "PUT"):
            return None
        raw = request.get_data(cache=True)
        if not raw:
            return None
        try:
            return json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"the body is not JSON: {error}") from None

    def idempotent(self, request: Request, handle: Callable[[], Response]) -> Response:
        """Same key and body within 24 h: the first response again, nothing applied twice."""
        key = request.headers.get("Idempotency-Key") or None
        if key is not None and len(key) > IDEMPOTENCY_KEY_MAX:
            return problem(
                400, "invalid_idempotency_key", f"at most {IDEMPOTENCY_KEY_MAX} characters"
            )
        digest = self.idempotency.digest(request.method, request.path, request.get_data())
        with self.data.lock:
            if key is not None and (seen := self.idempotency.get(key)) is not None:
                if seen.digest != digest:
                    return problem(
                        422,
                        "idempotency_key_reused",
                        "this Idempotency-Key was used with a different request",
                    )
                self.stats.event("idempotent_replays")
                replay = Response(seen.body, status=seen.status, content_type="application/json")
                replay.headers["Idempotent-Replayed"] = "true"
                return replay
            response = handle()
            if key is not None and response.status_code < 500:
                self.idempotency.put(key, digest, response.status_code, response.get_data())
            return response

    # --- auth, account, schema -------------------------------------------------------

    def token(self, request: Request) -> Response:
        form = request.form
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        if request.authorization and request.authorization.type == "basic":
            client_id = request.authorization.username
            client_secret = request.authorization.password
        if form.get("grant_type") != "client_credentials":
            return oauth_error("unsupported_grant_type", 400)
        if (client_id, client_secret) != self.credentials:
            return oauth_error("invalid_client")
        token = "tok_" + secrets.token_urlsafe(24)
        self.tokens[token] = time.time() + self.token_ttl
        self.stats.event("tokens_issued")
        return ok(
            {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": self.token_ttl,
                "scope": TOKEN_SCOPE,
            }
        )

    def on_account(self, _request: Request, _body: Any) -> Response:
        return ok(
            {
                "tenant": self.tenant,
                "api_version": API_VERSION,
                "limits": self.limits,
                "scopes": SCOPES,
            }
        )

    def on_contact_schema(self, _request: Request, _body: Any) -> Response:
        return ok({"properties": list(self.data.schema.values())})

    def on_add_property(self, _request: Request, body: Any) -> Response:
        errors = definition_problems(body)
        if errors:
            return problem(400, "invalid_value", "not a valid property definition", errors)
        options = {"options": list(body["options"])} if "options" in body else {}
        created = definition(
            body["name"],
            body["type"],
            **options,
            **{k: bool(body.get(k, False)) for k in ("required", "unique", "segmentation")},
        )
        if not self.data.add_property(created):
            return problem(409, "property_exists", f"a property {body['name']!r} exists")
        return ok(created, 201)

    def on_activity_types(self, _request: Request, _body: Any) -> Response:
        return ok({"results": [{"name": name} for name in ACTIVITY_TYPES]})

    def on_object_types(self, _request: Request, _body: Any) -> Response:
        return ok(
            {
                "results": [
                    {"name": name, "properties": list(props.values())}
                    for name, props in self.data.object_types.items()
                ]
            }
        )

    def on_lists(self, _request: Request, _body: Any) -> Response:
        return ok({"results": [dict(item) for item in self.data.lists.values()]})

    # --- batches ---------------------------------------------------------------------

    def _records(self, body: Any, key: str = "records") -> list | Response:
        if not isinstance(body, dict) or not isinstance(body.get(key), list):
            return problem(400, "invalid_body", f"a JSON object with a {key!r} list is expected")
        records = body[key]
        if len(records) > self.batch_max:
            return problem(
                400, "batch_too_large", f"{len(records)} records; at most {self.batch_max}"
            )
        return records

    @staticmethod
    def _per_record(records: list, apply: Callable[[Any], dict[str, Any]]) -> Response:
        """`{"results": [...], "errors": [...]}`: one failed record never fails the batch."""
        results, errors = [], []
        for index, record in enumerate(records):
            try:
                results.append({"index": index, **apply(record)})
            except RecordError as error:
                external_id = record.get("external_id") if isinstance(record, dict) else None
                errors.append({"index": index, "external_id": external_id, **error.as_error()})
        return ok({"results": results, "errors": errors})

    def on_contacts_upsert(self, _request: Request, body: Any) -> Response:
        records = self._records(body)
        if isinstance(records, Response):
            return records
        id_property = body.get("id_property", "external_id")
        if id_property not in ("external_id", "email"):
            return problem(400, "invalid_value", "id_property: external_id or email")
        allow = body.get("allow_recreate_erased") is True

        def one(record: Any) -> dict[str, Any]:
            contact, status = self.data.upsert_contact(record, id_property, allow)
            return {
                "id": contact.id,
                "external_id": contact.external_id,
                "status": status,
                "version": contact.version,
            }

        return self._per_record(records, one)

    def on_contacts_read(self, _request: Request, body: Any) -> Response:
        ids = self._records(body, "ids")
        if isinstance(ids, Response):
            return ids
        id_property = body.get("id_property", "external_id")
        if id_property not in ("external_id", "email", "id"):
            return problem(400, "invalid_value", "id_property: external_id, email or id")
        wanted = body.get("properties")
        if wanted is not None and not (
            isinstance(wanted, list) and all(isinstance(n, str) for n in wanted)
        ):
            return problem(400, "invalid_value", "properties: a list of property names")
        results, missing = [], []
        for ident in ids:
            contact = self._contact(ident, id_property)
            if contact is None:
                missing.append(ident)
            else:
                results.append(contact.view(wanted))
        return ok({"results": results, "missing": missing})

    def _contact(self, ident: Any, id_property: str) -> Contact | None:
        if id_property == "id":
            return self.data.contacts.get(ident) if isinstance(ident, str) else None
        if id_property == "email":
            return self.data.contact_by(email=ident)
        return self.data.contact_by(external_id=ident)

    def on_consents_batch(self, _request: Request, body: Any) -> Response:
        records = self._records(body)
        if isinstance(records, Response):
            return records
        return self._per_record(records, lambda r: {"status": self.data.apply_consent(r)})

    def on_activities_batch(self, _request: Request, body: Any) -> Response:
        records = self._records(body)
        if isinstance(records, Response):
            return records

        def one(record: Any) -> dict[str, Any]:
            status = self.data.upsert_activity(record)
            activity = self.data.activities[record["external_id"]]
            return {"id": activity["id"], "external_id": record["external_id"], "status": status}

        return self._per_record(records, one)

    def on_objects_upsert(self, _request: Request, body: Any, type_: str) -> Response:
        if type_ not in self.data.object_types:
            return problem(404, "not_found", f"no object type {type_!r}")
        records = self._records(body)
        if isinstance(records, Response):
            return records

        def one(record: Any) -> dict[str, Any]:
            item, status = self.data.upsert_object(type_, record)
            return {
                "id": item.id,
                "external_id": item.external_id,
                "status": status,
                "version": item.version,
            }

        return self._per_record(records, one)

    def on_members_batch(self, _request: Request, body: Any, list_id: str) -> Response:
        if list_id not in self.data.lists:
            return problem(404, "not_found", f"no list {list_id!r}")
        if not isinstance(body, dict):
            return problem(400, "invalid_body", "a JSON object with add/remove lists is expected")
        add, remove = body.get("add") or [], body.get("remove") or []
        if not isinstance(add, list) or not isinstance(remove, list):
            return problem(400, "invalid_body", "add and remove must be lists")
        if len(add) + len(remove) > self.batch_max:
            return problem(400, "batch_too_large", f"at most {self.batch_max} ids per batch")
        return ok(self.data.change_members(list_id, add, remove))

    # --- single resources ------------------------------------------------------------

    def on_contacts_search(self, request: Request, _body: Any) -> Response:
        external_id, email = request.args.get("external_id"), request.args.get("email")
        if external_id is None and email is None:
            return problem(400, "invalid_value", "give external_id or email")
        contact = (
            self.data.contact_by(external_id=external_id)
            if external_id is not None
            else self.data.contact_by(email=email)
        )
        return ok({"results": [contact.view()] if contact else []})

    def on_contact(self, request: Request, body: Any, contact_id: str) -> Response:
        contact = self.data.contacts.get(contact_id)
        if contact is None:
            return problem(404, "not_found", f"no contact {contact_id!r}")
        if request.method == "GET":
            return ok(contact.view())
        if request.method == "DELETE":
            self.data.archive(contact)
            return Response(status=204)
        if_match = request.headers.get("If-Match")
        if if_match is not None and if_match.strip().strip('"') != str(contact.version):
            return problem(
                412,
                "version_conflict",
                f"If-Match {if_match} but the contact is at version {contact.version}",
            )
        if not isinstance(body, dict) or not isinstance(body.get("properties"), dict):
            return problem(400, "invalid_body", 'a JSON object {"properties": {...}} is expected')
        try:
            self.data.edit_contact(contact, body["properties"], "integration")
        except RecordError as error:
            return problem(error.status, error.code, str(error), [error.as_error()], **error.extra)
        return ok(contact.view())

    def on_erase(self, _request: Request, _body: Any, contact_id: str) -> Response:
        contact = self.data.contacts.get(contact_id)
        if contact is None:
            return problem(404, "not_found", f"no contact {contact_id!r}")
        self.data.erase(contact)
        return Response(status=204)

    def on_contact_consents(self, _request: Request, _body: Any, contact_id: str) -> Response:
        if contact_id not in self.data.contacts:
            return problem(404, "not_found", f"no contact {contact_id!r}")
        keys = ("channel", "purpose", "status", "updated_at", "source")
        return ok(
            {"results": [{k: c[k] for k in keys} for c in self.data.consent_views(contact_id)]}
        )

    def on_contact_activities(self, request: Request, _body: Any, contact_id: str) -> Response:
        if contact_id not in self.data.contacts:
            return problem(404, "not_found", f"no contact {contact_id!r}")
        return ok({"results": self.data.contact_activities(contact_id, request.args.get("type"))})

    def on_object(self, _request: Request, _body: Any, type_: str, external_id: str) -> Response:
        item = self.data.objects.get(type_, {}).get(external_id)
        if item is None:
            return problem(404, "not_found", f"no {type_} object {external_id!r}")
        return ok(self.data.object_view(item))

    def on_members(self, _request: Request, _body: Any, list_id: str) -> Response:
        if list_id not in self.data.lists:
            return problem(404, "not_found", f"no list {list_id!r}")
        return ok({"results": self.data.visible_members(list_id)})

    # --- admin (no auth; loopback only) -----------------------------------------------

    def admin(self, request: Request) -> Response:
        action = request.path.removeprefix("/_sandbox/").strip("/")
        body = request.get_json(silent=True) or {}
        try:
            if action == "faults" and request.method == "POST":
                statuses = body.get("statuses")
                self.faults.configure(
                    rate=body.get("rate"),
                    statuses=tuple(statuses) if statuses is not None else None,
                    latency_ms=body.get("latency_ms"),
                    drop_rate=body.get("drop_rate"),
                )
                return ok(self.faults.settings())
            if action == "user_edit" and request.method == "POST":
                return ok(
                    self.user_edit(
                        body.get("external_id"),
                        body.get("properties"),
                        body.get("updated_by", "user"),
                    )
                )
            if action == "outage" and request.method == "POST":
                if body.get("down", True):
                    self.outage.start(int(body.get("after", 0)), body.get("status", 503))
                else:
                    self.outage.end()
                return ok(self.outage.settings())
            if action == "expire_tokens" and request.method == "POST":
                self.tokens.clear()
                return ok({"expired": True})
            if action == "stats" and request.method == "GET":
                return ok(self.stats.snapshot())
            if action == "stats/reset" and request.method == "POST":
                self.stats.reset()
                return ok(self.stats.snapshot())
            if action == "dump" and request.method == "GET":
                with self.data.lock:
                    return ok(self.data.dump())
        except LookupError as error:
            return problem(404, "not_found", str(error))
        except RecordError as error:
            return problem(422, error.code, str(error), [error.as_error()])
        except (TypeError, ValueError) as error:
            return problem(400, "invalid_value", str(error))
        return problem(404, "not_found", f"no admin action {request.method} {action}")

    def user_edit(self, external_id: Any, properties: Any, by: str = "user") -> dict[str, Any]:
        """A person (or a file import) edits a contact in CRM One; raises LookupError."""
        if by not in ("user", "import"):
            raise ValueError("updated_by: user or import")
        with self.data.lock:
            contact = self.data.contact_by(external_id=external_id)
            if contact is None:
                raise LookupError(f"no contact with external_id {external_id!r}")
            self.data.edit_contact(contact, properties, by)
            return contact.view()


def _drop(environ: dict) -> None:
    """Close the client connection without a response (a lost response)."""
    connection = environ.get("werkzeug.socket")
    if connection is not None:
        with contextlib.suppress(OSError):
            connection.shutdown(socket.SHUT_RDWR)
