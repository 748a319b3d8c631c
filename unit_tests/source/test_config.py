"""Configuration: the spec the Airbyte UI draws, and validation messages that name the field."""

from __future__ import annotations

import pytest

from source_commercetools.config import ConfigError, SourceConfig, spec_schema
from unit_tests.source.fake_api import config


def problem(**overrides) -> str:
    with pytest.raises(ConfigError) as caught:
        SourceConfig.parse(config(**overrides))
    return str(caught.value)


def test_the_keys_of_config_md_parse_with_their_defaults():
    parsed = SourceConfig.parse(
        {
            "project_key": "demo",
            "client_id": "id",
            "client_secret": "s",
            "region": "europe-west1.gcp",
        }
    )
    assert parsed.api_root == "https://api.europe-west1.gcp.commercetools.com"
    assert parsed.auth_root == "https://auth.europe-west1.gcp.commercetools.com"
    assert parsed.page_size == 500 and parsed.lookback_window_seconds == 120
    assert parsed.concurrency == 4 and parsed.max_response_mib == 64
    assert parsed.store_keys == [] and parsed.message_types == []


def test_spec_is_a_clean_form():
    spec = spec_schema()
    props = spec["properties"]
    assert spec["required"] == ["project_key", "client_id", "client_secret"]
    assert props["client_secret"]["airbyte_secret"] is True
    assert props["region"]["enum"] == [
        "us-central1.gcp",
        "us-east-2.aws",
        "europe-west1.gcp",
        "eu-central-1.aws",
        "australia-southeast1.gcp",
    ]
    assert props["page_size"]["maximum"] == 500 and props["page_size"]["default"] == 500
    orders = [props[key]["order"] for key in props]
    assert len(set(orders)) == len(orders)
    assert all(props[key].get("title") and props[key].get("description") for key in props)
    assert not any("anyOf" in prop for prop in props.values())


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"api_url": None, "auth_url": None, "region": None},
            "region: give a region, or both api_url and auth_url",
        ),
        ({"auth_url": None}, "auth_url: api_url and auth_url go together"),
        ({"api_url": None, "auth_url": None, "region": "mars-1"}, "region: Input should be"),
        (
            {"api_url": "http://api.example.com"},
            "api_url: must use https (plain http only for localhost",
        ),
        ({"auth_url": "ftp://127.0.0.1"}, "auth_url: must be an http(s) URL"),
        (
            {"start_date": "yesterday"},
            "start_date must be a date (2025-01-01) or RFC 3339 datetime",
        ),
        ({"page_size": 501}, "page_size: Input should be less than or equal to 500"),
        ({"page_size": 0}, "page_size: Input should be greater than or equal to 1"),
        (
            {"scopes": ["view_customers:demo", "manage_project:demo"]},
            "scopes: manage_project is refused",
        ),
        ({"store_keys": ["eu web"]}, "store_keys: [0] must be 2-256 letters"),
        ({"message_types": ['CustomerDeleted" or true']}, "message_types: message types are names"),
        ({"lookback_window_seconds": -1}, "lookback_window_seconds: Input should be greater than"),
        ({"client_secret": None}, "client_secret: Input should be a valid string"),
    ],
)
def test_validation_messages_name_the_field(overrides, expected):
    assert expected in problem(**overrides)


def test_secret_never_appears_in_errors():
    assert "secret-1" not in problem(page_size=9999)
    assert "secret-1" not in repr(SourceConfig.parse(config()))


def test_explicit_urls_override_the_region():
    parsed = SourceConfig.parse(config(region="europe-west1.gcp"))
    assert (parsed.api_root, parsed.auth_root) == ("http://127.0.0.1:9999", "http://127.0.0.1:9999")


@pytest.mark.parametrize("url", ["http://127.0.0.1:8081", "http://localhost:1", "http://[::1]:8"])
def test_plain_http_is_accepted_for_loopback(url):
    assert SourceConfig.parse(config(api_url=url + "/", auth_url=url)).api_root == url


@pytest.mark.parametrize(
    ("value", "cursor"),
    [
        ("2025-01-01", "2025-01-01T00:00:00.000Z"),
        ("2025-01-01T10:00:00Z", "2025-01-01T10:00:00.000Z"),
        ("2025-01-01T10:00:00.5+01:00", "2025-01-01T09:00:00.500Z"),
    ],
)
def test_start_date_accepts_dates_and_rfc3339(value, cursor):
    assert SourceConfig.parse(config(start_date=value)).start_cursor == cursor


def test_store_keys_and_message_types_are_cleaned():
    parsed = SourceConfig.parse(
        config(store_keys=[" eu-web", "eu-web", "us-web"], message_types=["OrderDeleted"])
    )
    assert parsed.store_keys == ["eu-web", "us-web"]
    assert parsed.message_types == ["OrderDeleted"]
