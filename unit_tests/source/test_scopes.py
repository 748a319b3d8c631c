"""Scope negotiation: what to ask for given what a client holds (pure), and the same clients
against the commercetools sandbox, whose token endpoint refuses scopes as the real one does."""

from __future__ import annotations

import logging

import pytest
from airbyte_cdk.models import Status, SyncMode
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import read

from sandbox.commercetools import CommercetoolsSandbox, SeedSpec
from source_commercetools import SourceCommercetools
from source_commercetools.scopes import plan_scopes, project_scopes
from source_commercetools.streams import DECLARATIONS, STREAMS

PK = "demo"
STORE_CLIENT = ["view_customers:demo:eu-web", "view_orders:demo:eu-web", "view_types:demo"]


def pick(*names: str):
    return [DECLARATIONS[name] for name in names]


def test_project_scopes_are_the_streams_read_scopes_once():
    assert project_scopes(PK, pick("orders", "carts", "customers")) == [
        "view_orders:demo",
        "view_customers:demo",
    ]


def test_manage_project_is_used_as_it_is_with_a_warning_naming_the_read_scopes():
    plan = plan_scopes(PK, STREAMS, [], {"manage_project:demo"})
    assert plan.scopes is None and not plan.unreadable
    assert "manage_project:demo" in plan.warnings[0]
    assert "view_customers:demo" in plan.warnings[0] and "view_messages:demo" in plan.warnings[0]


def test_store_scoped_client_gets_the_store_scopes_of_every_store():
    held = {
        "view_customers:demo:eu-web",
        "view_customers:demo:us-web",
        "view_orders:demo:eu-web",
        "view_orders:demo:us-web",
    }
    plan = plan_scopes(PK, pick("customers", "orders", "carts"), ["eu-web", "us-web"], held)
    assert plan.scopes == [
        "view_customers:demo:eu-web",
        "view_customers:demo:us-web",
        "view_orders:demo:eu-web",  # carts are read with the orders scopes: asked once
        "view_orders:demo:us-web",
    ]
    assert plan.unreadable == {} and plan.warnings == []


def test_a_store_missing_from_the_client_makes_the_stream_unreadable_and_says_why():
    held = {"view_customers:demo:eu-web", "view_types:demo"}
    plan = plan_scopes(PK, pick("customers", "types", "payments"), ["eu-web", "us-web"], held)
    assert plan.scopes == ["view_types:demo"]
    assert plan.unreadable == {
        "customers": "view_customers:demo (or view_customers:demo:eu-web, "
        "view_customers:demo:us-web)",
        "payments": "view_payments:demo",
    }
    assert "customers needs view_customers:demo" in plan.warnings[0]
    assert "Merchant Center > Settings > Developer settings > API clients" in plan.warnings[0]


def test_project_wide_scope_preferred_over_store_scopes():
    held = {"view_customers:demo", "view_customers:demo:eu-web"}
    assert plan_scopes(PK, pick("customers"), ["eu-web"], held).scopes == ["view_customers:demo"]


@pytest.fixture(scope="module")
def sandbox():
    with CommercetoolsSandbox(seed=SeedSpec(customers=60, orders=30)) as server:
        server.add_client("store-client", "store-secret", STORE_CLIENT)
        server.add_client("admin-client", "admin-secret", ["manage_project:demo"])
        yield server


def check(config: dict, caplog) -> tuple[Status, str | None]:
    caplog.set_level(logging.INFO)
    status = SourceCommercetools().check(logging.getLogger("airbyte"), config)
    return status.status, status.message


def test_store_scoped_client_reads_its_store_without_explicit_scopes(sandbox, caplog):
    config = sandbox.source_config(
        client_id="store-client", client_secret="store-secret", store_keys=["eu-web"]
    )
    assert check(config, caplog) == (Status.SUCCEEDED, None)
    assert any("payments needs view_payments:demo" in r.getMessage() for r in caplog.records)

    catalog = CatalogBuilder().with_stream("customers", SyncMode.incremental).build()
    output = read(SourceCommercetools(), config, catalog)
    assert not output.errors
    expected = [
        c["id"]
        for c in sandbox.records("customers")
        if {"typeId": "store", "key": "eu-web"} in c.get("stores", [])
    ]
    assert sorted(m.record.data["id"] for m in output.records) == sorted(expected)


def test_manage_project_client_is_accepted_and_warned_about(sandbox, caplog):
    config = sandbox.source_config(client_id="admin-client", client_secret="admin-secret")
    assert check(config, caplog) == (Status.SUCCEEDED, None)
    assert any(
        r.levelno == logging.WARNING and "manage_project:demo" in r.getMessage()
        for r in caplog.records
    )


def test_explicit_scopes_a_store_client_lacks_are_named(sandbox, caplog):
    config = sandbox.source_config(
        client_id="store-client", client_secret="store-secret", scopes=["view_customers:demo"]
    )
    status, message = check(config, caplog)
    assert status == Status.FAILED
    assert message.startswith("The API client lacks the scope(s) view_customers:demo.")
    assert "view_customers:demo:eu-web" in message
