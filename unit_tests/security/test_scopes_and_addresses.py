"""Issue #17, findings 6 and 7: least-privilege scopes, and where a configured URL may point.

`scopes` accepts only read-only `view_*` scopes of the configured project; a `manage_*` scope
or another project's is refused. `api_url`, `auth_url` and `base_url` never point at a
link-local or cloud-metadata address (in any spelling the resolver reads), nor at a private
range unless `allow_private_network`; loopback stays allowed; a host name is resolved and
checked by `check`."""

from __future__ import annotations

import logging
import socket
from typing import Any

import pytest

from destination_crmone.config import ConfigError, DestinationConfig
from destination_crmone.destination import DestinationCrmOne
from source_commercetools.check import CheckFailed, ConnectionCheck
from source_commercetools.config import ConfigError as SourceConfigError
from source_commercetools.config import SourceConfig

pytestmark = pytest.mark.security

SOURCE = {"project_key": "demo", "client_id": "id", "client_secret": "s"}
DESTINATION = {
    "client_id": "cid",
    "client_secret": "cs",
    "journal": {"type": "sqlite", "path": "/tmp/never-opened/journal.db"},
}


def source(**overrides: Any) -> SourceConfig:
    return SourceConfig.parse({**SOURCE, **overrides})


def source_problem(**overrides: Any) -> str:
    with pytest.raises(SourceConfigError) as raised:
        source(**overrides)
    return str(raised.value)


# --- scopes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "scope",
    [
        "manage_customers:demo",
        "manage_orders:demo",
        "manage_api_clients:demo",
        "manage_project:demo",
        "manage_my_orders:demo:eu-web",
        "manage_orders:demo:eu-web",
    ],
)
def test_every_manage_scope_is_refused_with_the_least_privilege_reason(scope: str) -> None:
    shown = source_problem(scopes=["view_customers:demo", scope])
    assert shown.startswith("Invalid configuration: scopes: ")
    assert f"{scope.split(':')[0]} is refused" in shown and "view_*" in shown
    assert "change or delete data" in shown


@pytest.mark.parametrize(
    "scope", ["view_orders:other", "view_customers:other:eu-web", "view_orders:demo2"]
)
def test_another_projects_scope_is_refused(scope: str) -> None:
    assert "not of project_key 'demo'" in source_problem(scopes=[scope])


@pytest.mark.parametrize("scope", ["introspect_oauth_tokens:demo", "create_anonymous_token:demo"])
def test_scopes_other_than_view_are_refused(scope: str) -> None:
    assert "only read-only view_* scopes" in source_problem(scopes=[scope])


def test_view_scopes_of_the_project_and_its_stores_are_accepted() -> None:
    scopes = ["view_customers:demo", "view_orders:demo:eu-web", "view_messages:demo"]
    assert source(scopes=scopes).scopes == scopes


# --- addresses -------------------------------------------------------------------------

ALWAYS_REFUSED = [
    "https://169.254.169.254",
    "https://169.254.169.254.",
    "https://2852039166",
    "https://0xa9fea9fe",
    "https://0251.0376.0251.0376",
    "https://[::ffff:169.254.169.254]",
    "https://[fd00:ec2::254]",
    "https://[fe80::1]",
    "https://169.254.10.1/api",
    "https://100.100.100.200",
    "https://metadata.google.internal",
]
PRIVATE = [
    "https://10.1.2.3",
    "https://172.16.0.9",
    "https://192.168.1.20:8443",
    "https://100.64.0.1",
    "https://[fd12:3456::1]",
    "https://0.0.0.0",
    "https://167772161",  # 10.0.0.1
]
LOOPBACK = ["http://127.0.0.1:9", "http://localhost:8080", "http://[::1]:9", "https://127.0.0.2"]


def destination_problem(url: str, **overrides: Any) -> ConfigError:
    with pytest.raises(ConfigError) as raised:
        DestinationConfig.parse_config({**DESTINATION, "base_url": url, **overrides})
    return raised.value


@pytest.mark.parametrize("url", ALWAYS_REFUSED)
@pytest.mark.parametrize("allow", [False, True])
def test_link_local_and_metadata_addresses_are_always_refused(url: str, allow: bool) -> None:
    shown = source_problem(
        api_url=url, auth_url="https://auth.example.com", allow_private_network=allow
    )
    assert "api_url: " in shown and ("metadata" in shown or "link-local" in shown)
    error = destination_problem(url, allow_private_network=allow)
    assert error.fields == ("base_url",) and url.split("//")[1] not in str(error)


@pytest.mark.parametrize("url", PRIVATE)
def test_private_ranges_need_allow_private_network(url: str) -> None:
    shown = source_problem(auth_url=url, api_url="https://api.example.com")
    assert "auth_url: " in shown and "allow_private_network" in shown
    assert destination_problem(url).fields == ("base_url",)
    allowed = source(auth_url=url, api_url="https://api.example.com", allow_private_network=True)
    assert allowed.auth_root == url
    config = {**DESTINATION, "base_url": url, "allow_private_network": True}
    assert DestinationConfig.parse_config(config).base_url == url


@pytest.mark.parametrize("url", LOOPBACK)
def test_loopback_stays_allowed(url: str) -> None:
    assert source(api_url=url, auth_url=url).api_root == url
    assert DestinationConfig.parse_config({**DESTINATION, "base_url": url}).base_url == url


@pytest.fixture
def internal_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    """Host names of an internal DNS: one private, one the metadata address."""
    real = socket.getaddrinfo
    answers = {"crm.corp.example": "10.20.30.40", "sneaky.example": "169.254.169.254"}

    def getaddrinfo(host: str, *args: Any, **kwargs: Any) -> Any:
        if host in answers:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], 443))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.mark.usefixtures("internal_dns")
def test_check_resolves_host_names_and_refuses_what_they_point_at() -> None:
    config = source(api_url="https://sneaky.example", auth_url="https://sneaky.example")
    with pytest.raises(CheckFailed) as raised:
        ConnectionCheck(config, logging.getLogger("airbyte")).run()
    assert "api_url: its host resolves to 169.254.169.254" in str(raised.value)
    logger = logging.getLogger("airbyte")
    status = DestinationCrmOne().check(
        logger, {**DESTINATION, "base_url": "https://crm.corp.example"}
    )
    assert "base_url: its host resolves to 10.20.30.40" in (status.message or "")
    assert "allow_private_network" in (status.message or "")
