"""Both connectors' setup forms, walked the way Airbyte's form builder reads a spec.

The builder draws each `properties` entry as a field, each object as a group of its own
`properties`, each `oneOf` as a choice whose options are told apart by a `const` field, each
array of objects as a list of such groups; fields in `required` go up front, the others under
"Optional fields", and a field's `default` is what the form shows and sends. So a spec fails here
when the form could not be filled in or would mislead:

- an object without `properties` that is not a `oneOf` (drawn as an empty group);
- a field without a title or a description;
- a `oneOf` option without a `const` discriminator (the builder cannot tell options apart);
- `anyOf`, `allOf` or `$ref` (not drawn), `dependencies` (not in Airbyte's spec reference);
- a default only in code (the form shows an empty field and sends nothing, or sends `[]`);
- a field the code requires that the form shows as optional;
- a default or example that the field's own schema rejects;
- top-level fields outside the declared `groups` (when the spec declares groups).

The walk is generic: a field added later without a title, description or spec default fails it.
"""

from __future__ import annotations

import logging
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import jsonschema
import pytest
from pydantic import BaseModel, TypeAdapter

from destination_crmone.config import DestinationConfig, consent_notice
from destination_crmone.destination import DestinationCrmOne
from source_commercetools.config import SourceConfig
from source_commercetools.source import SourceCommercetools


@dataclass(frozen=True)
class Form:
    spec: Callable[[], dict[str, Any]]
    model: type[BaseModel]
    parse: Callable[[dict[str, Any]], Any]
    # Defaults computed from the machine the connector runs on: the description says them.
    computed_defaults: frozenset[str] = frozenset()


FORMS = {
    "source-commercetools": Form(
        spec=lambda: SourceCommercetools().spec(logging.getLogger("test")).connectionSpecification,
        model=SourceConfig,
        parse=SourceConfig.parse,
    ),
    "destination-crmone": Form(
        spec=lambda: DestinationCrmOne().spec(logging.getLogger("test")).connectionSpecification,
        model=DestinationConfig,
        parse=DestinationConfig.parse_config,
        computed_defaults=frozenset({"journal.path"}),
    ),
}
# Not drawn, or outside Airbyte's connector specification reference (`dependencies` is JSON
# Schema, not a form keyword: a pairing of fields is said in their descriptions and checked).
NOT_DRAWN = ("anyOf", "allOf", "$ref", "dependencies")
# Settings a first-time user should not meet: drawn in each form's "advanced" group.
POWER_USER_SETTINGS = {
    "source-commercetools": {"page_size", "retry_backoff_seconds", "concurrency"},
    "destination-crmone": {
        "sync_log_retention_days",
        "batch_size",
        "concurrency",
        "retry_budget_seconds",
        "max_line_bytes",
    },
}


# --- the walk ------------------------------------------------------------------------------


def discriminator(option: dict[str, Any]) -> tuple[str, Any] | None:
    """The `const` field of a oneOf option that is required in it."""
    for name, prop in option.get("properties", {}).items():
        if "const" in prop and name in option.get("required", []):
            return name, prop["const"]
    return None


def option_label(option: dict[str, Any]) -> str:
    found = discriminator(option)
    return f"<{found[1]}>" if found else "<?>"


def fields(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every field the form draws, with its dotted path (`[]` for list items)."""
    for name, prop in node.get("properties", {}).items():
        here = f"{path}{name}"
        yield here, prop
        yield from fields_within(prop, here)


def fields_within(prop: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if "oneOf" in prop:
        for option in prop["oneOf"]:
            yield from fields(option, f"{path}.")
    elif prop.get("type") == "array" and isinstance(prop.get("items"), dict):
        yield from fields_within(prop["items"], f"{path}[]")
    elif "properties" in prop:
        yield from fields(prop, f"{path}.")


def groups_of_fields(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every object the form draws as a group: the form itself, objects, list items, options."""
    yield "(form)", spec
    for path, prop in fields(spec):
        if prop.get("type") == "object" or "properties" in prop or "oneOf" in prop:
            yield path, prop
        items = prop.get("items")
        if isinstance(items, dict) and (items.get("type") == "object" or "oneOf" in items):
            yield f"{path}[]", items
        for option in prop.get("oneOf", []):
            yield f"{path}{option_label(option)}", option


def form_problems(spec: dict[str, Any]) -> list[str]:
    """What would make the form unusable or misleading, as the builder reads the spec."""
    problems: list[str] = []

    def no_undrawn(node: Any, path: str) -> None:
        if isinstance(node, dict):
            problems.extend(f"{path}: has {key}" for key in NOT_DRAWN if key in node)
            for key, value in node.items():
                no_undrawn(value, f"{path}/{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                no_undrawn(value, f"{path}/{index}")

    no_undrawn(spec, "")
    for path, group in groups_of_fields(spec):
        if "oneOf" in group:
            seen = []
            for option in group["oneOf"]:
                found = discriminator(option)
                if not found:
                    problems.append(f"{path}: a oneOf option has no required const field")
                else:
                    seen.append(found)
            if len({name for name, _ in seen}) > 1 or len({v for _, v in seen}) < len(seen):
                problems.append(f"{path}: oneOf options are not told apart by one const field")
        elif not group.get("properties"):
            problems.append(f"{path}: object without properties is drawn as an empty group")
        for name in group.get("required", []):
            if name not in group.get("properties", {}):
                problems.append(f"{path}: required {name} is not a field")
        orders = [prop.get("order") for prop in group.get("properties", {}).values()]
        if len([o for o in orders if o is not None]) != len({o for o in orders if o is not None}):
            problems.append(f"{path}: two fields share one order")
    for path, prop in fields(spec):
        if not str(prop.get("title", "")).strip():
            problems.append(f"{path}: no title")
        if not str(prop.get("description", "")).strip():
            problems.append(f"{path}: no description")
        if "type" not in prop and "oneOf" not in prop and "const" not in prop:
            problems.append(f"{path}: no type")
        if prop.get("type") == "array" and not isinstance(prop.get("items"), dict):
            problems.append(f"{path}: array without items")
        validator = jsonschema.Draft7Validator(
            {k: v for k, v in prop.items() if k not in ("default", "examples")}
        )
        shown = ([("default", prop["default"])] if "default" in prop else []) + [
            ("example", example) for example in prop.get("examples", [])
        ]
        for what, value in shown:
            if "oneOf" in prop:
                continue  # an option's discriminator: checked against the option below
            for error in validator.iter_errors(value):
                problems.append(f"{path}: {what} {value!r} fails its own schema: {error.message}")
    groups = spec.get("groups")
    if groups is not None:
        declared = [group["id"] for group in groups]
        used = {prop.get("group") for prop in spec["properties"].values()}
        for name, prop in spec["properties"].items():
            if prop.get("group") not in declared:
                problems.append(f"{name}: group {prop.get('group')!r} is not one of {declared}")
        problems.extend(f"group {g!r} holds no field" for g in declared if g not in used)
    return problems


# --- the model behind the form -------------------------------------------------------------


def models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in typing.get_args(annotation) for model in models_in(arg)]


def model_problems(
    model: type[BaseModel], node: dict[str, Any], computed: frozenset[str], path: str = ""
) -> list[str]:
    """Required in code but optional in the form; defaults only in code; fields not drawn."""
    problems: list[str] = []
    properties = node.get("properties", {})
    for name, info in model.model_fields.items():
        key = info.alias or name
        here = f"{path}{key}"
        prop = properties.get(key)
        if prop is None:
            problems.append(f"{here}: read by the code, absent from the form")
            continue
        if info.is_required():
            if key not in node.get("required", []):
                problems.append(f"{here}: required by the code, optional in the form")
        else:
            default = info.get_default(call_default_factory=True)
            if default is not None and here not in computed:
                shown = TypeAdapter(info.annotation).dump_python(default, mode="json")
                if "default" not in prop:
                    problems.append(f"{here}: default {shown!r} only in code")
                elif "oneOf" in prop:
                    key_name, _ = discriminator(prop["oneOf"][0]) or ("type", None)
                    if prop["default"].get(key_name) != shown.get(key_name):
                        problems.append(f"{here}: the form picks another option than the code")
                elif prop["default"] != shown:
                    problems.append(f"{here}: form default {prop['default']!r}, code {shown!r}")
        for nested in models_in(info.annotation):
            if "oneOf" in prop:
                for option in prop["oneOf"]:
                    found = discriminator(option)
                    if found and nested.model_fields[found[0]].default == found[1]:
                        problems += model_problems(nested, option, computed, f"{here}.")
            elif prop.get("type") == "array":
                problems += model_problems(nested, prop["items"], computed, f"{here}[].")
            else:
                problems += model_problems(nested, prop, computed, f"{here}.")
    return problems


def filled_in(spec: dict[str, Any]) -> dict[str, Any]:
    """What a person sends who fills in only the required fields (with their examples, or a
    plain value of the right type) and leaves every default as the form shows it."""
    config: dict[str, Any] = {}
    for name, prop in spec["properties"].items():
        if "default" in prop:
            config[name] = prop["default"]
        if name in spec.get("required", []):
            examples = prop.get("examples") or [{"integer": 1, "boolean": True}.get(prop["type"])]
            config[name] = examples[0] if examples[0] is not None else f"filled-in-{name}"
    return config


# --- tests ---------------------------------------------------------------------------------


@pytest.mark.parametrize("connector", sorted(FORMS))
def test_form_can_be_drawn_and_filled_in(connector: str) -> None:
    problems = form_problems(FORMS[connector].spec())
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("connector", sorted(FORMS))
def test_form_shows_what_the_code_requires_and_defaults(connector: str) -> None:
    form = FORMS[connector]
    problems = model_problems(form.model, form.spec(), form.computed_defaults)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("connector", sorted(FORMS))
def test_a_form_with_only_the_required_fields_is_a_working_config(connector: str) -> None:
    form = FORMS[connector]
    config = filled_in(form.spec())
    validator = jsonschema.Draft7Validator(form.spec())
    errors = [error.message for error in validator.iter_errors(config)]
    assert not errors, errors
    form.parse(config)  # raises with the field it misses


def test_the_walk_finds_each_kind_of_unusable_form() -> None:
    bad = {
        "type": "object",
        "required": ["hidden"],
        "dependencies": {"untitled": ["choice"]},
        "groups": [{"id": "main", "title": "Main"}, {"id": "empty", "title": "Empty"}],
        "properties": {
            "free_form": {"type": "object", "title": "Free", "description": "d", "group": "main"},
            "untitled": {"type": "string", "description": "d", "group": "main"},
            "choice": {
                "title": "Choice",
                "description": "d",
                "group": "main",
                "oneOf": [
                    {"title": "A", "type": "object", "properties": {"x": {"type": "string"}}},
                    {"title": "B", "type": "object", "properties": {"y": {"type": "string"}}},
                ],
            },
            "loose": {
                "title": "Loose",
                "description": "d",
                "anyOf": [{"type": "string"}],
                "group": "nowhere",
            },
            "bad_default": {
                "type": "integer",
                "title": "T",
                "description": "d",
                "minimum": 1,
                "default": 0,
                "group": "main",
            },
        },
    }
    problems = "\n".join(form_problems(bad))
    for expected in (
        "free_form: object without properties",
        "untitled: no title",
        "choice: a oneOf option has no required const field",
        "has anyOf",
        "has dependencies",
        "loose: group 'nowhere'",
        "group 'empty' holds no field",
        "bad_default: default 0 fails its own schema",
        "required hidden is not a field",
    ):
        assert expected in problems, (expected, problems)


def test_the_model_walk_finds_defaults_only_in_code_and_hidden_required_fields() -> None:
    class Inner(BaseModel):
        name: str

    class Model(BaseModel):
        needed: str
        items: list[Inner] = []
        tags: list[str] = ["a"]

    spec = {
        "properties": {
            "needed": {"type": "string"},
            "items": {"type": "array", "items": {"type": "object", "properties": {"name": {}}}},
            "tags": {"type": "array", "items": {"type": "string"}},
        }
    }
    problems = "\n".join(model_problems(Model, spec, frozenset()))
    assert "needed: required by the code, optional in the form" in problems
    assert "items[].name: required by the code, optional in the form" in problems
    assert "items: default [] only in code" in problems
    assert "tags: default ['a'] only in code" in problems


# --- what the forms promise -----------------------------------------------------------------


def test_source_region_is_up_front_with_a_default_and_the_urls_go_together() -> None:
    spec = FORMS["source-commercetools"].spec()
    region = spec["properties"]["region"]
    assert region["always_show"] is True and region["default"] in region["enum"]
    assert "dependencies" not in spec
    for name in ("api_url", "auth_url"):
        assert (
            "Give both API URL and Auth URL, or neither" in spec["properties"][name]["description"]
        )
        assert name not in spec["required"]
    config = filled_in(spec)
    for given, missing in (("api_url", "auth_url"), ("auth_url", "api_url")):
        lone_url = {**config, given: f"https://{given}.example.com"}
        with pytest.raises(ValueError, match=f"{missing}: api_url and auth_url go together"):
            SourceConfig.parse(lone_url)
        status = SourceCommercetools().check(logging.getLogger("test"), lone_url)
        assert status.status.name == "FAILED"
        assert f"{missing}: api_url and auth_url go together; give both" in str(status.message)
    lone_url = {**config, "api_url": "https://api.example.com"}
    both = {**lone_url, "auth_url": "https://auth.example.com"}
    parsed = SourceConfig.parse(both)
    assert (parsed.api_root, parsed.auth_root) == (both["api_url"], both["auth_url"])
    default = SourceConfig.parse(config)
    assert default.api_root == f"https://api.{region['default']}.commercetools.com"


def test_source_start_date_is_a_datetime_field() -> None:
    start_date = FORMS["source-commercetools"].spec()["properties"]["start_date"]
    assert start_date["format"] == "date-time"
    assert start_date["pattern"] and start_date["pattern_descriptor"]
    assert start_date["examples"]
    validator = jsonschema.Draft7Validator(start_date)
    assert not list(validator.iter_errors("2025-01-01T00:00:00Z"))
    assert list(validator.iter_errors("01/02/2025"))


def test_destination_form_groups_every_field_and_keeps_power_settings_apart() -> None:
    spec = FORMS["destination-crmone"].spec()
    assert [group["id"] for group in spec["groups"]] == [
        "connection",
        "mapping",
        "behaviour",
        "journal",
        "advanced",
    ]
    props = spec["properties"]
    assert {props[name]["group"] for name in spec["required"]} == {"connection"}
    assert props["batch_size"]["group"] == props["concurrency"]["group"] == "advanced"


def test_destination_consents_default_is_in_the_form() -> None:
    spec = FORMS["destination-crmone"].spec()
    default = spec["properties"]["consents"]["default"]
    assert [(item["channel"], item["purpose"]) for item in default] == [
        ("email", "marketing"),
        ("sms", "marketing"),
    ]
    parsed = DestinationConfig.parse_config(filled_in(spec))
    assert [c.model_dump(mode="json") for c in parsed.consents] == default


def test_an_empty_consents_list_turns_consent_sync_off_out_loud(
    caplog: pytest.LogCaptureFixture,
) -> None:
    spec = FORMS["destination-crmone"].spec()
    config = {**filled_in(spec), "consents": []}
    assert DestinationConfig.parse_config(config).consents == []  # kept as written
    assert consent_notice(DestinationConfig.parse_config(filled_in(spec))) is None
    with caplog.at_level(logging.WARNING, logger="airbyte"):
        DestinationCrmOne._parse(config)
    assert [record.getMessage() for record in caplog.records] == [
        consent_notice(DestinationConfig.parse_config(config))
    ]
    assert "no consents are written" in caplog.records[0].getMessage()


@pytest.mark.parametrize("connector", sorted(FORMS))
def test_power_user_settings_are_in_the_advanced_group_with_their_default_said(
    connector: str,
) -> None:
    spec = FORMS[connector].spec()
    assert "advanced" in [group["id"] for group in spec["groups"]]
    assert spec["groups"][-1]["id"] == "advanced", "the advanced card comes last"
    props = spec["properties"]
    advanced = {name for name, prop in props.items() if prop.get("group") == "advanced"}
    assert POWER_USER_SETTINGS[connector] <= advanced
    assert not advanced & set(spec["required"])
    for name in advanced:
        prop = props[name]
        if "default" in prop and not isinstance(prop["default"], dict | list):
            said = f"Default: {prop['default']}".lower()
            assert said in prop["description"].lower(), f"{name}: description lacks {said!r}"


def test_source_form_groups_every_field() -> None:
    spec = FORMS["source-commercetools"].spec()
    assert [group["id"] for group in spec["groups"]] == ["connection", "sync", "advanced"]
    props = spec["properties"]
    assert {props[name]["group"] for name in spec["required"]} == {"connection"}
    assert props["region"]["group"] == props["api_url"]["group"] == "connection"
