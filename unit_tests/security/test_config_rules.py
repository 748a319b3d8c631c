"""Issue #11, findings 2 and 7: one URL rule for both connectors, commercetools key patterns,
and config errors that never echo a secret."""

from __future__ import annotations

from typing import Any

import pytest

from destination_crmone.config import ConfigError as DestinationConfigError
from destination_crmone.config import DestinationConfig
from source_commercetools.config import ConfigError as SourceConfigError
from source_commercetools.config import SourceConfig

pytestmark = pytest.mark.security

PASSWORD = "hunter2-Pa55"
BAD_URLS = [
    # urlparse reads the host as localhost; requests (urllib3) connects to evil.example.
    "http://evil.example\\@localhost:8081",
    "https://evil.example\\@api.example.com",
    f"https://user:{PASSWORD}@api.example.com",
    f"http://user:{PASSWORD}@localhost:8081",
    "https://api.exa mple.com",
    "https://api.example.com/\x00x",
    "https://api.example.com/\nHost: evil",
    "http://evil.example",
    "ftp://api.example.com",
]
GOOD_URLS = [
    "https://api.europe-west1.gcp.commercetools.com",
    "http://localhost:8081",
    "http://127.0.0.1:8081/",
    "http://127.3.4.5",
    "http://[::1]:8081",
]


def source(**overrides: Any) -> dict[str, Any]:
    config = {
        "project_key": "demo",
        "client_id": "cid",
        "client_secret": "s3cret",
        "api_url": "http://127.0.0.1:8081",
        "auth_url": "http://127.0.0.1:8081",
    }
    return {**config, **overrides}


def destination(**overrides: Any) -> dict[str, Any]:
    config = {"base_url": "http://127.0.0.1:8082", "client_id": "cid", "client_secret": "s3"}
    return {**config, **overrides}


def source_error(config: dict[str, Any]) -> str:
    with pytest.raises(SourceConfigError) as raised:
        SourceConfig.parse(config)
    return str(raised.value)


def destination_error(config: dict[str, Any]) -> str:
    with pytest.raises(DestinationConfigError) as raised:
        DestinationConfig.parse_config(config)
    return str(raised.value)


@pytest.mark.parametrize("url", BAD_URLS)
@pytest.mark.parametrize("field", ["api_url", "auth_url"])
def test_source_refuses_urls_requests_would_read_differently(field: str, url: str) -> None:
    message = source_error(source(**{field: url}))
    assert field in message
    assert PASSWORD not in message and "evil" not in message


@pytest.mark.parametrize("url", BAD_URLS)
def test_destination_refuses_the_same_urls(url: str) -> None:
    message = destination_error(destination(base_url=url))
    assert "base_url" in message
    assert PASSWORD not in message and "evil" not in message


@pytest.mark.parametrize("url", GOOD_URLS)
def test_both_connectors_accept_https_and_loopback_http(url: str) -> None:
    assert SourceConfig.parse(source(api_url=url, auth_url=url)).api_root == url.rstrip("/")
    assert DestinationConfig.parse_config(destination(base_url=url)).base_url == url.rstrip("/")


def test_both_configs_use_the_one_shared_rule() -> None:
    import destination_crmone.config as destination_config
    import source_commercetools.config as source_config

    for module in (destination_config, source_config):
        assert not hasattr(module, "urlparse") and not hasattr(module, "urlsplit")
        assert not hasattr(module, "ipaddress")


@pytest.mark.parametrize(
    "project_key",
    ["demo manage_project:demo", "demo/../other", "demo?x=1", "d", "x" * 257, "démo"],
)
def test_project_key_must_match_the_key_pattern(project_key: str) -> None:
    message = source_error(source(project_key=project_key))
    assert "project_key" in message


@pytest.mark.parametrize("store_key", ["eu web", "eu/../x", "e", "eu%2F"])
def test_store_keys_must_match_the_key_pattern(store_key: str) -> None:
    message = source_error(source(store_keys=["eu-web", store_key]))
    assert "store_keys" in message


@pytest.mark.parametrize(
    "scope",
    ["view_customers:demo view_orders:demo", "view_customers", "view_customers:de/mo", "VIEW:x"],
)
def test_scopes_must_match_the_scope_pattern(scope: str) -> None:
    message = source_error(source(scopes=["view_orders:demo", scope]))
    assert "scopes" in message


def test_good_keys_and_scopes_pass() -> None:
    config = SourceConfig.parse(
        source(
            project_key="my-project_1",
            store_keys=["eu-web", "us_store"],
            scopes=["view_customers:my-project_1", "view_orders:my-project_1:eu-web"],
        )
    )
    assert config.project_key == "my-project_1"
    assert config.store_keys == ["eu-web", "us_store"]
    assert config.scopes[1] == "view_orders:my-project_1:eu-web"
