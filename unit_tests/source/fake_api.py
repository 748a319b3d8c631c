"""A small commercetools API over requests-mock: key-set queries, in-store filtering, tokens.

It checks what the source sends (sort, key-set predicate, input variables, no offset) and
answers like commercetools, so paging and cursor tests exercise real request/response pairs.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import requests_mock

API = "http://127.0.0.1:9999"
PROJECT = "demo"
KEYSET = "{f} > :t or ({f} = :t and id > :id)"
BASE_TIME = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


def ts(ms: int) -> str:
    """commercetools' datetime form, `ms` milliseconds after a fixed instant."""
    moment = BASE_TIME + timedelta(milliseconds=ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def customer(n: int, ms: int, stores: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "id": f"c-{n:06d}",
        "version": 1,
        "email": f"person{n}@example.com",
        "password": "****hash****",
        "firstName": f"First{n}",
        "stores": [{"typeId": "store", "key": key} for key in stores],
        "createdAt": ts(ms),
        "lastModifiedAt": ts(ms),
    }


def config(**overrides: Any) -> dict[str, Any]:
    return {
        "project_key": PROJECT,
        "client_id": "client-1",
        "client_secret": "secret-1",
        "api_url": API,
        "auth_url": API,
        "start_date": "2025-01-01",
        "retry_backoff_seconds": 0.01,
        **overrides,
    }


@dataclass
class FakeCommercetools:
    mocker: requests_mock.Mocker
    collections: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    queries: list[dict[str, Any]] = field(default_factory=list)  # path + params per API call
    counts: list[dict[str, Any]] = field(default_factory=list)  # withTotal=true: row estimates
    token_requests: list[Any] = field(default_factory=list)
    planned: list[dict[str, Any]] = field(default_factory=list)  # responses served first
    after_page: Callable[[FakeCommercetools, int], None] | None = None
    granted: set[str] | None = None  # None: every scope asked for
    fail_from: int | None = None  # the n-th query and later answer HTTP 400

    project: dict[str, Any] = field(
        default_factory=lambda: {"messages": {"enabled": True, "deleteDaysAfterCreation": 15}}
    )
    project_reads: int = 0

    def install(self) -> FakeCommercetools:
        self.mocker.post(f"{API}/oauth/token", json=self._token)
        self.mocker.get(f"{API}/{PROJECT}", json=self._project)
        self.mocker.get(re.compile(rf"{API}/{PROJECT}/.*"), json=self._query)
        return self

    def _project(self, request: Any, context: Any) -> dict[str, Any]:
        self.project_reads += 1
        return {"key": PROJECT, **self.project}

    def _token(self, request: Any, context: Any) -> dict[str, Any]:
        self.token_requests.append(request)
        return {
            "access_token": f"token-{len(self.token_requests)}",
            "expires_in": 172800,
            "scope": parse_qs(request.body or "").get("scope", [""])[0],
        }

    def _count(self, path: str, params: dict[str, list[str]]) -> dict[str, Any]:
        """`total` of a collection (through a store: its records in that store)."""
        self.counts.append({"path": path, "params": params})
        assert params["limit"] == ["1"] and "sort" not in params and "offset" not in params
        store = None
        if path.startswith("in-store/key="):
            store, path = path.removeprefix("in-store/key=").split("/", 1)
        rows = [
            row
            for row in self.collections.get(path.replace("-", "_"), [])
            if not store
            or store in [s["key"] for s in row.get("stores", [])]
            or (row.get("store") or {}).get("key") == store
        ]
        return {
            "limit": 1,
            "offset": 0,
            "count": len(rows[:1]),
            "total": len(rows),
            "results": copy.deepcopy(rows[:1]),
        }

    def _query(self, request: Any, context: Any) -> dict[str, Any]:
        url = urlparse(request.url)
        params = parse_qs(url.query, keep_blank_values=True)
        path = url.path.removeprefix(f"/{PROJECT}/")
        if params.get("withTotal") == ["true"]:  # a count, apart from the pages
            return self._count(path, params)
        self.queries.append(
            {"path": path, "params": params, "auth": request.headers["Authorization"]}
        )
        if self.fail_from is not None and len(self.queries) >= self.fail_from:
            context.status_code = 400
            return {"statusCode": 400, "message": "failing on purpose"}
        if self.planned:
            plan = self.planned.pop(0)
            context.status_code = plan.get("status", 200)
            context.headers.update(plan.get("headers", {}))
            if "exc" in plan:
                raise plan["exc"]
            return plan.get("json", {})
        store = None
        if path.startswith("in-store/key="):
            store, path = path.removeprefix("in-store/key=").split("/", 1)
        rows = self.collections.get(path.replace("-", "_"), [])
        cursor = "createdAt" if path == "messages" else "lastModifiedAt"
        assert "offset" not in params, "the source must never send offset"
        assert all(
            value and re.fullmatch(r"var[.][a-zA-Z0-9]+", name)
            for name, values in params.items()
            if name.startswith("var")
            for value in values
        ), "input variables: strict names, never an empty value"
        if "sort" not in params:  # check's probe: any `limit` records
            return {"limit": 1, "offset": 0, "count": 0, "results": rows[: int(params["limit"][0])]}
        descending = params["sort"] == [f"{cursor} desc", "id desc"]
        assert descending or params["sort"] == [f"{cursor} asc", "id asc"]
        assert params["withTotal"] == ["false"]
        limit = int(params["limit"][0])
        if limit > 500:
            context.status_code = 400
            return {"statusCode": 400, "message": "The limit must be at most 500."}
        after, end, types = ("", ""), None, set()
        for where in params.get("where", []):
            if where == KEYSET.format(f=cursor):
                after = (params["var.t"][0], params["var.id"][0])
            elif where == f"{cursor} >= :t":
                after = (params["var.t"][0], "")  # every id sorts after ""
            elif where == f"{cursor} < :end":
                end = params["var.end"][0]
            elif where == "type in :types":
                types = set(params["var.types"])
            else:
                raise AssertionError(f"unexpected where: {where}")
        selected = sorted(
            (
                r
                for r in rows
                if (r[cursor], r["id"]) > after
                and (end is None or r[cursor] < end)
                and (
                    not store
                    or store in [s["key"] for s in r.get("stores", [])]
                    or (r.get("store") or {}).get("key") == store
                )
                and (not types or r["type"] in types)
            ),
            key=lambda r: (r[cursor], r["id"]),
            reverse=descending,
        )[:limit]
        page = copy.deepcopy(selected)
        if self.after_page:
            self.after_page(self, len(self.queries))
        return {"limit": limit, "offset": 0, "count": len(page), "results": page}

    def update(self, collection: str, record_id: str, ms: int) -> None:
        for record in self.collections[collection]:
            if record["id"] == record_id:
                record["version"] += 1
                record["lastModifiedAt"] = ts(ms)
