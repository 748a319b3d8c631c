"""check in a user's words, and discover with custom fields typed from the project's Types."""

from __future__ import annotations

import logging
from urllib.parse import parse_qs

import pytest
from airbyte_cdk.models import Status
from airbyte_cdk.test.entrypoint_wrapper import discover

from source_commercetools import SourceCommercetools
from unit_tests.source.fake_api import API, PROJECT, config

TOKEN = f"{API}/oauth/token"


def check(cfg: dict, caplog) -> tuple[Status, str | None]:
    caplog.set_level(logging.INFO)
    status = SourceCommercetools().check(logging.getLogger("airbyte"), cfg)
    return status.status, status.message


@pytest.fixture
def healthy(api):
    for name in (
        "customers",
        "orders",
        "carts",
        "payments",
        "products",
        "discount_codes",
        "stores",
        "customer_groups",
        "types",
        "messages",
    ):
        api.collections[name] = []
    api.mocker.get(f"{API}/{PROJECT}", json={"key": PROJECT, "messages": {"enabled": True}})
    return api


def test_check_succeeds_with_one_probe_per_stream(healthy, caplog):
    assert check(config(), caplog) == (Status.SUCCEEDED, None)
    assert len(healthy.queries) == 10
    assert all(q["params"]["limit"] == ["1"] for q in healthy.queries)


def test_bad_credentials(healthy, caplog):
    healthy.mocker.post(
        TOKEN,
        status_code=401,
        json={
            "error": "invalid_client",
            "error_description": "Please provide valid client credentials.",
        },
    )
    status, message = check(config(), caplog)
    assert status == Status.FAILED
    assert message.startswith(
        "commercetools rejected the client credentials at http://127.0.0.1:9999"
    )
    assert "secret-1" not in message


def _scope_aware_token(held: str):
    """A client holding `held`: asking for more is 400 invalid_scope, nothing asked is all."""

    def answer(request, context):
        asked = set(parse_qs(request.body or "").get("scope", [""])[0].split())
        missing = sorted(asked - set(held.split()))
        if missing:
            context.status_code = 400
            return {"error": "invalid_scope", "error_description": f"Invalid scope: {missing[0]}"}
        return {"access_token": "token-x", "expires_in": 100, "scope": " ".join(asked) or held}

    return answer


def test_missing_scopes_are_named_per_stream_and_the_rest_is_probed(healthy, caplog):
    held = " ".join(f"view_{k}:demo" for k in ("customers", "orders", "payments", "products"))
    healthy.mocker.post(TOKEN, json=_scope_aware_token(held))
    assert check(config(), caplog) == (Status.SUCCEEDED, None)
    warning = next(r.getMessage() for r in caplog.records if "cannot read" in r.getMessage())
    assert "discount_codes needs view_discount_codes:demo" in warning
    assert "messages needs view_messages:demo" in warning
    assert "Merchant Center > Settings > Developer settings > API clients" in warning
    assert [q["path"] for q in healthy.queries] == [
        "customers",
        "orders",
        "carts",
        "payments",
        "products",
    ]


def test_a_client_with_no_read_scope_fails_naming_what_it_needs(healthy, caplog):
    healthy.mocker.post(TOKEN, json=_scope_aware_token("view_project_settings:demo"))
    status, message = check(config(), caplog)
    assert status == Status.FAILED
    assert message.startswith("The API client can read none of the streams: customers needs")
    assert "view_customers:demo" in message and "view_messages:demo" in message


def test_store_scoped_client_gets_store_scopes(healthy, caplog):
    held = "view_customers:demo:eu-web view_orders:demo:eu-web view_types:demo"
    healthy.mocker.post(TOKEN, json=_scope_aware_token(held))
    assert check(config(store_keys=["eu-web"]), caplog)[0] == Status.SUCCEEDED
    tokens = [r for r in healthy.mocker.request_history if r.url.startswith(TOKEN)]
    granted = [r for r in tokens if "scope=" in (r.body or "")][-2]  # the last: settings
    assert parse_qs(granted.body)["scope"] == [held]
    assert [q["path"] for q in healthy.queries] == [
        "in-store/key=eu-web/customers",
        "in-store/key=eu-web/orders",
        "in-store/key=eu-web/carts",
        "types",
    ]


def test_manage_project_client_is_accepted_with_a_warning(healthy, caplog):
    healthy.mocker.post(TOKEN, json=_scope_aware_token("manage_project:demo"))
    assert check(config(), caplog) == (Status.SUCCEEDED, None)
    warning = next(
        r.getMessage()
        for r in caplog.records
        if "over" in r.getMessage() or "manage_project:demo" in r.getMessage()
    )
    assert "manage_project:demo" in warning and "view_customers:demo" in warning
    assert len(healthy.queries) == 10


def test_explicit_scopes_the_client_lacks_are_named(healthy, caplog):
    healthy.mocker.post(TOKEN, json=_scope_aware_token("view_customers:demo"))
    status, message = check(config(scopes=["view_customers:demo", "view_orders:demo"]), caplog)
    assert status == Status.FAILED
    assert message.startswith("The API client lacks the scope(s) view_orders:demo.")
    assert "view_customers:demo" in message  # what it has


def test_unknown_project(healthy, caplog):
    healthy.mocker.post(
        TOKEN, json=_scope_aware_token("view_customers:shop-prod view_orders:shop-prod")
    )
    status, message = check(config(project_key="shop-test"), caplog)
    assert status == Status.FAILED
    assert message == (
        "Project 'shop-test' is unknown to this API client (its scopes are for shop-prod): "
        "check project_key."
    )


def test_project_not_found_on_the_api(healthy, caplog):
    healthy.planned = [
        {"status": 404, "json": {"statusCode": 404, "message": "The project 'demo' was not found."}}
    ]
    status, message = check(config(), caplog)
    assert status == Status.FAILED
    sent = healthy.mocker.request_history[-1].headers["X-Correlation-ID"]
    assert message == (
        "Stream 'customers' failed: commercetools answered HTTP 404: The project 'demo' was not "
        "found.. Check project_key, store_keys and region (or api_url). "
        f"(X-Correlation-ID {sent})"
    )


def test_403_names_the_missing_scope_stream_and_what_to_do(healthy, caplog):
    healthy.planned = [
        {"json": {"results": []}},
        {
            "status": 403,
            "json": {
                "statusCode": 403,
                "message": "Insufficient scope. One of the following scopes is missing: "
                "view_orders:demo",
            },
        },
    ]
    status, message = check(config(), caplog)
    assert status == Status.FAILED
    assert message.startswith("Stream 'orders' failed: commercetools answered HTTP 403")
    assert "view_orders:demo" in message and "Merchant Center" in message


def test_messages_disabled_is_a_warning_not_a_failure(healthy, caplog):
    healthy.mocker.get(f"{API}/{PROJECT}", json={"key": PROJECT, "messages": {"enabled": False}})
    assert check(config(), caplog) == (Status.SUCCEEDED, None)
    assert any(
        r.levelno == logging.WARNING and "Messages are disabled in project 'demo'" in r.getMessage()
        for r in caplog.records
    )


def test_own_scopes_probe_only_the_streams_they_cover(healthy, caplog):
    scopes = ["view_customers:demo", "view_orders:demo"]
    assert check(config(scopes=scopes), caplog) == (Status.SUCCEEDED, None)
    assert [q["path"] for q in healthy.queries] == ["customers", "orders", "carts"]
    assert any(
        "do not cover these streams" in r.getMessage() and "payments" in r.getMessage()
        for r in caplog.records
    )


def test_store_keys_are_probed_in_store(healthy, caplog):
    assert check(config(store_keys=["eu-web"]), caplog)[0] == Status.SUCCEEDED
    assert "in-store/key=eu-web/customers" in [q["path"] for q in healthy.queries]


def test_invalid_config_fails_check_with_the_field(caplog):
    status, message = check(config(page_size=900), caplog)
    assert status == Status.FAILED and "page_size" in message


def test_discover_types_custom_fields_from_the_projects_types(healthy):
    healthy.collections["types"] = [
        {
            "id": "t1",
            "key": "customer-consent",
            "version": 1,
            "createdAt": "2025-01-02T00:00:00.000Z",
            "lastModifiedAt": "2025-01-02T00:00:00.000Z",
            "resourceTypeIds": ["customer"],
            "fieldDefinitions": [
                {"name": "newsletterOptIn", "type": {"name": "Boolean"}},
                {"name": "newsletterOptInAt", "type": {"name": "DateTime"}},
                {"name": "interests", "type": {"name": "Set", "elementType": {"name": "String"}}},
            ],
        },
        {
            "id": "t2",
            "key": "order-extra",
            "version": 1,
            "createdAt": "2025-01-03T00:00:00.000Z",
            "lastModifiedAt": "2025-01-03T00:00:00.000Z",
            "resourceTypeIds": ["order"],
            "fieldDefinitions": [{"name": "giftWrap", "type": {"name": "Boolean"}}],
        },
    ]
    # Types older than start_date still type the catalog: discover reads them all
    output = discover(SourceCommercetools(), config(start_date="2026-06-01"))
    streams = {s.name: s for s in output.catalog.catalog.streams}
    assert [q["path"] for q in healthy.queries] == ["types"]
    assert "where" not in healthy.queries[0]["params"]
    assert "scope=view_types%3Ademo" in healthy.token_requests[-1].body
    assert "view_customers" not in healthy.token_requests[-1].body

    assert set(streams) == {
        "customers",
        "orders",
        "carts",
        "payments",
        "products",
        "discount_codes",
        "stores",
        "customer_groups",
        "types",
        "messages",
        "customer_ids",
        "order_ids",
        "cart_ids",
    }
    fields = streams["customers"].json_schema["properties"]["custom"]["properties"]["fields"][
        "properties"
    ]
    assert fields["newsletterOptIn"] == {"type": ["null", "boolean"]}
    assert fields["newsletterOptInAt"] == {"type": ["null", "string"], "format": "date-time"}
    assert fields["interests"] == {"type": ["null", "array"], "items": {"type": "string"}}
    order_fields = streams["orders"].json_schema["properties"]["custom"]["properties"]["fields"][
        "properties"
    ]
    assert order_fields == {"giftWrap": {"type": ["null", "boolean"]}}
    cart_fields = streams["carts"].json_schema["properties"]["custom"]["properties"]["fields"]
    assert cart_fields["properties"] == order_fields
    assert streams["messages"].default_cursor_field == ["createdAt"]
    assert streams["customers"].default_cursor_field == ["lastModifiedAt"]
    assert streams["customers"].source_defined_primary_key == [["id"]]
    assert "password" not in streams["customers"].json_schema["properties"]
