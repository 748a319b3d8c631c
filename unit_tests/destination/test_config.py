"""DestinationConfig: the fixed keys, defaults, errors that name the field, the https rule and
the spec the Airbyte UI renders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from destination_crmone.config import ConfigError, DestinationConfig, spec_schema, upgrade_config
from destination_crmone.journal import placement
from destination_crmone.journal.placement import journal_path

MINIMAL = {"base_url": "https://acme.crmone.example/api", "client_id": "id", "client_secret": "s3"}

# The example of ../shared/CONFIG.md, verbatim.
CONFIG_MD_EXAMPLE = {
    "base_url": "http://127.0.0.1:8082",
    "client_id": "…",
    "client_secret": "…",
    "journal": {"type": "sqlite", "path": "/local/crmone/journal.db"},
    "ownership": [{"property": "phone", "owner": "crm_one"}],
    "deletions": "archive",
    "orders_as": "activities",
    "dry_run": False,
}


def parse(**overrides: Any) -> DestinationConfig:
    return DestinationConfig.parse_config({**MINIMAL, **overrides})


def config_error(**overrides: Any) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse(**overrides)
    return caught.value


def test_minimal_config_gets_every_default():
    config = parse()
    assert config.base_url == "https://acme.crmone.example/api"
    assert config.client_secret.get_secret_value() == "s3"
    assert (config.identity.source_field, config.identity.prefix) == ("id", "")
    assert config.field_mappings == [] and config.ownership == [] and config.store_routing == []
    assert [(c.flag_field, c.timestamp_field, c.channel, c.purpose) for c in config.consents] == [
        ("custom.fields.newsletterOptIn", "custom.fields.newsletterOptInAt", "email", "marketing"),
        ("custom.fields.smsOptIn", "custom.fields.smsOptInAt", "sms", "marketing"),
    ]
    assert config.deletions == "archive"
    assert config.orders_as == "activities"
    assert config.guest_orders == "create_contact"
    assert config.invalid_values == "omit_field"
    assert config.journal.type == "sqlite"
    assert journal_path(config.journal).endswith("journal.db")
    assert (config.sync_log_retention_days, config.redact_pii) == (30, True)
    assert (config.batch_size, config.concurrency, config.dry_run) == (100, 4, False)


def test_config_md_example_parses_as_written():
    config = DestinationConfig.parse_config(CONFIG_MD_EXAMPLE)
    assert config.journal.type == "sqlite"
    assert config.journal.path == "/local/crmone/journal.db"
    assert [(rule.property, rule.owner) for rule in config.ownership] == [("phone", "crm_one")]
    assert (config.deletions, config.orders_as, config.dry_run) == ("archive", "activities", False)


def test_every_optional_key_is_read():
    config = parse(
        identity={"source_field": "customerNumber", "prefix": "ct-eu:"},
        field_mappings=[{"source": "custom.fields.loyaltyTier", "target": "loyalty_tier"}],
        consents=[{"flag_field": "custom.fields.postOk", "channel": "post", "purpose": "catalog"}],
        guest_orders="skip",
        store_routing=[
            {
                "store_key": "eu-web",
                "list_ids": ["l_eu"],
                "properties": [{"property": "sales_region", "value": "EU"}],
            }
        ],
        invalid_values="reject_record",
        sync_log_retention_days=7,
        redact_pii=False,
        batch_size=50,
        concurrency=2,
        orders_as="both",
        deletions="erase",
        dry_run=True,
    )
    assert config.identity.source_field == "customerNumber" and config.identity.prefix == "ct-eu:"
    assert config.field_mappings[0].target == "loyalty_tier"
    assert config.consents[0].timestamp_field is None and config.consents[0].channel == "post"
    assert config.store_routing[0].property_values == {"sales_region": "EU"}
    assert (config.guest_orders, config.invalid_values) == ("skip", "reject_record")
    assert (config.sync_log_retention_days, config.redact_pii) == (7, False)
    assert (config.batch_size, config.concurrency) == (50, 2)
    assert (config.orders_as, config.deletions, config.dry_run) == ("both", "erase", True)


@pytest.mark.parametrize(
    "journal",
    [
        {"type": "postgres", "dsn": "postgresql://crm:pw@db:5432/journal"},
        {"dsn": "host=db dbname=journal user=crm"},  # no type: a dsn means postgres
    ],
)
def test_postgres_journal(journal):
    config = parse(journal=journal)
    assert config.journal.type == "postgres"
    assert config.journal.dsn.get_secret_value() == journal["dsn"]


def test_sqlite_journal_without_type_or_path(monkeypatch, tmp_path):
    monkeypatch.setattr(placement, "LOCAL_MOUNT", tmp_path)
    monkeypatch.setattr(placement, "is_mount_point", lambda path: True)
    assert parse(journal={}).journal.path is None  # the config probes no disk
    assert journal_path(parse(journal={}).journal) == str(tmp_path / "crmone" / "journal.db")
    assert journal_path(parse(journal={"path": "~/j.db"}).journal) == str(Path.home() / "j.db")


def test_default_journal_path_uses_local_only_when_it_is_a_mount(monkeypatch, tmp_path):
    mounted = {str(tmp_path)}
    monkeypatch.setattr(placement, "is_mount_point", lambda path: path in mounted)
    monkeypatch.setattr(placement, "LOCAL_MOUNT", tmp_path)
    assert journal_path(parse().journal) == str(tmp_path / "crmone" / "journal.db")
    monkeypatch.setattr(placement.platformdirs, "user_data_dir", lambda app: f"/data/{app}")
    mounted.clear()  # a /local directory of the image, not a volume: it would vanish
    assert journal_path(parse().journal) == "/data/destination-crmone/journal.db"
    monkeypatch.setattr(placement, "LOCAL_MOUNT", tmp_path / "absent")
    assert journal_path(parse().journal) == "/data/destination-crmone/journal.db"


@pytest.mark.parametrize(
    "url",
    [
        "https://acme.crmone.example/api",
        "https://acme.crmone.example:8443/api/",
        "http://localhost:8082",
        "http://LOCALHOST",
        "http://127.0.0.1:8082",
        "http://127.8.9.10/api",
        "http://[::1]:8082",
    ],
)
def test_https_or_loopback_urls_are_accepted(url):
    assert parse(base_url=url).base_url == url.rstrip("/")


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://acme.crmone.example/api", "https"),
        ("http://10.0.0.1:8082", "https"),
        ("http://localhost.evil.example", "https"),
        ("http://128.0.0.1", "https"),
        ("ftp://acme.crmone.example", "http(s) URL"),
        ("acme.crmone.example", "http(s) URL"),
        ("https://", "http(s) URL"),
        ("https://acme.crmone.example/api?tenant=1", "query"),
    ],
)
def test_other_urls_are_refused_naming_base_url(url, why):
    error = config_error(base_url=url)
    assert error.fields == ("base_url",)
    assert why in str(error)


def test_credentials_in_the_url_are_refused_without_echoing_them():
    error = config_error(base_url="https://crm:hunter2@acme.crmone.example")
    assert error.fields == ("base_url",)
    assert "hunter2" not in str(error)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"deletions": "remove"}, "deletions"),
        ({"orders_as": "events"}, "orders_as"),
        ({"guest_orders": "ignore"}, "guest_orders"),
        ({"invalid_values": "drop"}, "invalid_values"),
        ({"ownership": [{"property": "phone", "owner": "me"}]}, "ownership[0].owner"),
        ({"ownership": [{"owner": "crm_one"}]}, "ownership[0].property"),
        (
            {
                "ownership": [
                    {"property": "phone", "owner": "crm_one"},
                    {"property": "phone", "owner": "commercetools"},
                ]
            },
            "ownership",
        ),
        ({"identity": {"source_field": "email"}}, "identity.source_field"),
        ({"field_mappings": [{"source": "a..b", "target": "x"}]}, "field_mappings[0].source"),
        (
            {"field_mappings": [{"source": "key", "target": "external_id"}]},
            "field_mappings[0].target",
        ),
        (
            {"consents": [{"flag_field": "custom.fields.faxOk", "channel": "fax", "purpose": "m"}]},
            "consents[0].channel",
        ),
        (
            {"consents": [{"flag_field": "f", "channel": "sms", "purpose": "x" * 65}]},
            "consents[0].purpose",
        ),
        ({"store_routing": [{"list_ids": ["l"]}]}, "store_routing[0].store_key"),
        (
            {"store_routing": [{"store_key": "eu-web"}, {"store_key": "eu-web"}]},
            "store_routing",
        ),
        ({"journal": {"type": "mysql", "path": "x"}}, "journal"),
        ({"journal": {"type": "postgres"}}, "journal.dsn"),
        ({"journal": {"type": "sqlite", "path": "  "}}, "journal.path"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": "5"}, "batch_size"),
        ({"batch_size": 2.5}, "batch_size"),
        ({"concurrency": -1}, "concurrency"),
        ({"sync_log_retention_days": 0}, "sync_log_retention_days"),
        ({"dry_run": "yes"}, "dry_run"),
        ({"redact_pii": "false"}, "redact_pii"),
        ({"client_id": "  "}, "client_id"),
        ({"client_secret": ""}, "client_secret"),
    ],
)
def test_a_bad_value_is_an_error_naming_its_field(overrides, field):
    error = config_error(**overrides)
    assert error.fields == (field,)
    assert str(error).startswith("Invalid configuration: ")
    assert f"{field}: " in str(error)


@pytest.mark.parametrize("missing", ["base_url", "client_id", "client_secret"])
def test_required_keys(missing):
    raw = {key: value for key, value in MINIMAL.items() if key != missing}
    with pytest.raises(ConfigError) as caught:
        DestinationConfig.parse_config(raw)
    assert caught.value.fields == (missing,)
    assert f"{missing}: is required" in str(caught.value)


def test_every_problem_is_named_in_one_message():
    error = config_error(base_url="http://crm.example", deletions="drop", batch_size=0)
    assert set(error.fields) == {"base_url", "deletions", "batch_size"}
    assert "(got 'drop')" in str(error)


def test_not_a_mapping():
    with pytest.raises(ConfigError, match="config: must be a JSON object"):
        DestinationConfig.parse_config(["base_url"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("overrides", "secret"),
    [
        ({"client_secret": 987654321}, "987654321"),
        ({"journal": {"type": "postgres", "dsn": "mysql://u:hunter2@db/x"}}, "hunter2"),
        ({"journal": {"type": "postgres", "dsn": 424242}}, "424242"),
    ],
)
def test_secrets_never_appear_in_errors(overrides, secret):
    assert secret not in str(config_error(**overrides))


def test_secrets_do_not_appear_in_repr():
    config = parse(client_secret="hunter2", journal={"dsn": "postgresql://u:hunter3@db/x"})
    assert "hunter2" not in repr(config) and "hunter3" not in repr(config)


@pytest.mark.parametrize(
    ("overrides", "field", "nearest"),
    [
        ({"only_stores": ["eu-web"]}, "only_stores", "store_routing"),
        ({"journal": {"type": "sqlite", "pathh": "/x"}}, "journal.pathh", "path"),
        ({"ownership": [{"property": "phone", "ownr": "crm_one"}]}, "ownership[0].ownr", "owner"),
        ({"identity": {"fallbak": "email"}}, "identity.fallbak", None),
        (
            {"routing": {"rules": [{"when": {"field": "country", "inn": ["DE"]}}]}},
            "routing.rules[0].when[0].inn",
            "in",
        ),
        ({"filters": [{"field": "country", "in": ["DE"], "nott": 1}]}, "filters[0].nott", "not"),
        (
            {"store_routing": [{"store_key": "eu-web", "lists": ["l_eu"]}]},
            "store_routing[0].lists",
            "list_ids",
        ),
    ],
)
def test_an_unknown_key_anywhere_names_its_path_and_the_nearest_known_key(
    overrides, field, nearest
):
    error = config_error(**overrides)
    assert field in error.fields
    reason = dict(error.problems)[field]
    assert reason.startswith("unknown key; did you mean '")
    if nearest is not None:
        assert f"did you mean '{nearest}" in reason


def test_the_suggestion_comes_from_the_models_so_every_model_key_is_known():
    """A key added to any model is known at once: each model's own keys parse, and a typo of
    each is answered with that very key."""
    for name in DestinationConfig.model_fields:
        if name in MINIMAL:
            continue
        assert name in dict(config_error(**{name + "x": 1}).problems)[name + "x"]


def test_an_unknown_key_never_quotes_its_value():
    """A mistyped secret key holds the secret."""
    error = config_error(client_secrett="hunter2", journal={"type": "postgres", "dns": "pw9"})
    assert "hunter2" not in str(error) and "pw9" not in str(error)
    assert {"client_secrett", "journal.dns"} <= set(error.fields)


def test_the_fields_of_the_other_journal_type_are_ignored():
    """The Airbyte form may keep them when the journal type is switched."""
    config = parse(journal={"type": "postgres", "dsn": "postgresql://u@db/x", "path": "/x"})
    assert config.journal.type == "postgres"
    config = parse(journal={"type": "sqlite", "path": "/tmp/j.db", "dsn": "postgresql://u@db/x"})
    assert config.journal.type == "sqlite"


def test_configs_of_earlier_releases_still_parse():
    """Route properties as an object (the first releases) are upgraded, not refused."""
    old = {**MINIMAL, "store_routing": [{"store_key": "eu-web", "properties": {"region": "EU"}}]}
    config = DestinationConfig.parse_config(upgrade_config(old))
    assert config.store_routing[0].property_values == {"region": "EU"}


def test_the_spec_does_not_refuse_unknown_keys_before_parse_config_names_them():
    """The CDK validates against the spec first; its message would not name the nearest key."""
    spec = spec_schema()
    jsonschema.validate({**MINIMAL, "only_stores": []}, spec)
    assert not any(node.get("additionalProperties") is False for node in _walk(spec))


# --- spec ------------------------------------------------------------------------------------


def _walk(node: Any):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def test_spec_is_plain_json_schema_the_ui_renders():
    spec = spec_schema()
    assert json.loads(json.dumps(spec)) == spec
    keys = {key for node in _walk(spec) for key in node}
    assert not keys & {"$ref", "$defs", "definitions", "anyOf", "allOf", "discriminator"}
    assert spec["required"] == ["base_url", "client_id", "client_secret"]
    fixed = {"base_url", "client_id", "client_secret", "journal", "ownership", "deletions"}
    assert fixed | {"orders_as", "dry_run"} <= set(spec["properties"])
    orders = [field["order"] for field in spec["properties"].values()]
    assert len(set(orders)) == len(orders)
    assert all(field.get("title") for field in spec["properties"].values())


def test_spec_marks_secrets():
    spec = spec_schema()
    secrets = {
        name
        for node in _walk(spec)
        for name, field in node.get("properties", {}).items()
        if isinstance(field, dict) and field.get("airbyte_secret")
    }
    assert secrets == {"client_secret", "dsn"}


def test_spec_journal_is_one_of_keyed_by_a_type_const():
    journal = spec_schema()["properties"]["journal"]
    assert journal["type"] == "object"
    options = {option["properties"]["type"]["const"]: option for option in journal["oneOf"]}
    assert set(options) == {"sqlite", "postgres"}
    for kind, option in options.items():
        assert option["properties"]["type"]["default"] == kind
        assert "type" in option["required"]
    assert "dsn" in options["postgres"]["required"]
    assert options["postgres"]["properties"]["dsn"]["airbyte_secret"] is True


@pytest.mark.parametrize(
    "raw",
    [
        CONFIG_MD_EXAMPLE,
        MINIMAL,
        {**MINIMAL, "journal": {"type": "postgres", "dsn": "postgresql://db/j"}},
        {**MINIMAL, "consents": [{"flag_field": "f", "channel": "sms", "purpose": "m"}]},
    ],
)
def test_configs_the_parser_accepts_pass_the_spec(raw):
    DestinationConfig.parse_config(raw)
    jsonschema.Draft7Validator(spec_schema()).validate(raw)


@pytest.mark.parametrize(
    "overrides",
    [{"deletions": "remove"}, {"batch_size": 0}, {"journal": {"type": "postgres"}}],
)
def test_configs_the_parser_refuses_fail_the_spec_too(overrides):
    raw = {**MINIMAL, **overrides}
    with pytest.raises(ConfigError):
        DestinationConfig.parse_config(raw)
    assert not jsonschema.Draft7Validator(spec_schema()).is_valid(raw)


def test_the_cdk_reads_the_spec_and_finds_both_secrets():
    """airbyte-cdk validates configs against the spec and masks what it marks as secret."""
    from airbyte_cdk.models import ConnectorSpecification, DestinationSyncMode
    from airbyte_cdk.sources.utils.schema_helpers import check_config_against_spec_or_exit
    from airbyte_cdk.utils.airbyte_secrets_utils import get_secrets

    spec = ConnectorSpecification(
        connectionSpecification=spec_schema(),
        supported_destination_sync_modes=[DestinationSyncMode.append],
    )
    raw = {**MINIMAL, "journal": {"type": "postgres", "dsn": "postgresql://u:pw@db/j"}}
    check_config_against_spec_or_exit(raw, spec)
    assert sorted(get_secrets(spec.connectionSpecification, raw)) == [
        "postgresql://u:pw@db/j",
        "s3",
    ]


def test_the_documented_routing_shorthands_reach_the_spec_in_its_shape():
    """`routing` as a list of rules and `when` as one condition pass the CDK's spec check."""
    raw = {
        **MINIMAL,
        "routing": [{"when": {"field": "country", "in": ["DE"]}, "properties": {"r": "EU"}}],
    }
    upgraded = upgrade_config(raw)
    jsonschema.validate(upgraded, spec_schema())
    rule = DestinationConfig.parse_config(upgraded).routing.rules[0]
    assert rule.when[0].in_ == ["DE"] and rule.property_values == {"r": "EU"}


def test_condition_values_of_any_json_type_pass_the_spec_as_text_that_compares_the_same():
    raw = {
        **MINIMAL,
        "filters": [{"field": "custom.fields.vip", "in": [True, 1.0]}],
        "routing": {"rules": [{"when": {"field": "custom.fields.tier", "not_in": [2]}}]},
    }
    upgraded = upgrade_config(raw)
    jsonschema.validate(upgraded, spec_schema())
    assert upgraded["filters"][0]["in"] == ["true", "1"]
    assert upgraded["routing"]["rules"][0]["when"][0]["not_in"] == ["2"]
