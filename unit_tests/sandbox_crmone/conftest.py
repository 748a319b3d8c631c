"""An in-process CRM One sandbox per test and a tiny authenticated client for it."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from sandbox.crmone import CrmOneSandbox


class Api:
    """Speaks to the sandbox as a client would: a token, then Bearer calls."""

    def __init__(self, sandbox: CrmOneSandbox) -> None:
        self.sandbox = sandbox
        self.session = requests.Session()
        self.token = self.new_token()

    def new_token(self) -> str:
        response = self.session.post(
            f"{self.sandbox.url}/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": self.sandbox.client_id,
                "client_secret": self.sandbox.client_secret,
            },
            timeout=10,
        )
        response.raise_for_status()
        return response.json()["access_token"]

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return self.session.request(
            method, f"{self.sandbox.url}{path}", headers=headers, timeout=10, **kwargs
        )

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        return self.call("POST", path, json=body, **kwargs)

    def upsert(self, *records: dict[str, Any], **options: Any) -> dict[str, Any]:
        body = {"id_property": "external_id", "records": list(records), **options}
        response = self.post("/v1/contacts/batch/upsert", body)
        assert response.status_code == 200, response.text
        return response.json()

    def read(self, *ids: str, **options: Any) -> dict[str, Any]:
        response = self.post("/v1/contacts/batch/read", {"ids": list(ids), **options})
        assert response.status_code == 200, response.text
        return response.json()


def contact(external_id: str, **properties: Any) -> dict[str, Any]:
    return {"external_id": external_id, "properties": properties}


@pytest.fixture
def api(sandbox: CrmOneSandbox) -> Api:
    return Api(sandbox)
