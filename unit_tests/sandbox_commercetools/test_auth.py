"""Token endpoint (Basic auth, scopes) and scope checks on the read API."""

from __future__ import annotations

import requests

from sandbox.commercetools import CommercetoolsSandbox
from unit_tests.sandbox_commercetools.conftest import session_for, token

VIEW_CUSTOMERS = "view_customers:demo"


def test_omitted_scope_grants_every_scope_of_the_client(sandbox: CommercetoolsSandbox) -> None:
    body = token(sandbox.url, ("sandbox-client", "sandbox-secret")).json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 172_800
    assert set(body["scope"].split()) >= {VIEW_CUSTOMERS, "view_orders:demo", "view_messages:demo"}
    assert not any(s.startswith("manage_") for s in body["scope"].split())


def test_asked_scope_is_granted_alone_and_limits_the_token(sandbox: CommercetoolsSandbox) -> None:
    response = token(sandbox.url, ("sandbox-client", "sandbox-secret"), VIEW_CUSTOMERS)
    assert response.json()["scope"] == VIEW_CUSTOMERS
    api = session_for(sandbox.url, ("sandbox-client", "sandbox-secret"), VIEW_CUSTOMERS)
    assert api.get(f"{sandbox.url}/demo/customers", timeout=10).status_code == 200
    denied = api.get(f"{sandbox.url}/demo/orders", timeout=10)
    assert denied.status_code == 403
    assert denied.json() == {
        "statusCode": 403,
        "message": "Insufficient scope. One of the following scopes is missing: view_orders:demo",
        "errors": [
            {
                "code": "insufficient_scope",
                "message": "Insufficient scope. One of the following scopes is missing: "
                "view_orders:demo",
            }
        ],
    }


def test_scope_and_grant_type_are_read_from_a_form_body_too(sandbox: CommercetoolsSandbox) -> None:
    response = requests.post(
        f"{sandbox.url}/oauth/token",
        data={"grant_type": "client_credentials", "scope": "view_orders:demo"},
        auth=("sandbox-client", "sandbox-secret"),
        timeout=10,
    )
    assert response.status_code == 200
    assert response.json()["scope"] == "view_orders:demo"


def test_a_scope_the_client_lacks_is_invalid_scope(sandbox: CommercetoolsSandbox) -> None:
    response = token(sandbox.url, ("sandbox-client", "sandbox-secret"), "manage_project:demo")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


def test_bad_credentials_and_credentials_outside_basic_auth_are_invalid_client(
    sandbox: CommercetoolsSandbox,
) -> None:
    assert token(sandbox.url, ("sandbox-client", "wrong")).status_code == 401
    assert token(sandbox.url, ("nobody", "sandbox-secret")).json()["error"] == "invalid_client"
    in_body = requests.post(
        f"{sandbox.url}/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "sandbox-client",
            "client_secret": "sandbox-secret",
        },
        timeout=10,
    )
    assert in_body.status_code == 401
    assert in_body.json()["error"] == "invalid_client"
    assert "sandbox-secret" not in in_body.text


def test_missing_unknown_and_expired_tokens_are_invalid_token(
    sandbox: CommercetoolsSandbox,
) -> None:
    assert requests.get(f"{sandbox.url}/demo/customers", timeout=10).status_code == 401
    forged = requests.get(
        f"{sandbox.url}/demo/customers", headers={"Authorization": "Bearer nope"}, timeout=10
    )
    assert forged.status_code == 401
    assert forged.json()["errors"][0]["code"] == "invalid_token"
    api = session_for(sandbox.url, ("sandbox-client", "sandbox-secret"))
    assert api.get(f"{sandbox.url}/demo/types", timeout=10).status_code == 200
    sandbox.expire_tokens()
    assert api.get(f"{sandbox.url}/demo/types", timeout=10).status_code == 401


def test_unknown_project_is_404_and_project_settings_say_whether_messages_are_on(
    sandbox: CommercetoolsSandbox,
) -> None:
    api = session_for(sandbox.url, ("sandbox-client", "sandbox-secret"))
    missing = api.get(f"{sandbox.url}/other-project/customers", timeout=10)
    assert missing.status_code == 404
    assert missing.json()["errors"][0]["code"] == "ResourceNotFound"
    project = api.get(f"{sandbox.url}/demo", timeout=10).json()
    assert project["key"] == "demo"
    assert project["messages"]["enabled"] is True


def test_a_client_without_project_settings_scope_cannot_read_the_project(
    sandbox: CommercetoolsSandbox,
) -> None:
    sandbox.add_client("viewer", "viewer-secret", [VIEW_CUSTOMERS, "view_messages:demo"])
    api = session_for(sandbox.url, ("viewer", "viewer-secret"))
    response = api.get(f"{sandbox.url}/demo", timeout=10)
    assert response.status_code == 403
    assert "view_project_settings:demo" in response.json()["message"]
    assert api.get(f"{sandbox.url}/demo/messages", timeout=10).status_code == 200


def test_store_scoped_scope_reads_only_its_store_in_store(sandbox: CommercetoolsSandbox) -> None:
    added = requests.post(
        f"{sandbox.url}/_sandbox/clients",
        json={
            "client_id": "eu-only",
            "client_secret": "eu-secret",
            "scopes": ["view_customers:demo:eu-web", "view_orders:demo:eu-web"],
        },
        timeout=10,
    )
    assert added.status_code == 200
    api = session_for(sandbox.url, ("eu-only", "eu-secret"))
    assert api.get(f"{sandbox.url}/demo/in-store/key=eu-web/customers", timeout=10).ok
    assert api.get(f"{sandbox.url}/demo/in-store/key=eu-web/carts", timeout=10).ok
    other_store = api.get(f"{sandbox.url}/demo/in-store/key=us-web/customers", timeout=10)
    assert other_store.status_code == 403
    assert "view_customers:demo:us-web" in other_store.json()["message"]
    assert api.get(f"{sandbox.url}/demo/customers", timeout=10).status_code == 403
