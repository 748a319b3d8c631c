"""Property validation against the tenant's contact schema: each type's normal form, and a
reason naming the field and the bad value for each failure."""

from __future__ import annotations

from typing import Any

import pytest

from destination_crmone.crmone.validate import (
    ContactSchema,
    Issue,
    cents_to_decimal,
    check_match_key,
    validate_properties,
)
from destination_crmone.timefmt import normalize_rfc3339, parse_rfc3339
from unit_tests.destination.crm_schema import STORES, contact_schema

SCHEMA = contact_schema()


def check(name: str, value: Any, region: str | None = "DE") -> tuple[dict[str, Any], list[Issue]]:
    return validate_properties({name: value}, SCHEMA, default_region=region)


def valid(name: str, value: Any, region: str | None = "DE") -> Any:
    clean, issues = check(name, value, region)
    assert issues == []
    return clean[name]


def invalid(name: str, value: Any, region: str | None = "DE") -> Issue:
    clean, issues = check(name, value, region)
    assert name not in clean
    assert len(issues) == 1
    issue = issues[0]
    assert (issue.field, issue.severity) == (name, "error")
    assert issue.reason.startswith(f"{name}: ")
    return issue


# --- the schema ------------------------------------------------------------------------------


def test_schema_from_api():
    schema = ContactSchema.from_api(
        {
            "properties": [
                {"name": "email", "type": "email", "required": True, "unique": True},
                {"name": "external_id", "type": "string", "read_only": True},
                {"name": "store", "type": "enum", "options": ["eu-web", "us-web"]},
                {"name": "stores", "type": "multi_enum", "options": ["eu-web", "ch-web"]},
                {"name": "tier", "type": "enum", "options": ["gold"]},
                {"type": "string"},  # no name: skipped
                "garbage",
            ]
        }
    )
    assert set(schema.properties) == {"email", "external_id", "store", "stores", "tier"}
    assert schema.is_required("email") and not schema.is_required("store")
    assert schema.get("external_id").read_only
    assert schema.get("tier").options == ("gold",)
    assert schema.store_options == {"eu-web", "us-web", "ch-web"}
    assert "email" in schema and "nope" not in schema
    assert ContactSchema.from_api({}).properties == {}


# --- per type --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("ana@example.com", "ana@example.com"),
        ("  Ana.Silva@Example.COM \n", "ana.silva@example.com"),
        ("o'brien+tag@sub.example.co.uk", "o'brien+tag@sub.example.co.uk"),
    ],
)
def test_email_is_trimmed_and_lower_cased(value, expected):
    assert valid("email", value) == expected


@pytest.mark.parametrize(
    "value", ["ana@@example.com", "ana", "ana@localhost", "ana @example.com", "ana@exa_mple.com"]
)
def test_invalid_email(value):
    issue = invalid("email", value)
    assert issue.code == "invalid_email"
    assert repr(value.strip().lower()) in issue.reason


@pytest.mark.parametrize(
    ("value", "region", "expected"),
    [
        ("030 12345678", "DE", "+493012345678"),
        ("0151 12345678", "DE", "+4915112345678"),
        ("+49 151 12345678", "US", "+4915112345678"),
        ("(650) 253-0000", "US", "+16502530000"),
        ("650.253.0000", "US", "+16502530000"),
        ("0044 20 7946 0958", "DE", "+442079460958"),
        ("+1 650 253 0000", None, "+16502530000"),
    ],
)
def test_phone_to_e164_with_the_address_country_as_default(value, region, expected):
    assert valid("phone", value, region) == expected
    assert valid("mobile_phone", value, region) == expected


@pytest.mark.parametrize(
    ("value", "region", "hint"),
    [
        ("12345", "DE", "region DE"),
        ("030 12345678", None, "no address country"),
        ("call me", "DE", "region DE"),
        ("+999 123", "US", "region US"),
    ],
)
def test_invalid_phone(value, region, hint):
    issue = invalid("phone", value, region)
    assert issue.code == "invalid_phone"
    assert repr(value) in issue.reason and hint in issue.reason


@pytest.mark.parametrize(("value", "expected"), [("DE", "DE"), ("de", "DE"), (" gb ", "GB")])
def test_country(value, expected):
    assert valid("country", value) == expected


@pytest.mark.parametrize("value", ["XX", "DEU", "Germany", "ZZ", 49])
def test_invalid_country(value):
    issue = invalid("country", value)
    assert issue.code == "invalid_value"
    assert repr(value) in issue.reason


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("de-DE", "de-DE"),
        ("de_de", "de-DE"),
        ("EN-us", "en-US"),
        ("fr", "fr"),
        ("zh-hant-tw", "zh-Hant-TW"),
        ("es-419", "es-419"),
    ],
)
def test_locale_is_bcp47_canonical(value, expected):
    assert valid("locale", value) == expected


@pytest.mark.parametrize("value", ["german", "xx-QQ", "de-XX", "de--DE", "12"])
def test_invalid_locale(value):
    issue = invalid("locale", value)
    assert repr(value) in issue.reason and "BCP 47" in issue.reason


def test_store_keys_must_be_the_tenants_stores():
    assert valid("store", "eu-web") == "eu-web"
    issue = invalid("store", "asia-web")
    assert issue.code == "invalid_enum"
    assert "'asia-web'" in issue.reason and "tenant's stores" in issue.reason
    assert str(STORES) in issue.reason


def test_multi_enum_keeps_valid_members_and_reports_each_invalid_one():
    clean, issues = check("stores", ["eu-web", "asia-web", "eu-web", "us-web", "mars"])
    assert clean["stores"] == ["eu-web", "us-web"]
    assert [issue.code for issue in issues] == ["invalid_enum", "invalid_enum"]
    assert "'asia-web'" in issues[0].reason and "'mars'" in issues[1].reason
    clean, issues = check("stores", "eu-web")
    assert clean["stores"] == [] and issues[0].code == "invalid_value"


def test_enum_options():
    assert valid("loyalty_tier", "gold") == "gold"
    assert "'Gold'" in invalid("loyalty_tier", "Gold").reason


@pytest.mark.parametrize("value", ["1990-04-12", "2024-02-29"])
def test_date(value):
    assert valid("birth_date", value) == value


@pytest.mark.parametrize("value", ["12.04.1990", "1990-02-30", "1990-4-12", "1990-04-12T00:00:00Z"])
def test_invalid_date(value):
    assert repr(value) in invalid("birth_date", value).reason


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-26T18:40:00.123Z", "2026-11-26T18:40:00.123Z"),
        ("2026-11-26T18:40:00Z", "2026-11-26T18:40:00.000Z"),
        ("2026-11-26t18:40:00.1z", "2026-11-26T18:40:00.100Z"),
        ("2026-11-26T19:40:00.123456+01:00", "2026-11-26T18:40:00.123Z"),
        ("2026-11-26 18:40:00.123456789Z", "2026-11-26T18:40:00.123Z"),
        ("2026-11-27T00:10:00-05:30", "2026-11-27T05:40:00.000Z"),
    ],
)
def test_datetime_is_normalised_to_utc_milliseconds(value, expected):
    assert valid("source_updated_at", value) == expected
    assert normalize_rfc3339(value) == expected


@pytest.mark.parametrize(
    "value", ["2026-11-26T18:40:00", "2026-11-26", "2026-11-26T18:40:00+0000", "yesterday"]
)
def test_invalid_datetime(value):
    assert repr(value) in invalid("last_order_at", value).reason
    with pytest.raises(ValueError):
        parse_rfc3339(value)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("order_count", 3, 3),
        ("order_count", 3.0, 3),
        ("order_count", " -7 ", -7),
        ("score", 2.5, 2.5),
        ("score", 4, 4),
        ("score", "12.25", 12.25),
        ("newsletter", True, True),
        ("newsletter", "FALSE", False),
        ("first_name", "Ana", "Ana"),
        ("postal_code", 10115, "10115"),
        ("first_name", "x" * 1024, "x" * 1024),
        ("notes", "y" * 5000, "y" * 5000),
        ("preferred_currency", "eur", "EUR"),
    ],
)
def test_scalar_types(name, value, expected):
    result = valid(name, value)
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("order_count", 2.5),
        ("order_count", True),
        ("order_count", "3 orders"),
        ("score", float("nan")),
        ("score", False),
        ("newsletter", 1),
        ("newsletter", "yes"),
        ("first_name", {"en": "Ana"}),
        ("first_name", ["Ana"]),
        ("preferred_currency", "EURO"),
        ("preferred_currency", "ABC"),
    ],
)
def test_invalid_scalars(name, value):
    issue = invalid(name, value)
    assert issue.code == "invalid_value"


def test_string_longer_than_1024_characters():
    issue = invalid("first_name", "x" * 1025)
    assert "1025 characters" in issue.reason and "1024" in issue.reason


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"amount": "12.34", "currency": "eur"}, {"amount": "12.34", "currency": "EUR"}),
        ({"amount": 12.5, "currency": "USD"}, {"amount": "12.5", "currency": "USD"}),
        (
            {
                "type": "centPrecision",
                "currencyCode": "EUR",
                "centAmount": 5990,
                "fractionDigits": 2,
            },
            {"amount": "59.90", "currency": "EUR"},
        ),
        (
            {
                "type": "centPrecision",
                "currencyCode": "JPY",
                "centAmount": 5990,
                "fractionDigits": 0,
            },
            {"amount": "5990", "currency": "JPY"},
        ),
    ],
)
def test_money(value, expected):
    assert valid("total_spent", value) == expected


@pytest.mark.parametrize(
    "value",
    [
        {"amount": "12,34", "currency": "EUR"},
        {"amount": "12.34", "currency": "EURO"},
        {"amount": "12.34"},
        "12.34 EUR",
        {"centAmount": "5990", "currencyCode": "EUR", "fractionDigits": 2},
    ],
)
def test_invalid_money(value):
    invalid("total_spent", value)


@pytest.mark.parametrize(
    ("cents", "digits", "expected"),
    [(5990, 2, "59.90"), (5990, 0, "5990"), (5, 2, "0.05"), (-1250, 2, "-12.50"), (7, 3, "0.007")],
)
def test_cents_to_decimal(cents, digits, expected):
    assert cents_to_decimal(cents, digits) == expected


# --- record-level rules ----------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, "", "   ", "\t"])
def test_blank_means_no_value(value):
    clean, issues = check("city", value)
    assert clean == {"city": None} and issues == []


def test_unknown_and_read_only_properties():
    clean, issues = validate_properties(
        {"favourite_colour": "teal", "external_id": "x", "city": "Berlin"},
        SCHEMA,
        default_region=None,
    )
    assert clean == {"city": "Berlin"}
    assert [(i.field, i.code) for i in issues] == [
        ("favourite_colour", "unknown_property"),
        ("external_id", "read_only_property"),
    ]
    assert "'favourite_colour'" in issues[0].reason


def test_unknown_types_pass_through():
    schema = contact_schema({"name": "geo", "type": "geo_point"})
    clean, issues = validate_properties({"geo": [52.5, 13.4]}, schema, default_region=None)
    assert clean == {"geo": [52.5, 13.4]} and issues == []


@pytest.mark.parametrize(
    ("external_id", "code"),
    [
        (None, "missing_external_id"),
        ("", "missing_external_id"),
        ("  ", "missing_external_id"),
        ("x" * 1025, "invalid_external_id"),
    ],
)
def test_match_key_must_be_present(external_id, code):
    [issue] = check_match_key(external_id, "key")
    assert (issue.field, issue.code, issue.severity) == ("external_id", code, "error")
    if code == "missing_external_id":
        assert "'key'" in issue.reason


def test_match_key_present():
    assert check_match_key("ct:3f1c", "id") == []


def test_the_plain_email_fast_path_agrees_with_email_validator() -> None:
    """Addresses the fast path accepts are exactly what email-validator returns for them;
    the rest is left to the library."""
    import random

    from email_validator import validate_email

    from destination_crmone.crmone.validate import _plain_email

    rng = random.Random(7)
    alphabet = "abcxyz019._+-"
    candidates = [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
        + "@"
        + rng.choice(["mail.example", "x-y.com", "a.b.co", "shop.de", "b.c", "x.test", "x--y.io"])
        for _ in range(3000)
    ]
    candidates += ["a" * 64 + "@x.com", "a" * 65 + "@x.com", "a@" + "b" * 63 + ".com"]
    accepted = 0
    for text in candidates:
        if _plain_email(text):
            accepted += 1
            assert validate_email(text, check_deliverability=False).normalized == text
    assert accepted > 500
    library_only = ["a..b@x.com", ".a@x.com", "a.@x.com", "a@-x.com", "a@x.test", "a@b.c"]
    library_only += ["a@xn--bcher-kva.example", "a@localhost", "a" * 65 + "@x.com", "ä@x.com"]
    library_only += ["a@b.onion", "a@x.y.localhost", "a@test", "a@local.arpa", "a@my.invalid"]
    for text in ["a@testing.com", "a@x.onionx", "a@arpa.example", "a@local-shop.de"]:
        assert _plain_email(text), text
        assert validate_email(text, check_deliverability=False).normalized == text
    for text in library_only:
        assert not _plain_email(text), text


def test_phones_without_separators_read_as_with_them() -> None:
    import random

    from destination_crmone.crmone.validate import _digits_only

    rng = random.Random(11)
    layouts = ["+{cc} ({p}) {a} {b}", "({p}) {a}-{b}", "{p}/{a}{b}", "+{cc} (0){p} {a}.{b}",
               "00{cc}-{p}-{a}-{b}", "{p} {a} {b}", "+{cc}{p}{a}{b}"]  # fmt: skip
    regions = {"DE": "49", "US": "1", "GB": "44", "FR": "33", "NL": "31", "AT": "43"}
    for _ in range(1500):
        region, code = rng.choice(list(regions.items()))
        text = rng.choice(layouts).format(
            cc=code,
            p=rng.choice(["0", ""]) + str(rng.randint(10, 999)),
            a=str(rng.randint(100, 9999)),
            b=str(rng.randint(1000, 9999)),
        )
        assert _outcome(text, region) == _outcome(_digits_only(text), region), text
    for text in ("1-800-FLOWERS", "+49 151 2345 6789 ext. 12", "+49 151 2345 6789 x12"):
        assert _digits_only(text) == text


def _outcome(text: str, region: str) -> str:
    import phonenumbers

    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as error:
        return f"error {error.error_type}"
    if not phonenumbers.is_valid_number(number):
        return "invalid"
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# --- the caches behind validation: a remembered answer is the answer -------------------------


class _Text(str):
    """A str subclass: not remembered, answered as before."""


@pytest.mark.parametrize(
    "value",
    ["2025-01-01T00:52:03.986Z", "2025-01-31T23:59:59+02:00", "2025-02-30T00:00:00Z",
     "yesterday", "2025-01-01", " 2025-01-01T00:00:00Z", "", None, 17,
     _Text("2025-01-01T00:00:00Z")],
)  # fmt: skip
def test_remembered_instants_equal_a_fresh_normalisation(value: Any) -> None:
    from destination_crmone.crmone.validate import instant
    from destination_crmone.timefmt import try_normalize_rfc3339

    expected = try_normalize_rfc3339(value)
    assert instant(value) == expected
    assert instant(value) == expected  # and again, from the memo
    assert type(instant(value)) is type(expected)


@pytest.mark.parametrize(
    ("code", "expected"),
    [("DE", True), (" de ", True), ("XX", False), ("DEU", False), ("", False), (None, False),
     (49, False), ({"code": "DE"}, False), (["DE"], False)],
)  # fmt: skip
def test_is_country_remembers_codes_and_refuses_what_is_not_one(code: Any, expected: bool) -> None:
    from destination_crmone.crmone.validate import is_country

    assert is_country(code) is expected
    assert is_country(code) is expected


def test_validation_outcomes_are_remembered_per_definition_not_per_name() -> None:
    """Two tenants (or a schema that changed) with a property of the same name: the outcome
    remembered for one definition never answers for the other."""
    from destination_crmone.crmone.validate import PropertyDef

    gold = ContactSchema({"tier": PropertyDef("tier", "enum", ("gold", "silver"))})
    bronze = ContactSchema({"tier": PropertyDef("tier", "enum", ("bronze",))})
    as_text = ContactSchema({"tier": PropertyDef("tier", "string")})
    for _ in range(2):
        assert validate_properties({"tier": "gold"}, gold, default_region=None) == (
            {"tier": "gold"},
            [],
        )
        clean, issues = validate_properties({"tier": "gold"}, bronze, default_region=None)
        assert clean == {} and [i.code for i in issues] == ["invalid_enum"]
        assert validate_properties({"tier": 1}, as_text, default_region=None)[0] == {"tier": "1"}
        clean, issues = validate_properties({"tier": True}, as_text, default_region=None)
        assert clean == {} and issues[0].rule == "tier: expected text, got bool"
    assert hash(PropertyDef("tier", "enum", ("bronze",))) == hash(bronze.properties["tier"])


def test_a_definitions_remembered_outcomes_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from destination_crmone.crmone import validate

    monkeypatch.setattr(validate, "CACHE_SIZE", 3)
    definition = validate.PropertyDef("city", "string")
    schema = ContactSchema({"city": definition})
    for round_ in range(2):
        for index in range(10):
            clean, _ = validate_properties({"city": f"c{index}"}, schema, default_region=None)
            assert clean == {"city": f"c{index}"}, round_
            assert len(definition.outcomes) <= 3
